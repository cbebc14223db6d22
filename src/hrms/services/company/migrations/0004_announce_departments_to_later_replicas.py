"""announce every department once more, for the replicas that began after it

The employee service keeps department names (its department_copies, employee
revision 0007) from DepartmentCreated/DepartmentUpdated; a department made before
that revision was never announced to it, and its employees showed no
department_name. This writes a DepartmentUpdated (no change, the department's
current version) per department to the outbox; the employee service applies it like
any other. Nothing changes in this database's own tables.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 17:10:00
"""
import uuid

from alembic import op
import sqlalchemy as sa
import isles

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def _id(value: object) -> str | None:
    """A UUID as text (SQLite hands back its 32 hex digits)."""
    return None if value is None else str(uuid.UUID(str(value)))


def upgrade() -> None:
    isles.all_tenants()
    rows = op.get_bind().execute(
        sa.text("SELECT id, company_id, name, manager_id, version FROM departments ORDER BY created_at, id")
    ).all()
    isles.announce(
        service="company",
        event_type="company.DepartmentUpdated",
        aggregate_type="department",
        records=[
            (
                _id(r.id),
                r.version,
                _id(r.company_id),
                {
                    "id": _id(r.id),
                    "company_id": _id(r.company_id),
                    "name": r.name,
                    "manager_id": _id(r.manager_id),
                    "changes": [],
                },
            )
            for r in rows
        ],
    )


# isles: ignore[ISL401] an announcement is not taken back: the replicas keep what they learned
def downgrade() -> None:
    pass
