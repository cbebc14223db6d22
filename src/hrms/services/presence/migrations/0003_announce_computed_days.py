"""announce every computed day, for the days computed before every day was published

From revision 0002 on the presence service publishes ``AttendanceMarked`` for every
computed day whose outcome changed, the first computation included; before, only
noteworthy days were published, so an ordinary present day computed then never
reached analytics (its attendance rates had no denominator for the past). This
writes one event per existing day to the outbox, at the day's version — a day
never published (version 0) becomes version 1, as its first computation now would
— so the rates of the past are complete. A day analytics already holds at that
version changes nothing there (newest version wins).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 00:05:00
"""
import uuid
from datetime import date

from alembic import op
import sqlalchemy as sa
import isles

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def _id(value: object) -> str:
    """A UUID as text (SQLite hands back its 32 hex digits)."""
    return str(uuid.UUID(str(value)))


def _day(value: object) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)[:10]


def upgrade() -> None:
    isles.all_tenants()
    bind = op.get_bind()
    bind.execute(sa.text("UPDATE attendance_days SET version = 1 WHERE version = 0"))
    days = bind.execute(
        sa.text(
            "SELECT id, company_id, employee_id, day, status, late, left_early, missing_checkout, "
            "worked_minutes, version FROM attendance_days ORDER BY day, id"
        )
    ).all()
    isles.announce(
        service="presence",
        event_type="presence.AttendanceMarked",
        aggregate_type="attendance_day",
        records=[
            (
                _id(d.id),
                d.version,
                _id(d.company_id),
                {
                    "id": _id(d.id),
                    "company_id": _id(d.company_id),
                    "employee_id": _id(d.employee_id),
                    "day": _day(d.day),
                    "status": d.status,
                    "late": bool(d.late),
                    "left_early": bool(d.left_early),
                    "missing_checkout": bool(d.missing_checkout),
                    "worked_minutes": int(d.worked_minutes),
                },
            )
            for d in days
        ],
    )


# isles: ignore[ISL401] an announcement is not taken back; a day's version only grows
def downgrade() -> None:
    pass
