"""The leave service's periodic work, each idempotent for its day (a unique ledger
key per employee, type and period: a second run adds nothing):

* ``accrue`` (monthly): each active employee's monthly accrual of every type that has
  one, for the month of the day;
* ``carry_forward`` (monthly, acts once a year): the year before the day's, carried
  into the day's year up to each type's cap, expiring where the type says;
* ``expire`` (daily): carried-forward days not used before their expiry;
* ``rebuild_balances`` (by command): ``leave_balances`` made again from the ledger,
  after checking where they disagreed.

Each takes a unit of work (a whole-system run: across companies; an admin's HTTP run:
their company only) and returns how many entries it wrote; every entry written is
published (``leave.LedgerEntryPosted``) in that transaction.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Date, and_, exists, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from hrms.services.leave import ledger
from hrms.services.leave.models import (
    ACCRUAL,
    CARRY_FORWARD,
    EXPIRY,
    TAKEN_KINDS,
    LeaveBalance,
    LeaveRequestUser,
    LeaveType,
    LedgerEntry,
)
from isles import ACROSS_TENANTS, Job, ServiceContext, UnitOfWork, UTCDateTime, utcnow

CHUNK = 5000


def _companies(column: Any, company_id: uuid.UUID | None) -> list[ColumnElement[bool]]:
    return [] if company_id is None else [column == company_id]


async def _post_chunked(uow: UnitOfWork, entries: list[ledger.Entry]) -> int:
    for start in range(0, len(entries), CHUNK):
        await ledger.post(uow, entries[start : start + CHUNK])
    return len(entries)


async def accrue(uow: UnitOfWork, day: date, company_id: uuid.UUID | None = None) -> int:
    """Add the month's accrual entries that are missing; the number added. Set-wise:
    one INSERT ... SELECT over active employees and accruing types, skipping those
    the month's key already has, then one projection update, and the entries read
    back by the same predicate and published (one outbox INSERT at commit)."""
    session = uow.session
    key, now = f"accrual:{day.year}-{day.month:02d}", utcnow()
    t, u, e = LeaveType, LeaveRequestUser, LedgerEntry
    source = (
        select(
            ledger.new_ids(session),
            t.company_id,
            u.id,
            t.id,
            literal(day.year),
            literal(ACCRUAL),
            t.monthly_accrual,
            literal(day.replace(day=1), Date()),
            literal(key),
            literal(f"monthly accrual {key[8:]}"),
            literal(now, UTCDateTime()),
        )
        .select_from(t)
        .join(u, and_(u.company_id == t.company_id, u.is_active.is_(True)))
        .where(t.is_active.is_(True), t.monthly_accrual > 0, *_companies(t.company_id, company_id))
        .where(~exists().where(e.employee_id == u.id, e.leave_type_id == t.id, e.period_key == key))
    )
    columns = [
        "id",
        "company_id",
        "employee_id",
        "leave_type_id",
        "year",
        "kind",
        "days",
        "effective_on",
        "period_key",
        "reason",
        "created_at",
    ]
    table: Any = LedgerEntry.__table__
    await session.execute(insert(table).from_select(columns, source))
    written = and_(e.period_key == key, e.created_at == now)
    added = await session.scalar(select(func.count()).where(written))
    if added:
        await ledger.project(session, written)
        await ledger.publish(uow, written)
    return int(added or 0)


def _months_later(start: date, months: int) -> date:
    index = start.month - 1 + months
    return date(start.year + index // 12, index % 12 + 1, 1)


async def carry_forward(uow: UnitOfWork, day: date, company_id: uuid.UUID | None = None) -> int:
    """Carry each positive balance of the year before ``day``'s into ``day``'s year,
    capped (a debit in the old year, a credit in the new one, with its expiry)."""
    session = uow.session
    old, new = day.year - 1, day.year
    q = (
        select(LeaveBalance, LeaveType)
        .join(LeaveType, LeaveType.id == LeaveBalance.leave_type_id)
        .where(LeaveBalance.year == old, LeaveType.carry_forward_cap > 0, LeaveBalance.balance > 0)
        .where(*_companies(LeaveBalance.company_id, company_id))
    )
    rows = (await session.execute(q)).all()
    key_out, key_in = f"carry_forward:{old}-out", f"carry_forward:{new}-in"
    done: set[tuple[uuid.UUID, uuid.UUID]] = set(
        (
            await session.execute(
                select(LedgerEntry.employee_id, LedgerEntry.leave_type_id).where(
                    LedgerEntry.period_key == key_in, LedgerEntry.leave_type_id.in_({t.id for _, t in rows})
                )
            )
        ).all()
    )
    entries = []
    start = date(new, 1, 1)
    for balance, t in rows:
        if (balance.employee_id, t.id) in done:
            continue
        carried = min(ledger.days(t.carry_forward_cap), ledger.days(balance.balance))
        expires = _months_later(start, t.carry_forward_expiry_months) if t.carry_forward_expiry_months else None
        common = (balance.company_id, balance.employee_id, t.id)
        reason = f"carried from {old} to {new}"
        entries += [
            ledger.Entry(*common, old, CARRY_FORWARD, -carried, date(old, 12, 31), period_key=key_out, reason=reason),
            ledger.Entry(
                *common, new, CARRY_FORWARD, carried, start, period_key=key_in, expires_on=expires, reason=reason
            ),
        ]
    await _post_chunked(uow, entries)
    return len(entries)


async def expire(uow: UnitOfWork, day: date, company_id: uuid.UUID | None = None) -> int:
    """Expire carried-forward days whose expiry is on or before ``day``, less what
    was taken (net of cancellations) before the expiry: those days were used first.
    One query finds every carried entry due without an expiry yet, with its days used."""
    c, used, done = aliased(LedgerEntry), aliased(LedgerEntry), aliased(LedgerEntry)
    taken = func.coalesce(func.sum(used.days), 0)
    q = (
        select(c.company_id, c.employee_id, c.leave_type_id, c.year, c.days, c.expires_on, taken.label("taken"))
        .select_from(c)
        .outerjoin(
            used,
            and_(
                used.employee_id == c.employee_id,
                used.leave_type_id == c.leave_type_id,
                used.year == c.year,
                used.kind.in_(TAKEN_KINDS),
                used.effective_on < c.expires_on,
            ),
        )
        .where(c.kind == CARRY_FORWARD, c.days > 0, c.expires_on.is_not(None), c.expires_on <= day)
        .where(*_companies(c.company_id, company_id))
        .where(
            ~exists().where(
                done.employee_id == c.employee_id,
                done.leave_type_id == c.leave_type_id,
                done.year == c.year,
                done.kind == EXPIRY,
            )
        )
        .group_by(c.id, c.company_id, c.employee_id, c.leave_type_id, c.year, c.days, c.expires_on)
    )
    entries = []
    for r in await uow.session.execute(q):
        carried = ledger.days(r.days)
        lapsed = carried - min(carried, max(ledger.days(0), -ledger.days(r.taken)))
        if lapsed > 0:
            entries.append(
                ledger.Entry(
                    r.company_id,
                    r.employee_id,
                    r.leave_type_id,
                    r.year,
                    EXPIRY,
                    -lapsed,
                    r.expires_on,
                    period_key=f"expiry:{r.year}",
                    reason=f"carried-forward days expired on {r.expires_on}",
                )
            )
    return await _post_chunked(uow, entries)


async def rebuild_balances(session: AsyncSession, company_id: uuid.UUID | None = None) -> tuple[int, int]:
    """Check the projection against the ledger, then rebuild it: (rows that
    disagreed, rows written)."""
    mismatches = await ledger.check(session, company_id)
    written = await ledger.rebuild(session, company_id)
    return len(mismatches), written


async def _run_accrue(ctx: ServiceContext, day: date) -> str:
    async with ctx.uow(tenant=ACROSS_TENANTS) as uow:
        added = await accrue(uow, day)
        await uow.commit()
    return f"accrue {day.year}-{day.month:02d}: {added} entries added"


async def _run_carry_forward(ctx: ServiceContext, day: date) -> str:
    async with ctx.uow(tenant=ACROSS_TENANTS) as uow:
        added = await carry_forward(uow, day)
        await uow.commit()
    return f"carry_forward {day.year - 1}->{day.year}: {added} entries added"


async def _run_expire(ctx: ServiceContext, day: date) -> str:
    async with ctx.uow(tenant=ACROSS_TENANTS) as uow:
        added = await expire(uow, day)
        await uow.commit()
    return f"expire {day}: {added} entries added"


async def _run_rebuild(ctx: ServiceContext, day: date) -> str:
    async with ctx.uow(tenant=ACROSS_TENANTS) as uow:
        bad, written = await rebuild_balances(uow.session)
        await uow.commit()
    return f"rebuild_balances: {bad} rows disagreed with the ledger; {written} rebuilt"


JOBS = (
    Job("accrue", run=_run_accrue, schedule="monthly", description="Monthly accrual of leave days"),
    Job(
        "carry_forward",
        run=_run_carry_forward,
        schedule="monthly",
        description="Carry last year's balances into this year (capped); acts once a year",
    ),
    Job("expire", run=_run_expire, schedule="daily", description="Expire unused carried-forward days"),
    Job(
        "rebuild_balances",
        run=_run_rebuild,
        schedule=None,
        description="Check leave_balances against the ledger and rebuild it",
    ),
)
