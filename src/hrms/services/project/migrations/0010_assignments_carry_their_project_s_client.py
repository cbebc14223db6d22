"""assignments carry their project's client

``client_name`` is denormalized like ``project_name``: existing assignments take their
project's client; from then on a change of the client reaches them in the project's
transaction.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 04:06:20.623128
"""
from alembic import op
import sqlalchemy as sa

import isles

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    isles.all_tenants()
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_name', sa.String(length=200), nullable=True))
    op.execute(
        sa.text("UPDATE assignments SET client_name = (SELECT p.client FROM projects p WHERE p.id = assignments.project_id)")
    )
    op.execute(sa.text("UPDATE assignments SET client_name = '' WHERE client_name IS NULL"))
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.alter_column('client_name', existing_type=sa.String(length=200), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_column('client_name')
