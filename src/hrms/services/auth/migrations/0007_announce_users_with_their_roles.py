"""announce every user once more, with their roles, for the copies that began without them

The notification service keeps each user's roles from revision 0004 on (a leave
request of someone without a manager goes to the company's admins) and set its
copies back to version 0. This writes a UserUpdated (no change, the user's current
version, their roles and mail preference) per user to the outbox; the notification
service applies it like any other. Nothing changes in this database's own tables.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 23:20:00
"""
import uuid
from collections import defaultdict

from alembic import op
import sqlalchemy as sa
import isles

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def _id(value: object) -> str:
    """A UUID as text (SQLite hands back its 32 hex digits)."""
    return str(uuid.UUID(str(value)))


def upgrade() -> None:
    isles.all_tenants()
    bind = op.get_bind()
    roles: dict[str, list[str]] = defaultdict(list)
    for user_id, name in bind.execute(
        sa.text("SELECT ur.user_id, r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id ORDER BY r.name")
    ):
        roles[_id(user_id)].append(name)
    mail = {_id(u): bool(m) for u, m in bind.execute(sa.text("SELECT user_id, email_notifications FROM user_preferences"))}
    users = bind.execute(
        sa.text(
            "SELECT id, company_id, email, first_name, last_name, is_active, version FROM users "
            "WHERE NOT pending ORDER BY created_at, id"
        )
    ).all()
    isles.announce(
        service="auth",
        event_type="auth.UserUpdated",
        aggregate_type="user",
        records=[
            (
                _id(u.id),
                u.version,
                _id(u.company_id),
                {
                    "id": _id(u.id),
                    "email": u.email,
                    "first_name": u.first_name,
                    "last_name": u.last_name,
                    "company_id": _id(u.company_id),
                    "roles": roles[_id(u.id)] if u.is_active else [],
                    "is_active": bool(u.is_active),
                    "email_notifications": mail.get(_id(u.id), True),
                    "changes": [],
                },
            )
            for u in users
        ],
    )


# isles: ignore[ISL401] an announcement is not taken back: the copies keep what they learned
def downgrade() -> None:
    pass
