"""notification_users.email_notifications: the user's preference, kept from auth events

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notification_users") as batch:
        batch.add_column(sa.Column("email_notifications", sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("notification_users") as batch:
        batch.drop_column("email_notifications")
