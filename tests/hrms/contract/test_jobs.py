"""The contract service's daily job with a fixed day, on SQLite and PostgreSQL: a newer
contract supersedes the active one on its start date, a fixed-term contract past its
end is ENDED, ContractEnding is raised once per window however often the job runs."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
from sqlalchemy import select

from hrms.services.contract.jobs import JOBS
from hrms.services.notification.models import Notification
from isles import ACROSS_TENANTS
from isles.runtime.system import SystemRuntime
from tests.hrms.contract.helpers import CONTRACTS, contract
from tests.hrms.helpers import count, ok
from tests.hrms.leave.helpers import team

pytestmark = [pytest.mark.integration, pytest.mark.services("contract")]
JOB = "/api/contract/jobs/advance"


async def test_a_newer_contract_supersedes_the_active_one_on_its_start_date(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    t = await team(hrms, api)
    old = await contract(api, t.worker, activate=True, start_date="2020-01-01")
    new = await contract(api, t.worker, start_date="2099-03-01", position="Lead", salary="90000.00")
    assert ok(await api.post(f"{CONTRACTS}/{new['id']}/activate"))["status"] == "SCHEDULED"
    before = {"company_id": t.company, "day": "2099-02-28"}
    assert ok(await api.post(JOB, json=before))["activated"] == 0
    run = {"company_id": t.company, "day": "2099-03-01"}
    first = ok(await api.post(JOB, json=run))
    assert (first["activated"], first["ended"]) == (1, 1)
    second = ok(await api.post(JOB, json=run))
    assert (second["activated"], second["ended"], second["notices"]) == (0, 0, 0), "running twice changes nothing"
    ended = ok(await api.get(f"{CONTRACTS}/{old['id']}"))
    assert (ended["status"], ended["end_date"], ended["superseded_by"]) == ("ENDED", "2099-02-28", new["id"])
    assert ok(await api.get(f"{CONTRACTS}/{new['id']}"))["status"] == "ACTIVE"
    [job] = JOBS
    assert job.schedule == "daily"
    assert (
        await job.run(hrms["contract"], date(2099, 3, 1))
        == "advance 2099-03-01: 0 activated, 0 ended, 0 ending notices"
    )
    # Run as a job, it is named in the history of what it changes.
    third = await contract(api, t.manager, start_date="2099-04-01")
    ok(await api.post(f"{CONTRACTS}/{third['id']}/activate"))
    assert "1 activated" in await job.run(hrms["contract"], date(2099, 4, 1))
    history = ok(await api.get(f"{CONTRACTS}/{third['id']}/history"))
    assert (history[-2]["changed_by"], history[-2]["change_reason"]) == ("service:contract", "job:advance:2099-04-01")


async def test_a_fixed_term_contract_past_its_end_is_ended_after_notices_once_each(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    t = await team(hrms, api)
    c = await contract(api, t.worker, activate=True, contract_type="fixed_term", end_date="2099-06-30")
    run = {"company_id": t.company, "day": "2099-05-01"}
    assert ok(await api.post(JOB, json=run))["notices"] == 0, "60 days left"
    for day, notices in [("2099-05-31", 1), ("2099-05-31", 0), ("2099-06-10", 0), ("2099-06-23", 1), ("2099-06-24", 0)]:
        assert ok(await api.post(JOB, json={**run, "day": day}))["notices"] == notices, day
    assert await count(hrms, "contract", "contract_ending_notices") == 2
    assert await count(hrms, "contract", "isles_outbox_events", event_type="contract.ContractEnding") == 2
    assert ok(await api.post(JOB, json={**run, "day": "2099-06-30"}))["ended"] == 0, "its last day"
    assert ok(await api.post(JOB, json={**run, "day": "2099-07-01"}))["ended"] == 1
    assert ok(await api.post(JOB, json={**run, "day": "2099-07-01"}))["ended"] == 0
    assert ok(await api.get(f"{CONTRACTS}/{c['id']}"))["status"] == "ENDED"


async def test_a_contract_ending_is_mailed_to_the_employee_and_hr_once(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    t = await team(hrms, api)
    await contract(api, t.worker, activate=True, contract_type="intern", end_date="2099-06-30", position="Intern")
    run = {"company_id": t.company, "day": "2099-06-01"}
    assert ok(await api.post(JOB, json=run))["notices"] == 1
    assert ok(await api.post(JOB, json=run))["notices"] == 0
    await hrms.settle()
    async with hrms["notification"].db.read_session(tenant=ACROSS_TENANTS) as session:
        rows = (
            await session.scalars(select(Notification).where(Notification.template_key.like("contract_ending%")))
        ).all()
    got = sorted((n.template_key, str(n.user_id)) for n in rows)
    assert got == [("contract_ending", t.worker["user_id"]), ("contract_ending_hr", t.admin["user_id"])]
    [hr] = [n for n in rows if n.template_key == "contract_ending_hr"]
    assert hr.subject == "The contract of Ada Lovelace ends on 2099-06-30"
    assert "as Intern ends on 2099-06-30, in 29 days" in hr.body
