"""The contract service's daily job, ``advance``, idempotent for its day (a second run
finds nothing left to do). In one transaction, for the day D:

* SCHEDULED contracts whose start date has come become ACTIVE (earliest start
  first), each ending the employee's active contract it supersedes (ENDED, its end
  date the day before the new start);
* ACTIVE contracts whose end date is before D become ENDED;
* ACTIVE contracts ending within 30 days (and within 7) raise ContractEnding once per
  window: the marker row (``contract_ending_notices``) is written with the event.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.services.contract import events, service
from hrms.services.contract.models import ACTIVE, ENDED, NOTICE_WINDOWS, SCHEDULED, Contract, ContractEndingNotice
from isles import ACROSS_TENANTS, Job, ServiceContext, UnitOfWork, changes_by


@dataclass(frozen=True)
class Advanced:
    activated: int
    ended: int
    notices: int

    def summary(self, day: date) -> str:
        return f"advance {day}: {self.activated} activated, {self.ended} ended, {self.notices} ending notices"


def _companies(company_id: uuid.UUID | None) -> list[ColumnElement[bool]]:
    return [] if company_id is None else [Contract.company_id == company_id]


async def _start_due(uow: UnitOfWork, day: date, company_id: uuid.UUID | None) -> tuple[int, int]:
    due = await uow.session.scalars(
        select(Contract)
        .where(Contract.status == SCHEDULED, Contract.start_date <= day, *_companies(company_id))
        .order_by(Contract.start_date, Contract.created_at)
        .with_for_update()
    )
    activated = superseded = 0
    for contract in due.all():
        before = await service.active_of(uow.session, contract.company_id, contract.employee_id)
        if await service.start(uow, contract):
            activated += 1
            superseded += before is not None
            await uow.session.flush()
    return activated, superseded


async def _end_past(uow: UnitOfWork, day: date, company_id: uuid.UUID | None) -> int:
    past = await uow.session.scalars(
        select(Contract)
        .where(Contract.status == ACTIVE, Contract.end_date < day, *_companies(company_id))
        .with_for_update()
    )
    ended = 0
    for contract in past.all():
        contract.status = ENDED
        events.emit(uow, contract, events.ended(contract))
        ended += 1
    return ended


async def _notify_ending(uow: UnitOfWork, day: date, company_id: uuid.UUID | None) -> int:
    session: AsyncSession = uow.session
    soon = await session.scalars(
        select(Contract).where(
            Contract.status == ACTIVE,
            Contract.end_date >= day,
            Contract.end_date <= day + timedelta(days=max(NOTICE_WINDOWS)),
            *_companies(company_id),
        )
    )
    contracts = soon.all()
    sent: set[tuple[Any, int]] = set(
        (
            await session.execute(
                select(ContractEndingNotice.contract_id, ContractEndingNotice.within_days).where(
                    ContractEndingNotice.contract_id.in_([c.id for c in contracts])
                )
            )
        ).all()
    )
    raised = 0
    for c in contracts:
        assert c.end_date is not None
        due = [w for w in NOTICE_WINDOWS if c.end_date <= day + timedelta(days=w) and (c.id, w) not in sent]
        if not due:
            continue
        # One event for the narrowest window due; every due window is marked.
        events.emit(uow, c, events.ending(c, day, min(due)))
        for window in due:
            session.add(
                ContractEndingNotice(id=uuid.uuid4(), company_id=c.company_id, contract_id=c.id, within_days=window)
            )
        raised += 1
    return raised


async def advance(uow: UnitOfWork, day: date, company_id: uuid.UUID | None = None) -> Advanced:
    """Start, end and announce the ending of contracts as of ``day``; the caller commits."""
    activated, superseded = await _start_due(uow, day, company_id)
    ended = await _end_past(uow, day, company_id)
    await uow.session.flush()
    notices = await _notify_ending(uow, day, company_id)
    return Advanced(activated, superseded + ended, notices)


async def _run_advance(ctx: ServiceContext, day: date) -> str:
    # The history names the job as the author of what it changes.
    with changes_by("service:contract", f"job:advance:{day}"):
        async with ctx.uow(tenant=ACROSS_TENANTS) as uow:
            done = await advance(uow, day)
            await uow.commit()
    return done.summary(day)


JOBS = (
    Job(
        "advance",
        run=_run_advance,
        schedule="daily",
        description="Start contracts on their start date (superseding the old one), end past ones, announce endings",
    ),
)
