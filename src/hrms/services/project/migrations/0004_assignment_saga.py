"""assignments.pending and capacity_reservations, for the CreateAssignment saga

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa
import isles

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(sa.Column("pending", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "capacity_reservations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", isles.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_capacity_reservations_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_capacity_reservations")),
    )
    op.create_index(
        op.f("idx_capacity_reservations_project_id"), "capacity_reservations", ["project_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("idx_capacity_reservations_project_id"), table_name="capacity_reservations")
    op.drop_table("capacity_reservations")
    with op.batch_alter_table("assignments") as batch:
        batch.drop_column("pending")
