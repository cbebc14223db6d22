"""The balances read model (issue 23): leave balances by type and department over
time, kept from the leave service's ledger (``leave.LedgerEntryPosted``: one event per
ledger entry, published in the transaction that writes it).

One row per ledger entry, keyed by (generation, entry id): an event applied again
writes the same row (entries are never changed, so a second event of an entry holds
nothing new). The figure (``balances_queries.balances``) is computed by the database,
one grouped statement over all periods at once.

**Definition.** For each period, on its last day D:

* the entries counted are those of the **year in force at D** (``year`` = D's year)
  with ``effective_on <= D``: an allocation or accrual counts from the day it is
  effective, a request's debit from its first day, a cancellation's credit back from
  the same day;
* per employee and leave type, ``balance`` = the sum of those entries' signed days,
  ``taken`` = minus the sum of the ``taken`` and ``cancellation`` entries (net of
  cancellations), ``credited`` = the sum of every other kind (allocations, accruals,
  adjustments, carry-forward in and out, expiries): ``balance = credited - taken``,
  as the leave service's ``leave_balances`` counts them;
* each employee is placed in the **department of D**: the department of their latest
  headcount span starting on or before D (the span in force that day; for someone who
  left by D, the department they left from). An employee the headcount model has no
  span for by D (not hired yet, or no employee events) is in no department (null);
* per period, leave type and department: those sums added up, and ``employees`` =
  the employees with at least one counted entry.

Rows with no counted entry are left out (a type nobody has entries for yet).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Date, Index, Integer, Numeric, String, Table, Uuid
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from hrms.contracts.leave import LedgerEntryPosted
from hrms.services.analytics.models import Base
from isles import Envelope, ReadModel, TenantOwned

NAME = "balances"
VERSION = 1


class BalanceEntry(TenantOwned, Base):
    """One leave ledger entry (``days`` signed, as in the leave service's ledger)."""

    # isles: ignore[ISL303] a read model: a rebuild writes its rows again, the events' times are in them
    __tablename__ = "balance_entries"

    generation: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # isles: ignore[ISL302] see models.py
    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)  # isles: ignore[ISL302] see models.py
    employee_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)  # isles: ignore[ISL302] see models.py
    leave_type_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)  # isles: ignore[ISL302] see models.py
    leave_type_name: Mapped[str] = mapped_column(String(200), nullable=False)
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    days: Mapped[Decimal] = mapped_column(Numeric(9, 2), nullable=False)
    effective_on: Mapped[date] = mapped_column(Date, nullable=False)
    expires_on: Mapped[date | None] = mapped_column(Date, nullable=True)

    __table_args__ = (Index("idx_balance_entries_generation_company_id_year", "generation", "company_id", "year"),)


async def posted(session: AsyncSession, pairs: Sequence[tuple[Envelope, Any]], generation: int) -> None:
    """A batch's ledger entries, set-wise: one insert for them all that leaves an entry
    the table holds already as it is (an entry is never changed; its event may come
    again, or be announced again)."""
    rows = {event.id: _values(event, generation) for _, event in pairs}
    await session.execute(_INSERTS[session.get_bind().dialect.name], list(rows.values()))


def _values(event: LedgerEntryPosted, generation: int) -> dict[str, Any]:
    return {
        "generation": generation,
        "entry_id": event.id,
        "company_id": event.company_id,
        "employee_id": event.employee_id,
        "leave_type_id": event.leave_type_id,
        "leave_type_name": event.leave_type_name,
        "year": event.year,
        "kind": event.kind,
        "days": event.days,
        "effective_on": event.effective_on,
        "expires_on": event.expires_on,
    }


def _insert(dialect: Any) -> Any:
    """INSERT the entry unless the generation has it (built once)."""
    return dialect.insert(cast(Table, BalanceEntry.__table__)).on_conflict_do_nothing(
        index_elements=["generation", "entry_id"]
    )


_INSERTS = {"postgresql": _insert(postgresql), "sqlite": _insert(sqlite)}


MODEL = ReadModel(
    name=NAME,
    version=VERSION,
    tables=[BalanceEntry.__table__],  # type: ignore[list-item]
    apply=posted,
    events=[LedgerEntryPosted],
)
