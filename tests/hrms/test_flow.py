"""The slice end to end over HTTP: employees -> project assignments, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from sqlalchemy import select

from isles import ACROSS_TENANTS
from isles.runtime.system import SystemRuntime
from isles.storage.schema import outbox_table
from tests.hrms.helpers import assign, assignments_of, new_employee, new_project, ok

pytestmark = pytest.mark.integration


async def test_assignment_carries_both_names(api: httpx.AsyncClient) -> None:
    ada = await new_employee(api, "Ada", "Lovelace")
    apollo = await new_project(api, "Apollo")
    created = ok(await assign(api, ada, apollo, role="Lead", allocation=60), 201)
    assert created["employee_name"] == "Ada Lovelace"
    assert created["project_name"] == "Apollo"
    assert created["employee_active"] is True
    fetched = ok(await api.get(f"/api/project/assignments/{created['id']}"))
    assert fetched == created
    project = ok(await api.get(f"/api/project/projects/{apollo['id']}"))
    assert (project["assigned_count"], project["capacity_left"]) == (1, 4)


async def test_rename_reaches_every_assignment(api: httpx.AsyncClient, hrms: SystemRuntime) -> None:
    ada = await new_employee(api, "Ada", "Lovelace")
    grace = await new_employee(api, "Grace", "Hopper")
    projects = [await new_project(api, f"P{i}") for i in range(3)]
    for p in projects:
        ok(await assign(api, ada, p, allocation=30), 201)
    ok(await assign(api, grace, projects[0]), 201)

    renamed = ok(await api.patch(f"/api/employee/employees/{ada['id']}", json={"last_name": "King"}))
    assert renamed["version"] == ada["version"] + 1
    await hrms.settle()

    names = {a["employee_name"] for a in await assignments_of(api, ada["id"])}
    assert names == {"Ada King"}
    assert [a["employee_name"] for a in await assignments_of(api, grace["id"])] == ["Grace Hopper"]


async def test_project_rename_updates_its_assignments_at_once(api: httpx.AsyncClient) -> None:
    ada = await new_employee(api)
    apollo = await new_project(api, "Apollo")
    other = await new_project(api, "Gemini")
    a1 = ok(await assign(api, ada, apollo), 201)
    a2 = ok(await assign(api, ada, other), 201)
    ok(await api.patch(f"/api/project/projects/{apollo['id']}", json={"name": "Artemis"}))
    # Same service, same database: no waiting for events.
    assert ok(await api.get(f"/api/project/assignments/{a1['id']}"))["project_name"] == "Artemis"
    assert ok(await api.get(f"/api/project/assignments/{a2['id']}"))["project_name"] == "Gemini"


async def test_assignments_carry_the_client_and_follow_its_change(api: httpx.AsyncClient) -> None:
    ada = await new_employee(api)
    apollo = await new_project(api, "Apollo")
    other = await new_project(api, "Gemini")
    a1 = ok(await assign(api, ada, apollo), 201)
    a2 = ok(await assign(api, ada, other), 201)
    assert a1["client_name"] == apollo["client"]
    ok(await api.patch(f"/api/project/projects/{apollo['id']}", json={"client": "Artemis Corp"}))
    # Same service, same transaction as the project's change.
    assert ok(await api.get(f"/api/project/assignments/{a1['id']}"))["client_name"] == "Artemis Corp"
    assert ok(await api.get(f"/api/project/assignments/{a2['id']}"))["client_name"] == other["client"]
    listed = ok(await api.get("/api/project/assignments", params={"employee_id": ada["id"]}))["items"]
    assert {a["client_name"] for a in listed} == {"Artemis Corp", other["client"]}


async def test_deactivation_is_reflected_on_assignments(api: httpx.AsyncClient, hrms: SystemRuntime) -> None:
    ada = await new_employee(api)
    a = ok(await assign(api, ada, await new_project(api)), 201)
    deactivated = ok(await api.post(f"/api/employee/employees/{ada['id']}/deactivate"))
    assert deactivated["is_active"] is False
    again = ok(await api.post(f"/api/employee/employees/{ada['id']}/deactivate"))
    assert again["version"] == deactivated["version"], "deactivating twice changes nothing"
    await hrms.settle()
    assert ok(await api.get(f"/api/project/assignments/{a['id']}"))["employee_active"] is False
    refused = await assign(api, ada, await new_project(api, "Later"))
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "employee_id"
    assert refused.json()["errors"][0]["code"] == "inactive"


async def test_soft_delete_keeps_the_row_and_frees_capacity(api: httpx.AsyncClient) -> None:
    ada, grace = await new_employee(api), await new_employee(api, "Grace", "Hopper")
    tiny = await new_project(api, "Tiny", capacity=1)
    a = ok(await assign(api, ada, tiny), 201)
    full = await assign(api, grace, tiny)
    assert full.status_code == 422
    assert full.json()["errors"][0]["code"] == "no_capacity"

    assert (await api.delete(f"/api/project/assignments/{a['id']}")).status_code == 204
    assert (await api.get(f"/api/project/assignments/{a['id']}")).status_code == 404
    kept = ok(await api.get(f"/api/project/assignments/{a['id']}", params={"include_deleted": "true"}))
    assert kept["deleted_at"] is not None
    assert (await api.delete(f"/api/project/assignments/{a['id']}")).status_code == 404
    ok(await assign(api, grace, tiny), 201)


async def test_lists_page_and_filter(api: httpx.AsyncClient) -> None:
    people = [await new_employee(api, f"P{i}", "Person") for i in range(5)]
    first = ok(await api.get("/api/employee/employees", params={"limit": 2, "offset": 0}))
    second = ok(await api.get("/api/employee/employees", params={"limit": 2, "offset": 2}))
    assert first["total"] == second["total"] == 5
    assert len(first["items"]) == len(second["items"]) == 2
    assert not {e["id"] for e in first["items"]} & {e["id"] for e in second["items"]}
    ok(await api.post(f"/api/employee/employees/{people[0]['id']}/deactivate"))
    active = ok(await api.get("/api/employee/employees", params={"is_active": "false"}))
    assert [e["id"] for e in active["items"]] == [people[0]["id"]]

    p1, p2 = await new_project(api, "One"), await new_project(api, "Two")
    ok(await assign(api, people[1], p1), 201)
    ok(await assign(api, people[1], p2), 201)
    ok(await assign(api, people[2], p2), 201)
    by_project = ok(await api.get("/api/project/assignments", params={"project_id": p2["id"]}))
    assert by_project["total"] == 2
    both = ok(
        await api.get("/api/project/assignments", params={"project_id": p2["id"], "employee_id": people[1]["id"]})
    )
    assert both["total"] == 1


async def test_completed_project_takes_no_assignments(api: httpx.AsyncClient) -> None:
    ada = await new_employee(api)
    apollo = await new_project(api)
    done = ok(await api.post(f"/api/project/projects/{apollo['id']}/complete"))
    assert done["status"] == "completed"
    assert done["completed_at"]
    again = ok(await api.post(f"/api/project/projects/{apollo['id']}/complete"))
    assert again["version"] == done["version"]
    refused = await assign(api, ada, apollo)
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {"field": "project_id", "message": f"project {apollo['id']} is completed", "code": "completed"}
    ]


async def test_events_are_cloudevents_with_growing_versions(api: httpx.AsyncClient, hrms: SystemRuntime) -> None:
    ada = await new_employee(api)
    ok(await api.patch(f"/api/employee/employees/{ada['id']}", json={"position": "CTO"}))
    ok(await api.patch(f"/api/employee/employees/{ada['id']}", json={"first_name": "Augusta"}))
    ok(await api.post(f"/api/employee/employees/{ada['id']}/deactivate"))
    async with hrms["employee"].db.read_session(tenant=ACROSS_TENANTS) as session:
        rows = (
            await session.execute(
                select(outbox_table.c.payload, outbox_table.c.aggregate_version)
                .where(outbox_table.c.aggregate_id == ada["id"])
                .order_by(outbox_table.c.id)
            )
        ).all()
    events = [json.loads(r.payload) for r in rows]
    assert [e["type"] for e in events] == [
        "employee.EmployeeCreated",
        "employee.EmployeeUpdated",
        "employee.EmployeeUpdated",
        "employee.EmployeeDeactivated",
    ]
    assert [e["aggregateversion"] for e in events] == [1, 2, 3, 4]
    for e in events:
        assert e["specversion"] == "1.0"
        assert e["source"] == "/isles/employee"
        assert e["subject"] == e["aggregateid"] == ada["id"]
        assert e["tenantid"] == ada["company_id"]
        assert e["traceparent"].startswith("00-")
        assert len(e["traceparent"]) == 55
        uuid.UUID(e["id"])
    assert events[1]["data"]["changes"] == ["position"]
    assert events[2]["schemaversion"] == 2


async def test_unknown_ids_answer_404_problems(api: httpx.AsyncClient) -> None:
    missing = uuid.uuid4()
    for path in (
        f"/api/employee/employees/{missing}",
        f"/api/project/projects/{missing}",
        f"/api/project/assignments/{missing}",
    ):
        r = await api.get(path)
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["status"] == 404
        assert str(missing) in r.json()["detail"]


async def test_events_continue_the_callers_trace(api: httpx.AsyncClient, hrms: SystemRuntime) -> None:
    ada = await new_employee(api)
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    caller = f"00-{trace_id}-00f067aa0ba902b7-01"
    ok(
        await api.patch(
            f"/api/employee/employees/{ada['id']}", json={"position": "CTO"}, headers={"traceparent": caller}
        )
    )
    async with hrms["employee"].db.read_session(tenant=ACROSS_TENANTS) as session:
        payload = await session.scalar(
            select(outbox_table.c.payload).where(outbox_table.c.aggregate_version == 2).limit(1)
        )
    traceparent = json.loads(payload)["traceparent"]
    assert traceparent.split("-")[1] == trace_id
    assert traceparent != caller, "the event is a new span in the caller's trace"


@pytest.mark.parametrize("docs", ["/docs", "/api/employee/docs", "/api/project/docs"])
async def test_docs_pages_load_everything_from_the_gateway(api: httpx.AsyncClient, docs: str) -> None:
    page = await api.get(docs)
    assert page.status_code == 200
    assert "cdn." not in page.text, "no asset from a CDN: the page must work offline"
    openapi = docs.removesuffix("docs") + "openapi.json"
    assert f"'{openapi}'" in page.text or f'"{openapi}"' in page.text
    for asset in ("/_assets/swagger/swagger-ui-bundle.js", "/_assets/swagger/swagger-ui.css"):
        assert asset in page.text
        served = await api.get(asset)
        assert served.status_code == 200
        assert len(served.content) > 10_000
    assert ok(await api.get(openapi))["openapi"].startswith("3.")
