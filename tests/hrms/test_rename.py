"""A rename (PATCH /api/employee/employees/{id}) is one transaction: the row and its
EmployeeUpdated event together, for the caller's company only; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from isles import ACROSS_TENANTS
from isles.runtime.system import SystemRuntime
from isles.security.tokens import OPERATOR
from isles.storage.schema import outbox_table
from tests.hrms.helpers import bearer, new_company, new_employee, ok

pytestmark = pytest.mark.integration
UPDATED = "employee.EmployeeUpdated"


def acting_for(hrms: SystemRuntime, company_id: str) -> dict[str, str]:
    """An operator's token scoped to one company (a tenant's session, row-level security)."""
    return bearer(hrms.keys.signer(OPERATOR, ttl=300).issue(subject="operator", tenant=company_id))


async def updates_of(hrms: SystemRuntime, employee_id: str) -> list[dict[str, Any]]:
    t = outbox_table
    q = select(t.c.payload).where(t.c.aggregate_id == employee_id, t.c.event_type == UPDATED).order_by(t.c.id)
    async with hrms["employee"].db.read_session(tenant=ACROSS_TENANTS) as session:
        return [json.loads(p) for p in (await session.scalars(q)).all()]


async def test_rename_writes_the_row_and_one_event(api: httpx.AsyncClient, hrms: SystemRuntime) -> None:
    ada = await new_employee(api, "Ada", "Lovelace")
    path = f"/api/employee/employees/{ada['id']}"
    renamed = ok(
        await api.patch(
            path, json={"last_name": "King", "position": "CTO"}, headers=acting_for(hrms, ada["company_id"])
        )
    )
    assert (renamed["last_name"], renamed["position"]) == ("King", "CTO")
    assert renamed["version"] == ada["version"] + 1
    assert renamed["updated_at"] > ada["updated_at"]
    assert ok(await api.get(path)) == renamed

    [event] = await updates_of(hrms, ada["id"])
    assert event["aggregateversion"] == renamed["version"]
    assert event["tenantid"] == ada["company_id"]
    assert event["data"]["changes"] == ["last_name", "position"]
    assert (event["data"]["first_name"], event["data"]["last_name"]) == ("Ada", "King")


async def test_a_rename_to_the_same_name_changes_nothing(api: httpx.AsyncClient, hrms: SystemRuntime) -> None:
    ada = await new_employee(api, "Ada", "Lovelace")
    same = ok(await api.patch(f"/api/employee/employees/{ada['id']}", json={"last_name": "Lovelace"}))
    assert same["version"] == ada["version"]
    assert same["updated_at"] == ada["updated_at"]
    assert await updates_of(hrms, ada["id"]) == []


async def test_another_companys_employee_is_not_found_and_stays_as_it_was(
    api: httpx.AsyncClient, hrms: SystemRuntime
) -> None:
    ada = await new_employee(api, "Ada", "Lovelace")
    other = await new_company(api, "Other Co")
    path = f"/api/employee/employees/{ada['id']}"
    r = await api.patch(path, json={"last_name": "Stolen"}, headers=acting_for(hrms, other["id"]))
    assert r.status_code == 404, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("not-found")
    assert ok(await api.get(path))["last_name"] == "Lovelace"
    assert await updates_of(hrms, ada["id"]) == []


async def test_a_deactivated_employee_is_not_renamed(api: httpx.AsyncClient, hrms: SystemRuntime) -> None:
    ada = await new_employee(api)
    ok(await api.post(f"/api/employee/employees/{ada['id']}/deactivate"))
    r = await api.patch(f"/api/employee/employees/{ada['id']}", json={"last_name": "Later"})
    assert r.status_code == 409, r.text
    assert r.json()["type"].endswith("employee-inactive")
    assert await updates_of(hrms, ada["id"]) == []


async def test_a_rename_costs_no_recount_and_no_dispatcher_wake_up(
    api: httpx.AsyncClient, hrms: SystemRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a rename cannot change is not redone: the company service recounts a
    headcount only for events that can move it, and the notification dispatcher is
    woken only by a commit that queued a notification. A deactivation still does both
    its recount and its count."""
    from hrms.services.company import service as company_service

    ada = await new_employee(api, "Ada", "Lovelace")
    await new_employee(api, "Grace", "Hopper", company_id=ada["company_id"])
    await hrms.settle()
    recounts: list[object] = []
    real_recount = company_service.recount

    async def recount(**kw: Any) -> None:
        recounts.append(kw["company_id"])
        await real_recount(**kw)

    monkeypatch.setattr(company_service, "recount", recount)
    dispatcher = hrms["notification"].workers["dispatcher"]
    wakes: list[None] = []
    real_wake = dispatcher.wake
    monkeypatch.setattr(dispatcher, "wake", lambda: (wakes.append(None), real_wake())[1])

    ok(await api.patch(f"/api/employee/employees/{ada['id']}", json={"last_name": "King"}))
    await hrms.settle()
    assert recounts == []
    assert wakes == []
    company = ok(await api.get(f"/api/company/companies/{ada['company_id']}"))
    assert company["headcount"] == 2

    ok(await api.post(f"/api/employee/employees/{ada['id']}/deactivate"))
    await hrms.settle()
    assert [str(c) for c in recounts] == [ada["company_id"]]
    company = ok(await api.get(f"/api/company/companies/{ada['company_id']}"))
    assert company["headcount"] == 1
