"""The leave jobs, on SQLite and PostgreSQL: monthly accrual (twice for one month
adds once), year-end carry-forward (capped) and the expiry of carried days, and the
check and rebuild of ``leave_balances`` from the ledger."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import update

from hrms.services.leave import ledger
from hrms.services.leave.jobs import JOBS
from hrms.services.leave.models import LeaveBalance
from isles import ACROSS_TENANTS
from isles.runtime.system import SystemRuntime
from tests.hrms.helpers import count, ok
from tests.hrms.leave.helpers import LEAVE, allocate, balance, leave_type, request, team

pytestmark = [pytest.mark.integration, pytest.mark.services("leave")]


async def test_accrual_twice_for_one_month_adds_once(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    t = await team(hrms, api)
    accruing = await leave_type(api, t.company, "Accruing", allowance_days="0", monthly_accrual="2.08")
    await leave_type(api, t.company, "Fixed")  # no monthly accrual: nothing for it
    body = {"company_id": t.company, "day": "2030-03-15"}
    first = ok(await api.post(f"{LEAVE}/jobs/accrue", json=body))
    assert first["entries"] == 3, "admin, manager and worker"
    second = ok(await api.post(f"{LEAVE}/jobs/accrue", json=body))
    assert second["entries"] == 0
    [job] = [j for j in JOBS if j.name == "accrue"]
    assert job.schedule == "monthly"
    assert await job.run(hrms["leave"], date(2030, 3, 1)) == "accrue 2030-03: 0 entries added"
    assert await count(hrms, "leave", "leave_ledger_entries", kind="accrual") == 3
    assert (await balance(api, t.worker, accruing))["credited"] == Decimal("2.08")
    assert await job.run(hrms["leave"], date(2030, 4, 1)) == "accrue 2030-04: 3 entries added"
    assert (await balance(api, t.worker, accruing))["credited"] == Decimal("4.16")
    # A deactivated employee accrues no more.
    ok(await api.post(f"/api/employee/employees/{t.worker['id']}/deactivate"))
    await hrms.settle()
    assert ok(await api.post(f"{LEAVE}/jobs/accrue", json={**body, "day": "2030-05-01"}))["entries"] == 2


async def test_carry_forward_is_capped_and_unused_carried_days_expire(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    t = await team(hrms, api)
    annual = await leave_type(api, t.company, carry_forward_cap="5", carry_forward_expiry_months=3)
    await allocate(api, t.worker, annual, year=2029, days="10")
    r = ok(await request(api, annual, "2029-06-04", "2029-06-05", t.as_worker), 201)
    ok(await api.post(f"{LEAVE}/requests/{r['id']}/approve", headers=t.as_manager))
    assert (await balance(api, t.worker, annual, 2029))["balance"] == 8

    run = {"company_id": t.company, "day": "2030-01-01"}
    assert ok(await api.post(f"{LEAVE}/jobs/carry-forward", json=run))["entries"] == 2, "out of 2029, into 2030"
    assert ok(await api.post(f"{LEAVE}/jobs/carry-forward", json=run))["entries"] == 0
    assert (await balance(api, t.worker, annual, 2029))["balance"] == 3, "what exceeds the cap stays behind"
    assert (await balance(api, t.worker, annual, 2030))["balance"] == 5
    entries = ok(await api.get(f"{LEAVE}/ledger", params={"employee_id": t.worker["id"], "year": 2030}))["items"]
    assert [(e["kind"], e["days"], e["expires_on"]) for e in entries] == [("carry_forward", "5.00", "2030-04-01")]

    await allocate(api, t.worker, annual)  # 25 for 2030
    r = ok(await request(api, annual, "2030-02-04", "2030-02-05", t.as_worker), 201)
    ok(await api.post(f"{LEAVE}/requests/{r['id']}/approve", headers=t.as_manager))
    expire = {"company_id": t.company, "day": "2030-03-31"}
    assert ok(await api.post(f"{LEAVE}/jobs/expire", json=expire))["entries"] == 0, "not yet"
    expire["day"] = "2030-04-01"
    assert ok(await api.post(f"{LEAVE}/jobs/expire", json=expire))["entries"] == 1
    assert ok(await api.post(f"{LEAVE}/jobs/expire", json=expire))["entries"] == 0
    b = await balance(api, t.worker, annual, 2030)
    assert (b["credited"], b["taken"], b["balance"]) == (27, 2, 25), "5 carried, 2 used before expiry, 3 lapsed"


async def test_the_projection_is_checked_and_rebuilt_from_the_ledger(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    t = await team(hrms, api)
    annual = await leave_type(api, t.company)
    await allocate(api, t.worker, annual)
    await allocate(api, t.manager, annual)
    async with hrms["leave"].uow(tenant=ACROSS_TENANTS) as uow:
        assert await ledger.check(uow.session) == []
        await uow.session.execute(update(LeaveBalance).values(balance=Decimal(99)))
        await uow.commit()
    async with hrms["leave"].db.read_session(tenant=ACROSS_TENANTS) as session:
        assert len(await ledger.check(session)) == 2
    rebuilt = ok(await api.post(f"{LEAVE}/jobs/rebuild-balances", json={"company_id": t.company, "day": "2030-01-01"}))
    assert rebuilt["entries"] == 2, "the rows that disagreed"
    async with hrms["leave"].db.read_session(tenant=ACROSS_TENANTS) as session:
        assert await ledger.check(session) == []
    assert (await balance(api, t.worker, annual))["balance"] == 25
    [job] = [j for j in JOBS if j.name == "rebuild_balances"]
    assert job.schedule is None
    assert "0 rows disagreed" in await job.run(hrms["leave"], date(2030, 1, 1))
