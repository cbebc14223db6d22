"""A deactivated employee's open tasks wait for a new assignee: marked by the
EmployeeDeactivated handler (once, whatever is redelivered or late), listed for admins
and managers, cleared by a reassignment (or by finishing or cancelling the task)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from hrms.contracts.employee import EmployeeDeactivated, EmployeeUpdated
from isles import Event, utcnow
from isles.core.events import Envelope
from isles.runtime.system import SystemRuntime
from tests.hrms.helpers import ok
from tests.hrms.tasks.helpers import Company, Person, company, new_task, task_events

pytestmark = [pytest.mark.integration, pytest.mark.services("tasks")]


@pytest.fixture
async def acme(api: httpx.AsyncClient, hrms: SystemRuntime) -> Company:
    return await company(api, hrms, "Acme")


async def deactivate(api: httpx.AsyncClient, hrms: SystemRuntime, who: Person) -> Any:
    gone = ok(await api.post(f"/api/employee/employees/{who.id}/deactivate"))
    await hrms.settle()
    return gone


async def flagged(api: httpx.AsyncClient, by: Person) -> list[str]:
    page = ok(
        await api.get("/api/tasks/tasks", params={"needs_reassignment": "true", "sort": "title"}, headers=by.headers)
    )
    return [t["title"] for t in page["items"]]


def envelope(event: Event, employee_id: str, version: int) -> Envelope:
    return Envelope.new(
        event, source="/isles/employee", aggregate_type="employee", aggregate_id=employee_id, aggregate_version=version
    )


def deactivated(who: Person) -> EmployeeDeactivated:
    e = who.employee
    return EmployeeDeactivated(
        id=uuid.UUID(e["id"]),
        first_name=e["first_name"],
        last_name=e["last_name"],
        email=e["email"],
        deactivated_at=utcnow(),
        company_id=uuid.UUID(e["company_id"]),
        user_id=uuid.UUID(e["user_id"]),
    )


async def test_deactivation_marks_open_tasks_and_reassignment_clears_them(
    api: httpx.AsyncClient, hrms: SystemRuntime, acme: Company
) -> None:
    boss = acme.manager
    todo = await new_task(api, boss, title="A todo", assignee_id=acme.ada.id)
    doing = await new_task(api, boss, title="B doing", assignee_id=acme.ada.id)
    done = await new_task(api, boss, title="C done", assignee_id=acme.ada.id)
    dropped = await new_task(api, boss, title="D cancelled", assignee_id=acme.ada.id)
    bobs = await new_task(api, boss, title="E bob's", assignee_id=acme.bob.id)
    made = await new_task(api, acme.ada, title="F made by ada", assignee_id=acme.bob.id)
    ok(await api.patch(f"/api/tasks/tasks/{doing['id']}", json={"status": "IN_PROGRESS"}, headers=boss.headers))
    ok(await api.patch(f"/api/tasks/tasks/{done['id']}", json={"status": "DONE"}, headers=boss.headers))
    ok(await api.patch(f"/api/tasks/tasks/{dropped['id']}", json={"status": "CANCELLED"}, headers=boss.headers))
    before = (await api.get(f"/api/tasks/tasks/{todo['id']}", headers=boss.headers)).headers["ETag"]
    assert await flagged(api, boss) == []

    await deactivate(api, hrms, acme.ada)
    assert await flagged(api, boss) == ["A todo", "B doing"]
    assert await flagged(api, acme.admin) == ["A todo", "B doing"]
    assert await flagged(api, acme.bob) == []  # not his tasks
    marked = await api.get(f"/api/tasks/tasks/{todo['id']}", headers=boss.headers)
    assert ok(marked)["needs_reassignment"] is True
    assert marked.headers["ETag"] != before, "the mark is a change: a stale If-Match is refused"
    for untouched in (done, dropped, bobs, made):
        assert (
            ok(await api.get(f"/api/tasks/tasks/{untouched['id']}", headers=boss.headers))["needs_reassignment"]
            is False
        )
    unmarked = ok(await api.get("/api/tasks/tasks", params={"needs_reassignment": "false"}, headers=boss.headers))
    assert {t["title"] for t in unmarked["items"]} == {"C done", "D cancelled", "E bob's", "F made by ada"}

    # Reassigning clears the mark and says who had it; cancelling clears it too.
    moved = ok(
        await api.post(
            f"/api/tasks/tasks/{todo['id']}/assign",
            json={"assignee_id": acme.cid.id},
            headers={**boss.headers, "If-Match": marked.headers["ETag"]},
        )
    )
    assert (moved["assignee_id"], moved["needs_reassignment"]) == (acme.cid.id, False)
    (_t, _v, _first), (kind, _v2, event) = await task_events(hrms, todo["id"])
    assert (kind, event["assignee_id"], event["previous_assignee_id"], event["assigned_by"]) == (
        "tasks.TaskAssigned",
        acme.cid.id,
        acme.ada.id,
        boss.id,
    )
    assert await flagged(api, boss) == ["B doing"]
    ok(await api.patch(f"/api/tasks/tasks/{doing['id']}", json={"status": "CANCELLED"}, headers=boss.headers))
    assert await flagged(api, boss) == []

    # Reopening a task whose assignee has gone marks it again.
    reopened = ok(await api.patch(f"/api/tasks/tasks/{done['id']}", json={"status": "TODO"}, headers=boss.headers))
    assert reopened["needs_reassignment"] is True
    assert await flagged(api, boss) == ["C done"]


async def test_a_redelivered_or_late_deactivation_marks_nothing_more(
    api: httpx.AsyncClient, hrms: SystemRuntime, acme: Company
) -> None:
    boss = acme.manager
    task = await new_task(api, boss, title="Open", assignee_id=acme.ada.id)
    gone = await deactivate(api, hrms, acme.ada)
    url = f"/api/tasks/tasks/{task['id']}"
    marked = ok(await api.get(url, headers=boss.headers))
    assert marked["needs_reassignment"] is True
    consumer = hrms["tasks"].consumer
    assert consumer is not None
    # The same deactivation again (another delivery of it): the task's version stays.
    await consumer.deliver(envelope(deactivated(acme.ada), acme.ada.id, gone["version"]))
    assert ok(await api.get(url, headers=boss.headers)) == marked
    # Reassigned to Bob, then an old deactivation of Ada arrives: Bob's task stays as it is.
    ok(await api.post(f"{url}/assign", json={"assignee_id": acme.bob.id}, headers=boss.headers))
    await consumer.deliver(envelope(deactivated(acme.ada), acme.ada.id, gone["version"] - 1))
    now = ok(await api.get(url, headers=boss.headers))
    assert (now["needs_reassignment"], now["assignee_id"]) == (False, acme.bob.id)
    assert [t for t, _v, _d in await task_events(hrms, task["id"])] == ["tasks.TaskAssigned"] * 2


async def test_a_deactivation_older_than_a_reactivation_marks_nothing(
    api: httpx.AsyncClient, hrms: SystemRuntime, acme: Company
) -> None:
    boss = acme.manager
    task = await new_task(api, boss, title="Open", assignee_id=acme.bob.id)
    e = acme.bob.employee
    consumer = hrms["tasks"].consumer
    assert consumer is not None
    back = EmployeeUpdated(
        id=uuid.UUID(e["id"]),
        first_name=e["first_name"],
        last_name=e["last_name"],
        email=e["email"],
        is_active=True,
        company_id=uuid.UUID(e["company_id"]),
        user_id=uuid.UUID(e["user_id"]),
    )
    await consumer.deliver(envelope(back, acme.bob.id, e["version"] + 2))  # active again (newer)...
    await consumer.deliver(envelope(deactivated(acme.bob), acme.bob.id, e["version"] + 1))  # ...arrives first
    assert ok(await api.get(f"/api/tasks/tasks/{task['id']}", headers=boss.headers))["needs_reassignment"] is False
    assert await flagged(api, boss) == []
