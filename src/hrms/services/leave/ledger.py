"""The balance ledger: entries are appended, never changed; ``leave_balances`` is
their sum per employee, leave type and year, kept in the transaction of each entry.
Every entry is published (``leave.LedgerEntryPosted``) in the transaction that writes
it: :func:`post` does it for the entries it writes, :func:`publish` for entries a job
inserted set-wise (read back by the same predicate, their events written to the outbox
in one statement at commit).

:func:`post` writes entries given one by one, and :func:`project` adds entries a job
inserted set-wise (INSERT ... SELECT) to the projection, in the same transaction;
:func:`check` compares the projection with the ledger; :func:`rebuild` remakes the
projection from the ledger.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, case, delete, func, insert, literal, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.contracts.leave import LEDGER_AGGREGATE, LedgerEntryPosted
from hrms.services.leave.models import TAKEN_KINDS, LeaveBalance, LeaveType, LedgerEntry
from isles import UnitOfWork, UTCDateTime, utcnow

CENT = Decimal("0.01")
Key = tuple[uuid.UUID, uuid.UUID, int]  # employee, leave type, year


def days(value: Decimal | float | int | None) -> Decimal:
    """A day count as stored (two places), whatever the database gave back."""
    return Decimal(str(value or 0)).quantize(CENT)


@dataclass(frozen=True)
class Entry:
    """A ledger entry to post."""

    company_id: uuid.UUID
    employee_id: uuid.UUID
    leave_type_id: uuid.UUID
    year: int
    kind: str
    days: Decimal
    effective_on: date
    period_key: str | None = None
    expires_on: date | None = None
    request_id: uuid.UUID | None = None
    reason: str | None = None
    created_by: uuid.UUID | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass
class Totals:
    credited: Decimal = Decimal(0)
    taken: Decimal = Decimal(0)
    entries: int = 0

    @property
    def balance(self) -> Decimal:
        return self.credited - self.taken


def _add(totals: dict[Key, Totals], key: Key, kind: str, amount: Decimal) -> None:
    t = totals.setdefault(key, Totals())
    if kind in TAKEN_KINDS:
        t.taken -= amount  # a debit is negative: taken grows; a cancellation gives back
    else:
        t.credited += amount
    t.entries += 1


def _upsert(session: AsyncSession, columns: list[str] | None = None, source: Any = None) -> Any:
    """INSERT into ``leave_balances`` (the rows given, or ``source``'s), adding to a
    row that exists."""
    t: Any = LeaveBalance.__table__
    ins: Any = (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(t)
    if source is not None:
        ins = ins.from_select(columns, source)
    return ins.on_conflict_do_update(
        index_elements=[t.c.employee_id, t.c.leave_type_id, t.c.year],
        set_={
            "credited": t.c.credited + ins.excluded.credited,
            "taken": t.c.taken + ins.excluded.taken,
            "balance": t.c.balance + ins.excluded.balance,
            "entries": t.c.entries + ins.excluded.entries,
            "updated_at": ins.excluded.updated_at,
        },
    )


@dataclass
class _Fresh:
    """A ledger entry as an aggregate for :meth:`UnitOfWork.emit`: new (version 0), so
    its one event is version 1 (entries are never changed)."""

    id: uuid.UUID
    version: int = 0


async def publish(uow: UnitOfWork, entries: ColumnElement[bool]) -> int:
    """Publish one ``LedgerEntryPosted`` per ledger entry matching ``entries`` (just
    written, in ``uow``'s transaction): one SELECT reads them back with their type's
    name; the events go to the outbox at commit, in one INSERT. The number published."""
    e = LedgerEntry
    q = (
        select(
            e.id,
            e.company_id,
            e.employee_id,
            e.leave_type_id,
            LeaveType.name,
            e.year,
            e.kind,
            e.days,
            e.effective_on,
            e.expires_on,
            e.request_id,
        )
        .join(LeaveType, LeaveType.id == e.leave_type_id)
        .where(entries)
        .order_by(e.effective_on, e.id)
    )
    n = 0
    for r in await uow.session.execute(q):
        event = LedgerEntryPosted(
            id=r.id,
            company_id=r.company_id,
            employee_id=r.employee_id,
            leave_type_id=r.leave_type_id,
            leave_type_name=r.name,
            year=r.year,
            kind=r.kind,
            days=days(r.days),
            effective_on=r.effective_on,
            expires_on=r.expires_on,
            request_id=r.request_id,
        )
        uow.emit(event, aggregate=_Fresh(r.id), aggregate_type=LEDGER_AGGREGATE, tenant_id=str(r.company_id))
        n += 1
    return n


async def post(uow: UnitOfWork, entries: Sequence[Entry]) -> None:
    """Append ``entries``, add them to ``leave_balances`` and publish them (one
    ``LedgerEntryPosted`` each), in the caller's transaction. A second entry with an
    employee's, type's and ``period_key`` already in the ledger is a UniqueViolation
    (at commit or flush)."""
    if not entries:
        return
    session, now = uow.session, utcnow()
    rows = [
        {
            "id": e.id,
            "company_id": e.company_id,
            "employee_id": e.employee_id,
            "leave_type_id": e.leave_type_id,
            "year": e.year,
            "kind": e.kind,
            "days": e.days,
            "effective_on": e.effective_on,
            "expires_on": e.expires_on,
            "period_key": e.period_key,
            "request_id": e.request_id,
            "reason": e.reason,
            "created_by": e.created_by,
            "created_at": now,
        }
        for e in entries
    ]
    await session.execute(insert(LedgerEntry), rows)
    totals: dict[Key, Totals] = {}
    companies: dict[Key, uuid.UUID] = {}
    for e in entries:
        key = (e.employee_id, e.leave_type_id, e.year)
        _add(totals, key, e.kind, e.days)
        companies[key] = e.company_id
    balances = [
        {
            "id": uuid.uuid4(),
            "company_id": companies[key],
            "employee_id": key[0],
            "leave_type_id": key[1],
            "year": key[2],
            "credited": t.credited,
            "taken": t.taken,
            "balance": t.balance,
            "entries": t.entries,
            "updated_at": now,
        }
        for key, t in totals.items()
    ]
    await session.execute(_upsert(session), balances)
    await publish(uow, LedgerEntry.id.in_([e.id for e in entries]))


def new_ids(session: AsyncSession) -> Any:
    """A fresh id per row, made by the database (for INSERT ... SELECT): a UUID on
    PostgreSQL, 32 random hex digits (how a Uuid column is stored) on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        return func.gen_random_uuid()
    return func.lower(func.hex(func.randomblob(16)))


async def project(session: AsyncSession, entries: ColumnElement[bool]) -> None:
    """Add the ledger entries matching ``entries`` (just inserted set-wise, by
    INSERT ... SELECT) to ``leave_balances``, in one statement: what :func:`post`
    does for entries it inserts itself."""
    e, now = LedgerEntry, utcnow()
    taken = e.kind.in_(TAKEN_KINDS)
    credited = func.sum(case((taken, 0), else_=e.days))
    taken_days = func.sum(case((taken, -e.days), else_=0))
    source = (
        select(
            new_ids(session),
            e.company_id,
            e.employee_id,
            e.leave_type_id,
            e.year,
            credited,
            taken_days,
            credited - taken_days,
            func.count(),
            literal(now, UTCDateTime()),
        )
        .where(entries)
        .group_by(e.company_id, e.employee_id, e.leave_type_id, e.year)
    )
    columns = [
        "id",
        "company_id",
        "employee_id",
        "leave_type_id",
        "year",
        "credited",
        "taken",
        "balance",
        "entries",
        "updated_at",
    ]
    await session.execute(_upsert(session, columns, source))


async def sums_as_of(session: AsyncSession, when: datetime, *where: Any) -> list[Any]:
    """The balances as they stood at ``when``: the ledger's entries written by then,
    summed per employee, type and year (rows with credited, taken, entries)."""
    q = _ledger_sums(None).where(LedgerEntry.created_at <= when, *where)
    return list((await session.execute(q.order_by(LedgerEntry.employee_id, LedgerEntry.leave_type_id))).all())


def _ledger_sums(company_id: uuid.UUID | None) -> Any:
    taken = LedgerEntry.kind.in_(TAKEN_KINDS)
    q = select(
        LedgerEntry.company_id,
        LedgerEntry.employee_id,
        LedgerEntry.leave_type_id,
        LedgerEntry.year,
        func.sum(case((taken, 0), else_=LedgerEntry.days)).label("credited"),
        func.sum(case((taken, -LedgerEntry.days), else_=0)).label("taken"),
        func.count().label("entries"),
    ).group_by(LedgerEntry.company_id, LedgerEntry.employee_id, LedgerEntry.leave_type_id, LedgerEntry.year)
    if company_id is not None:
        q = q.where(LedgerEntry.company_id == company_id)
    return q


@dataclass(frozen=True)
class Mismatch:
    """A projection row that disagrees with the ledger (None: missing on that side)."""

    employee_id: uuid.UUID
    leave_type_id: uuid.UUID
    year: int
    ledger: tuple[Decimal, Decimal, int] | None
    projection: tuple[Decimal, Decimal, int] | None


async def check(session: AsyncSession, company_id: uuid.UUID | None = None) -> list[Mismatch]:
    """Where ``leave_balances`` and the sum of ``leave_ledger_entries`` disagree (empty: they agree)."""
    ledger = {
        (r.employee_id, r.leave_type_id, r.year): (days(r.credited), days(r.taken), int(r.entries))
        for r in (await session.execute(_ledger_sums(company_id))).all()
    }
    b = LeaveBalance
    q = select(b.employee_id, b.leave_type_id, b.year, b.credited, b.taken, b.balance, b.entries)
    if company_id is not None:
        q = q.where(b.company_id == company_id)
    projection: dict[Key, tuple[Decimal, Decimal, int]] = {}
    bad_balance: set[Key] = set()
    for r in await session.execute(q):
        key = (r.employee_id, r.leave_type_id, r.year)
        projection[key] = (days(r.credited), days(r.taken), r.entries)
        if days(r.balance) != days(r.credited) - days(r.taken):
            bad_balance.add(key)
    return [
        Mismatch(key[0], key[1], key[2], ledger.get(key), projection.get(key))
        for key in sorted(set(ledger) | set(projection), key=str)
        if ledger.get(key) != projection.get(key) or key in bad_balance
    ]


async def rebuild(session: AsyncSession, company_id: uuid.UUID | None = None) -> int:
    """Remake ``leave_balances`` from the ledger (in the caller's transaction); the
    number of rows written."""
    q = delete(LeaveBalance)
    if company_id is not None:
        q = q.where(LeaveBalance.company_id == company_id)
    await session.execute(q)
    await project(session, LedgerEntry.company_id == company_id if company_id is not None else true())
    rows = select(func.count()).select_from(LeaveBalance)
    if company_id is not None:
        rows = rows.where(LeaveBalance.company_id == company_id)
    return int(await session.scalar(rows) or 0)


async def balance_of(session: AsyncSession, employee_id: uuid.UUID, leave_type_id: uuid.UUID, year: int) -> Decimal:
    """The projected balance (0 without a row)."""
    value = await session.scalar(
        select(LeaveBalance.balance).where(
            LeaveBalance.employee_id == employee_id,
            LeaveBalance.leave_type_id == leave_type_id,
            LeaveBalance.year == year,
        )
    )
    return days(value)


__all__ = ["Entry", "Mismatch", "balance_of", "check", "days", "new_ids", "post", "project", "publish", "rebuild"]
