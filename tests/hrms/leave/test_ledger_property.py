"""Property: whatever is posted, in whatever order — entries of every kind, accruals,
carry-forwards, expiries, rebuilds — ``leave_balances`` always equals the sum of the
ledger (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from hrms.services.leave import jobs, ledger
from hrms.services.leave.models import KINDS, LeaveBalance, LeaveRequestUser, LeaveType, LedgerEntry
from isles.runtime.system import SystemRuntime

pytestmark = [pytest.mark.integration, pytest.mark.services("leave")]

halves = st.integers(min_value=-40, max_value=40).map(lambda n: Decimal(n) / 2)
cents = st.integers(min_value=-1000, max_value=1000).map(lambda n: Decimal(n) / 100)
years = st.integers(min_value=2029, max_value=2031)
post = st.tuples(
    st.just("post"), st.sampled_from(KINDS), st.one_of(halves, cents), years, st.integers(0, 2), st.integers(0, 1)
)
run = st.tuples(st.sampled_from(["accrue", "carry_forward", "expire"]), years, st.integers(1, 12), st.integers(1, 28))
operations = st.lists(st.one_of(post, run, st.just(("rebuild",))), min_size=1, max_size=12)


async def _world(hrms: SystemRuntime) -> tuple[uuid.UUID, list[uuid.UUID], list[uuid.UUID]]:
    company = uuid.uuid4()
    people = [uuid.uuid4() for _ in range(3)]
    types = [uuid.uuid4(), uuid.uuid4()]
    async with hrms["leave"].uow(tenant=company) as uow:
        for n, person in enumerate(people):
            uow.session.add(
                LeaveRequestUser(
                    id=person,
                    company_id=company,
                    email=f"p{n}@example.com",
                    first_name="P",
                    last_name=str(n),
                    is_active=True,
                    version=1,
                )
            )
        for n, type_id in enumerate(types):
            uow.session.add(
                LeaveType(
                    id=type_id,
                    company_id=company,
                    name=f"T{n}",
                    allowance_days=Decimal(20),
                    monthly_accrual=Decimal("1.75") if n == 0 else None,
                    carry_forward_cap=Decimal(3),
                    carry_forward_expiry_months=2 if n == 0 else None,
                )
            )
        await uow.commit()
    return company, people, types


async def _apply(
    hrms: SystemRuntime, company: uuid.UUID, people: list[uuid.UUID], types: list[uuid.UUID], op: tuple[Any, ...]
) -> None:
    async with hrms["leave"].uow(tenant=company) as uow:
        session = uow.session
        if op[0] == "post":
            _, kind, days, year, who, which = op
            entry = ledger.Entry(company, people[who], types[which], year, kind, days, date(year, 6, 1))
            await ledger.post(uow, [entry])
        elif op[0] == "rebuild":
            await ledger.rebuild(session, company)
        else:
            name, year, month, day = op
            await getattr(jobs, name)(uow, date(year, month, day), company)
        await uow.commit()


async def _agree(hrms: SystemRuntime, company: uuid.UUID) -> None:
    async with hrms["leave"].db.read_session(tenant=company) as session:
        assert await ledger.check(session, company) == []
        sums = {
            (r.employee_id, r.leave_type_id, r.year): ledger.days(r.total)
            for r in await session.execute(
                select(
                    LedgerEntry.employee_id,
                    LedgerEntry.leave_type_id,
                    LedgerEntry.year,
                    func.sum(LedgerEntry.days).label("total"),
                )
                .where(LedgerEntry.company_id == company)
                .group_by(LedgerEntry.employee_id, LedgerEntry.leave_type_id, LedgerEntry.year)
            )
        }
        balances = {
            (b.employee_id, b.leave_type_id, b.year): ledger.days(b.balance)
            for b in await session.scalars(select(LeaveBalance).where(LeaveBalance.company_id == company))
        }
    assert balances == sums


async def test_ledger_and_balances_always_agree(hrms: SystemRuntime) -> None:
    loop = asyncio.get_running_loop()

    def wait(coro: Coroutine[Any, Any, Any]) -> Any:  # the test runs in a thread; the system in this loop
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(operations)
    def check(ops: list[tuple[Any, ...]]) -> None:
        company, people, types = wait(_world(hrms))
        for op in ops:
            wait(_apply(hrms, company, people, types, op))
            wait(_agree(hrms, company))

    await asyncio.to_thread(check)
