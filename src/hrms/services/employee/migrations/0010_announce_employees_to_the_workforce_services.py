"""announce every employee once more, for the workforce services' copies

The leave, presence and tasks services (issue 17) each keep a copy of the employees
(LeaveRequestUser, CheckinUserInfo, TaskUser: seed 004's replicated user models)
from employee events; an employee made before they existed was never announced to
them. This writes an EmployeeUpdated (no change, the employee's current version, its
whole replicated state) per employee to the outbox; the copies that lack it take it,
the others (project's, notification's) ignore it. Nothing changes in this database's
own tables.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 23:20:00
"""
import uuid

from alembic import op
import sqlalchemy as sa
import isles

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def _id(value: object) -> str | None:
    """A UUID as text (SQLite hands back its 32 hex digits)."""
    return None if value is None else str(uuid.UUID(str(value)))


def upgrade() -> None:
    isles.all_tenants()
    rows = op.get_bind().execute(
        sa.text(
            "SELECT id, employee_id, company_id, user_id, first_name, last_name, email, position, "
            "department_id, manager_id, is_active, version FROM employees WHERE NOT pending ORDER BY created_at, id"
        )
    ).all()
    isles.announce(
        service="employee",
        event_type="employee.EmployeeUpdated",
        aggregate_type="employee",
        schema_version=2,
        records=[
            (
                _id(r.id),
                r.version,
                _id(r.company_id),
                {
                    "id": _id(r.id),
                    "first_name": r.first_name,
                    "last_name": r.last_name,
                    "email": r.email,
                    "is_active": bool(r.is_active),
                    "employee_number": r.employee_id,
                    "company_id": _id(r.company_id),
                    "position": r.position,
                    "department_id": _id(r.department_id),
                    "user_id": _id(r.user_id),
                    "manager_id": _id(r.manager_id),
                    "changes": [],
                },
            )
            for r in rows
        ],
    )


# isles: ignore[ISL401] an announcement is not taken back: the copies keep what they learned
def downgrade() -> None:
    pass
