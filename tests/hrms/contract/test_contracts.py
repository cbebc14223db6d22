"""Contracts over HTTP, on SQLite and PostgreSQL: their rules, one active contract per
employee (the database's), activation and termination, the change history, and who
may read and write them."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from hrms.services.contract.models import ACTIVE, CONTRACTS_HISTORY, Contract
from isles import ACROSS_TENANTS, UniqueViolation, utcnow
from isles.runtime.system import SystemRuntime
from tests.hrms.contract.helpers import CONTRACTS, contract, fields, terms
from tests.hrms.helpers import ok
from tests.hrms.leave.helpers import team

pytestmark = [pytest.mark.integration, pytest.mark.services("contract")]
TODAY = date.today()


async def test_a_contract_is_made_as_a_draft_and_activated(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    t = await team(hrms, api)
    made = await contract(api, t.worker, salary="61000.50", weekly_hours="37.5")
    assert (made["status"], made["salary"], made["weekly_hours"]) == ("DRAFT", "61000.50", "37.50")
    active = ok(await api.post(f"{CONTRACTS}/{made['id']}/activate"))
    assert active["status"] == "ACTIVE"
    again = await api.post(f"{CONTRACTS}/{made['id']}/activate")
    assert (again.status_code, fields(again)) == (409, ["status"])
    future = await contract(api, t.manager, start_date=(TODAY + timedelta(days=10)).isoformat())
    assert ok(await api.post(f"{CONTRACTS}/{future['id']}/activate"))["status"] == "SCHEDULED"


BAD_TERMS = [
    ({"contract_type": "fixed_term"}, "end_date"),
    ({"contract_type": "intern", "end_date": TODAY.isoformat()}, "end_date"),
    ({"weekly_hours": "0"}, "weekly_hours"),
    ({"weekly_hours": "80.5"}, "weekly_hours"),
    ({"salary": "1.234"}, "salary"),
    ({"currency": "eur"}, "currency"),
    ({"contract_type": "casual"}, "contract_type"),
    ({"position": ""}, "position"),
]


async def test_bad_terms_are_refused_naming_the_field(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    t = await team(hrms, api)
    for change, field in BAD_TERMS:
        r = await api.post(CONTRACTS, json=terms(t.worker, **change))
        assert r.status_code == 422, r.text
        assert field in fields(r), change


async def test_an_unknown_or_other_companys_employee_is_refused(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    t = await team(hrms, api)
    other = await team(hrms, api, "Others")
    for who in ({"id": "00000000-0000-4000-8000-000000000001"}, other.worker):
        r = await api.post(CONTRACTS, json=terms(who, company_id=t.company), headers=t.as_admin)
        assert (r.status_code, fields(r)) == (422, ["employee_id"])


async def test_two_active_contracts_of_one_employee_are_refused(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    t = await team(hrms, api)
    first = await contract(api, t.worker, activate=True, start_date=(TODAY - timedelta(days=5)).isoformat())
    same_day = await contract(api, t.worker, start_date=first["start_date"])
    r = await api.post(f"{CONTRACTS}/{same_day['id']}/activate")
    assert (r.status_code, fields(r)) == (409, ["employee_id"])
    # The database holds the rule whatever the code does.
    async with hrms["contract"].uow(tenant=ACROSS_TENANTS) as uow:
        row = await uow.session.get(Contract, uuid.UUID(same_day["id"]))
        assert row is not None
        row.status = ACTIVE
        with pytest.raises(UniqueViolation):
            await uow.commit()
    # A contract starting later supersedes the active one at once when its day has come.
    newer = await contract(api, t.worker, activate=True, position="Lead", salary="70000.00")
    assert newer["status"] == "ACTIVE"
    old = ok(await api.get(f"{CONTRACTS}/{first['id']}"))
    assert (old["status"], old["end_date"], old["superseded_by"]) == (
        "ENDED",
        (TODAY - timedelta(days=1)).isoformat(),
        newer["id"],
    )


async def test_terminate_ends_an_active_contract_with_its_reason(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    t = await team(hrms, api)
    c = await contract(api, t.worker, activate=True)
    r = await api.post(f"{CONTRACTS}/{c['id']}/terminate", json={"date": "2000-01-01", "reason": "x"})
    assert (r.status_code, fields(r)) == (422, ["date"])
    done = ok(await api.post(f"{CONTRACTS}/{c['id']}/terminate", json={"date": TODAY.isoformat(), "reason": "Moved"}))
    assert (done["status"], done["end_date"], done["termination_reason"]) == ("TERMINATED", TODAY.isoformat(), "Moved")
    again = await api.post(f"{CONTRACTS}/{c['id']}/terminate", json={"date": TODAY.isoformat(), "reason": "Moved"})
    assert (again.status_code, fields(again)) == (409, ["status"])


async def test_only_a_draft_is_deleted_and_listing_hides_it(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    t = await team(hrms, api)
    draft = await contract(api, t.worker)
    active = await contract(api, t.manager, activate=True)
    r = await api.delete(f"{CONTRACTS}/{active['id']}")
    assert (r.status_code, fields(r)) == (409, ["status"])
    assert (await api.delete(f"{CONTRACTS}/{draft['id']}")).status_code == 204
    assert (await api.get(f"{CONTRACTS}/{draft['id']}")).status_code == 404
    listed = ok(await api.get(CONTRACTS))["items"]
    assert draft["id"] not in [c["id"] for c in listed]
    everything = ok(await api.get(CONTRACTS, params={"include_deleted": "true"}))["items"]
    assert draft["id"] in [c["id"] for c in everything]


async def test_history_keeps_every_version_and_as_of_reads_it(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    t = await team(hrms, api)
    c = await contract(api, t.worker, salary="50000.00")
    before_raise = utcnow()
    ok(await api.patch(f"{CONTRACTS}/{c['id']}", json={"salary": "55000.00"}, headers=t.as_admin))
    ok(await api.post(f"{CONTRACTS}/{c['id']}/activate", headers=t.as_admin))
    history = ok(await api.get(f"{CONTRACTS}/{c['id']}/history", headers=t.as_admin))
    assert [(v["contract"]["salary"], v["contract"]["status"]) for v in history] == [
        ("50000.00", "DRAFT"),
        ("55000.00", "DRAFT"),
        ("55000.00", "ACTIVE"),
    ]
    assert history[0]["changed_by"] == f"user:{t.admin['user_id']}"
    assert history[-1]["valid_to"] is None
    then = ok(await api.get(f"{CONTRACTS}/{c['id']}", params={"as_of": before_raise.isoformat()}))
    assert (then["salary"], then["status"]) == ("50000.00", "DRAFT")
    assert (await api.get(f"{CONTRACTS}/{c['id']}", params={"as_of": "2000-01-01T00:00:00Z"})).status_code == 404
    # A change rolled back leaves no history row.
    async with hrms["contract"].db.read_session(tenant=ACROSS_TENANTS) as session:
        rows = await session.scalar(select(func.count()).select_from(CONTRACTS_HISTORY))
    async with hrms["contract"].uow(tenant=ACROSS_TENANTS) as uow:
        row = await uow.session.get(Contract, uuid.UUID(c["id"]))
        assert row is not None
        row.position = "Never"
        await uow.session.flush()  # the history row is written here ...
        # ... and goes with the change: the unit of work ends without a commit.
    async with hrms["contract"].db.read_session(tenant=ACROSS_TENANTS) as session:
        assert await session.scalar(select(func.count()).select_from(CONTRACTS_HISTORY)) == rows


async def test_who_reads_and_writes_contracts(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    t = await team(hrms, api)
    peer = await team(hrms, api, "Peers")
    mine = await contract(api, t.worker)
    bosses = await contract(api, t.manager)
    url = f"{CONTRACTS}/{mine['id']}"
    for who in (t.as_admin, t.as_manager, t.as_worker):
        assert ok(await api.get(url, headers=who))["id"] == mine["id"]
        assert (await api.get(f"{url}/history", headers=who)).status_code == 200
    assert (await api.get(f"{CONTRACTS}/{bosses['id']}", headers=t.as_worker)).status_code == 404
    seen = ok(await api.get(CONTRACTS, headers=t.as_worker))["items"]
    assert [c["id"] for c in seen] == [mine["id"]]
    assert len(ok(await api.get(CONTRACTS, headers=t.as_manager))["items"]) == 2
    # Another company's admin: not there at all.
    assert (await api.get(url, headers=peer.as_admin)).status_code == 404
    assert (await api.post(f"{url}/activate", headers=peer.as_admin)).status_code == 404
    # Only an admin writes.
    for who in (t.as_manager, t.as_worker):
        assert (await api.post(f"{url}/activate", headers=who)).status_code == 403
        assert (await api.post(CONTRACTS, json=terms(t.worker), headers=who)).status_code == 403
