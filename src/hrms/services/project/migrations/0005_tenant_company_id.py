"""projects and assignments carry their company (tenant isolation)

Rows made before this revision belong to no company that exists (the nil UUID): only
the operator sees them until they are moved to their company.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""
import uuid

from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_NIL = uuid.UUID(int=0)


def upgrade() -> None:
    for table in ("projects", "assignments"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("company_id", sa.Uuid(), nullable=True))
        op.execute(sa.text(f"UPDATE {table} SET company_id = :nil").bindparams(sa.bindparam("nil", _NIL, type_=sa.Uuid())))
        with op.batch_alter_table(table) as batch:
            batch.alter_column("company_id", existing_type=sa.Uuid(), nullable=False)
            batch.create_index(op.f(f"idx_{table}_company_id"), ["company_id"], unique=False)


def downgrade() -> None:
    for table in ("assignments", "projects"):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(op.f(f"idx_{table}_company_id"))
            batch.drop_column("company_id")
