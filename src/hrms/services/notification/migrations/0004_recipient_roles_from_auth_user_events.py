"""notification_users.roles: the user's roles, kept from auth user events

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 23:20:00

Issue 17: a leave request of someone without a manager goes to the company's admins,
so this service keeps each user's roles. The column starts empty and every copy's
version goes back to 0, so auth's revision 0007, which announces every user at its
current version with its roles, fills it (a copy at a version keeps ignoring
announcements of that version; at 0 it takes them).
"""
from alembic import op
import sqlalchemy as sa
import isles

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    empty = "'{}'" if op.get_bind().dialect.name == "postgresql" else "'[]'"
    with op.batch_alter_table('notification_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('roles', isles.StringList(), server_default=sa.text(empty), nullable=False))
    isles.all_tenants()
    op.execute("UPDATE notification_users SET version = 0")


# isles: ignore[ISL401] the copies' versions are not restored: the next user events set them again
def downgrade() -> None:
    with op.batch_alter_table('notification_users', schema=None) as batch_op:
        batch_op.drop_column('roles')
