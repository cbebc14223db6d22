"""A company's structure, on SQLite and PostgreSQL: settings, departments (a manager
checked with the employee service), teams and their members; the headcount kept from
employee events; employees' managers, reports and profiles; and a manager's scope."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from isles import ACROSS_TENANTS
from isles.core.events import Envelope
from isles.runtime.system import SystemRuntime
from isles.storage.schema import outbox_table
from tests.hrms.helpers import (
    assign,
    count,
    headers_of,
    new_company,
    new_employee,
    new_project,
    ok,
    user_with_password,
    value,
)

pytestmark = pytest.mark.integration


def fields(r: httpx.Response) -> list[str]:
    return [e["field"] for e in r.json()["errors"]]


async def test_settings_departments_and_teams(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    company = (await new_company(api, "Structured"))["id"]
    other = (await new_company(api, "Elsewhere"))["id"]
    path = f"/api/company/companies/{company}/settings"
    ok(await api.put(f"{path}/week.start", json={"value": "monday"}))
    ok(await api.put(f"{path}/week.start", json={"value": "sunday"}))
    assert [(s["key"], s["value"]) for s in ok(await api.get(path))] == [("week.start", "sunday")]
    assert (await api.put(f"{path}/Bad Key!", json={"value": "x"})).status_code == 422
    ok(await api.delete(f"{path}/week.start"), 204)
    assert (await api.delete(f"{path}/week.start")).status_code == 404

    boss = await new_employee(api, "Bo", "Ss", company_id=company)
    stranger = await new_employee(api, "Out", "Sider", company_id=other)
    body = {"name": "Research", "company_id": company}
    r = await api.post("/api/company/departments", json={**body, "manager_id": stranger["id"]})
    assert r.status_code == 422, "another company's employee is unknown here"
    assert fields(r) == ["manager_id"]
    dept = ok(await api.post("/api/company/departments", json={**body, "manager_id": boss["id"]}), 201)
    assert (await api.post("/api/company/departments", json=body)).status_code == 409

    worker = await new_employee(api, "Wo", "Rker", company_id=company, department_id=dept["id"], manager_id=boss["id"])
    assert worker["department_id"] == dept["id"]
    assert worker["manager_id"] == boss["id"]
    r = await api.post(
        "/api/employee/employees",
        json={
            "employee_number": "X-404",
            "company_id": company,
            "first_name": "No",
            "last_name": "Dept",
            "email": "no.dept@example.com",
            "hire_date": "2024-01-01",
            "department_id": str(uuid.uuid4()),
        },
    )
    assert r.status_code == 422, "checked with the company service"
    assert fields(r) == ["department_id"]

    team = ok(
        await api.post(
            "/api/company/teams",
            json={"name": "Lab", "company_id": company, "department_id": dept["id"], "lead_id": boss["id"]},
        ),
        201,
    )
    members = f"/api/company/teams/{team['id']}/members"
    ok(await api.put(f"{members}/{worker['id']}", json={}), 201)
    ok(await api.put(f"{members}/{worker['id']}", json={"role": "lead"}), 200)
    r = await api.put(f"{members}/{stranger['id']}", json={})
    assert r.status_code == 422
    assert fields(r) == ["employee_id"]
    assert [(m["employee_id"], m["role"]) for m in ok(await api.get(members))] == [(worker["id"], "lead")]
    assert ok(await api.get(f"/api/company/teams/{team['id']}"))["members"] == 1

    # Deleting the department: the team stays in none; the employee service leaves
    # its employees in none (on DepartmentDeleted).
    ok(await api.delete(f"/api/company/departments/{dept['id']}"), 204)
    await hrms.settle()
    assert ok(await api.get(f"/api/company/teams/{team['id']}"))["department_id"] is None
    assert ok(await api.get(f"/api/employee/employees/{worker['id']}"))["department_id"] is None

    # An employee who leaves: out of the team, no longer its lead, not counted.
    await hrms.settle()
    assert ok(await api.get(f"/api/company/companies/{company}"))["headcount"] == 2
    ok(await api.post(f"/api/employee/employees/{worker['id']}/deactivate"))
    ok(await api.post(f"/api/employee/employees/{boss['id']}/deactivate"))
    await hrms.settle()
    assert ok(await api.get(members)) == []
    assert ok(await api.get(f"/api/company/teams/{team['id']}"))["lead_id"] is None
    assert ok(await api.get(f"/api/company/companies/{company}"))["headcount"] == 0
    assert await count(hrms, "company", "employee_copies", company_id=uuid.UUID(company)) == 2


async def test_the_headcount_follows_employee_events_once_each(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    company = (await new_company(api, "Counted"))["id"]
    people = [await new_employee(api, f"P{i}", "Count", company_id=company) for i in range(3)]
    await hrms.settle()
    assert ok(await api.get(f"/api/company/companies/{company}"))["headcount"] == 3
    ok(await api.post(f"/api/employee/employees/{people[0]['id']}/deactivate"))
    ok(await api.patch(f"/api/employee/employees/{people[1]['id']}", json={"position": "Lead"}))
    await hrms.settle()
    assert ok(await api.get(f"/api/company/companies/{company}"))["headcount"] == 2
    # Every employee event again, as duplicates under new ids (past the inbox) and in
    # reverse order: the replica keeps the newest version, the recount the same number.
    async with hrms["employee"].db.read_session(tenant=ACROSS_TENANTS) as session:
        payloads = list(await session.scalars(select(outbox_table.c.payload).order_by(outbox_table.c.id.desc())))
    consumer = hrms["company"].consumer
    assert consumer is not None
    for payload in payloads:
        await consumer.deliver(dataclasses.replace(Envelope.from_json(payload), id=str(uuid.uuid4())))
    await hrms.settle()
    assert ok(await api.get(f"/api/company/companies/{company}"))["headcount"] == 2


async def test_managers_reports_and_profiles(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    company = (await new_company(api, "Chain"))["id"]
    top = await new_employee(api, "Top", "Boss", company_id=company)
    mid = await new_employee(api, "Mid", "Boss", company_id=company, manager_id=top["id"])
    low = await new_employee(api, "Low", "Worker", company_id=company, manager_id=mid["id"])
    direct = ok(await api.get(f"/api/employee/employees/{top['id']}/reports"))
    assert [e["id"] for e in direct] == [mid["id"]]
    everyone = ok(await api.get(f"/api/employee/employees/{top['id']}/reports", params={"all": "true"}))
    assert {e["id"] for e in everyone} == {mid["id"], low["id"]}
    r = await api.patch(f"/api/employee/employees/{top['id']}", json={"manager_id": low["id"]})
    assert r.status_code == 422
    assert r.json()["errors"][0]["code"] == "cycle"
    r = await api.patch(f"/api/employee/employees/{top['id']}", json={"manager_id": top["id"]})
    assert r.status_code == 422
    assert fields(r) == ["manager_id"]

    profile = {
        "gender": "female",
        "date_of_birth": "1990-05-01",
        "skills": ["Python", "SQL", "O'Reilly; DROP TABLE employees;--"],
        "certifications": ["AWS SA"],
    }
    ok(await api.put(f"/api/employee/employees/{low['id']}/profile", json=profile))
    got = ok(await api.get(f"/api/employee/employees/{low['id']}/profile"))
    assert got["skills"] == profile["skills"]
    assert got["certifications"] == ["AWS SA"]
    assert ok(await api.get(f"/api/employee/employees/{mid['id']}/profile"))["skills"] == []
    too_many = {"skills": [f"s{i}" for i in range(101)]}
    r = await api.put(f"/api/employee/employees/{low['id']}/profile", json=too_many)
    assert r.status_code == 422
    assert fields(r) == ["skills"]


async def test_a_manager_sees_and_changes_only_their_team(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    company = (await new_company(api, "Scoped"))["id"]
    dept = ok(await api.post("/api/company/departments", json={"name": "Ops", "company_id": company}), 201)
    elsewhere = ok(await api.post("/api/company/departments", json={"name": "Sales", "company_id": company}), 201)
    manager = await user_with_password(api, company, "manager", department_id=dept["id"])
    report = await new_employee(api, "Re", "Port", company_id=company, manager_id=manager["id"])
    colleague = await new_employee(api, "Col", "League", company_id=company, department_id=dept["id"])
    outsider = await new_employee(api, "Out", "Sider", company_id=company, department_id=elsewhere["id"])
    worker = await user_with_password(api, company, "employee", department_id=dept["id"])
    team = ok(await api.post("/api/company/teams", json={"name": "Mine", "company_id": company}), 201)
    not_led = ok(await api.post("/api/company/teams", json={"name": "Theirs", "company_id": company}), 201)
    ok(await api.patch(f"/api/company/teams/{team['id']}", json={"lead_id": manager["id"]}))
    await hrms.settle()  # the company service learns who the manager is from events

    as_manager = await headers_of(api, manager)
    seen = ok(await api.get("/api/employee/employees", headers=as_manager))
    assert {e["id"] for e in seen["items"]} == {manager["id"], report["id"], colleague["id"], worker["id"]}
    assert (await api.get(f"/api/employee/employees/{outsider['id']}", headers=as_manager)).status_code == 404
    r = await api.patch(f"/api/employee/employees/{outsider['id']}", json={"position": "X"}, headers=as_manager)
    assert r.status_code == 404
    ok(await api.patch(f"/api/employee/employees/{report['id']}", json={"position": "Analyst"}, headers=as_manager))
    r = await api.patch(
        f"/api/employee/employees/{colleague['id']}", json={"department_id": elsewhere["id"]}, headers=as_manager
    )
    assert r.status_code == 403, "a manager does not move people out of their reach"

    members = f"/api/company/teams/{team['id']}/members"
    ok(await api.put(f"{members}/{report['id']}", json={}, headers=as_manager), 201)
    r = await api.put(f"/api/company/teams/{not_led['id']}/members/{report['id']}", json={}, headers=as_manager)
    assert r.status_code == 403
    assert r.json()["permission"] == "teams:write"
    r = await api.post("/api/company/teams", json={"name": "Nope"}, headers=as_manager)
    assert r.status_code == 403, "creating teams is an admin's"

    as_worker = await headers_of(api, worker)
    own: dict[str, Any] = {"skills": ["Welding"]}
    ok(await api.put(f"/api/employee/employees/{worker['id']}/profile", json=own, headers=as_worker))
    r = await api.put(f"/api/employee/employees/{colleague['id']}/profile", json=own, headers=as_worker)
    assert r.status_code == 404, "a colleague's profile is out of an employee's sight"
    r = await api.put(f"{members}/{worker['id']}", json={}, headers=as_worker)
    assert r.status_code == 403


async def test_assignments_an_employee_reads_and_a_manager_makes(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    company = (await new_company(api, "Assigned"))["id"]
    dept = ok(await api.post("/api/company/departments", json={"name": "Build", "company_id": company}), 201)
    manager = await user_with_password(api, company, "manager", department_id=dept["id"])
    report = await new_employee(api, "Re", "Port", company_id=company, manager_id=manager["id"])
    outsider = await new_employee(api, "Out", "Sider", company_id=company)
    worker = await user_with_password(api, company, "employee", manager_id=manager["id"])
    project = await new_project(api, "Bridge", company_id=company)
    theirs = ok(await assign(api, outsider, project), 201)
    mine = ok(await assign(api, worker, project), 201)
    await hrms.settle()  # the project service learns which user each employee is

    as_worker = await headers_of(api, worker)
    listed = ok(await api.get("/api/project/assignments", headers=as_worker))
    assert [a["id"] for a in listed["items"]] == [mine["id"]], "an employee reads their own assignments"
    assert (await api.get(f"/api/project/assignments/{theirs['id']}", headers=as_worker)).status_code == 404

    as_manager = await headers_of(api, manager)
    ok(await assign(api, report, project, headers=as_manager), 201)
    r = await assign(api, outsider, project, headers=as_manager)
    assert r.status_code == 422, "out of the manager's reach: as if unknown"
    assert fields(r) == ["employee_id"]
    assert (await api.delete(f"/api/project/assignments/{theirs['id']}", headers=as_manager)).status_code == 422
    ok(await api.delete(f"/api/project/assignments/{mine['id']}", headers=as_manager), 204)


async def test_employee_views_name_their_department_and_manager(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    """Issue 15, 12: names, not only ids; the department's name is kept from company
    events, so a rename reaches the employee views without a call."""
    company = (await new_company(api, "Named"))["id"]
    boss = await new_employee(api, "Grace", "Hopper", company_id=company)
    dept = ok(await api.post("/api/company/departments", json={"name": "Research", "company_id": company}), 201)
    await hrms.settle()
    worker = await new_employee(
        api, "Ada", "Lovelace", company_id=company, department_id=dept["id"], manager_id=boss["id"]
    )
    assert (worker["department_name"], worker["manager_name"]) == ("Research", "Grace Hopper")
    url = f"/api/employee/employees/{worker['id']}"
    ok(await api.patch(f"/api/company/departments/{dept['id']}", json={"name": "Research & Development"}))
    await hrms.settle()
    read = ok(await api.get(url))
    assert (read["department_name"], read["manager_name"]) == ("Research & Development", "Grace Hopper")
    listed = ok(await api.get("/api/employee/employees", params={"company_id": company, "q": "Lovelace"}))
    assert listed["items"][0]["department_name"] == "Research & Development"
    ok(await api.delete(f"/api/company/departments/{dept['id']}"), 204)
    await hrms.settle()
    gone = ok(await api.get(url))
    assert (gone["department_id"], gone["department_name"]) == (None, None)
    assert (ok(await api.get(f"/api/employee/employees/{boss['id']}")))["manager_name"] is None


async def test_departments_made_before_the_replica_are_announced_by_a_migration(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    """Issue 15, 12, for data that existed before: the employee service's department
    copies began with employee revision 0007, so a department made before it was
    never announced there. Company revision 0004 announces every department once more
    (isles.announce, through the outbox); the names appear, and a second announcement
    of what a replica has changes nothing."""
    from isles.storage import migrations

    company = (await new_company(api, "Older"))["id"]
    dept = ok(await api.post("/api/company/departments", json={"name": "Archive", "company_id": company}), 201)
    await hrms.settle()
    worker = await new_employee(api, "Old", "Timer", company_id=company, department_id=dept["id"])
    url = f"/api/employee/employees/{worker['id']}"
    assert ok(await api.get(url))["department_name"] == "Archive"
    async with (
        hrms["employee"].db.writing(tenant=ACROSS_TENANTS) as session,
        session.begin(),
    ):  # as before revision 0007
        await session.execute(text("DELETE FROM department_copies"))
    assert ok(await api.get(url))["department_name"] is None

    company_rt = hrms["company"]
    await migrations.downgrade(company_rt.db, company_rt.service, "0003")
    await migrations.upgrade(company_rt.db, company_rt.service)
    await hrms.settle()
    assert ok(await api.get(url))["department_name"] == "Archive"
    version = await value(hrms, "employee", "department_copies", "version", id=uuid.UUID(dept["id"]))

    await migrations.downgrade(company_rt.db, company_rt.service, "0003")  # announced again: nothing changes
    await migrations.upgrade(company_rt.db, company_rt.service)
    await hrms.settle()
    assert ok(await api.get(url))["department_name"] == "Archive"
    assert await value(hrms, "employee", "department_copies", "version", id=uuid.UUID(dept["id"])) == version
