"""announce every ledger entry written before entries were published

From this revision on the leave service publishes each ledger entry
(``leave.LedgerEntryPosted``) in the transaction that writes it; the analytics
service keeps leave balances from them. Entries written before were never
published: this writes one event per existing entry to the outbox (version 1, as
the entry's own event would have been), so the balances of a running system's
past reach analytics too. Nothing changes in this database's own tables.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 23:40:00
"""
import uuid
from datetime import date
from decimal import Decimal

from alembic import op
import sqlalchemy as sa
import isles

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def _id(value: object) -> str | None:
    """A UUID as text (SQLite hands back its 32 hex digits)."""
    return None if value is None else str(uuid.UUID(str(value)))


def _day(value: object) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, date) else str(value)[:10]


def upgrade() -> None:
    isles.all_tenants()
    entries = op.get_bind().execute(
        sa.text(
            "SELECT e.id, e.company_id, e.employee_id, e.leave_type_id, t.name, e.year, e.kind, e.days, "
            "e.effective_on, e.expires_on, e.request_id FROM leave_ledger_entries e "
            "JOIN leave_types t ON t.id = e.leave_type_id ORDER BY e.created_at, e.id"
        )
    ).all()
    isles.announce(
        service="leave",
        event_type="leave.LedgerEntryPosted",
        aggregate_type="leave_ledger_entry",
        records=[
            (
                _id(e.id),
                1,
                _id(e.company_id),
                {
                    "id": _id(e.id),
                    "company_id": _id(e.company_id),
                    "employee_id": _id(e.employee_id),
                    "leave_type_id": _id(e.leave_type_id),
                    "leave_type_name": e.name,
                    "year": int(e.year),
                    "kind": e.kind,
                    "days": str(Decimal(str(e.days)).quantize(Decimal("0.01"))),
                    "effective_on": _day(e.effective_on),
                    "expires_on": _day(e.expires_on),
                    "request_id": _id(e.request_id),
                },
            )
            for e in entries
        ],
    )


# isles: ignore[ISL401] an announcement is not taken back: analytics keeps what it learned
def downgrade() -> None:
    pass
