"""Tasks through the public API: create, read, list with filters and cursor pages,
change with If-Match, move along the statuses (and the refused moves), assign within
the company only; who sees what; the events, once per change."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from isles.runtime.system import SystemRuntime
from tests.hrms.helpers import ok
from tests.hrms.tasks.helpers import Company, company, new_task, task_events, uid

pytestmark = [pytest.mark.integration, pytest.mark.services("tasks")]


@pytest.fixture
async def acme(api: httpx.AsyncClient, hrms: SystemRuntime) -> Company:
    return await company(api, hrms, "Acme")


async def test_create_and_read_a_task(api: httpx.AsyncClient, hrms: SystemRuntime, acme: Company) -> None:
    r = await api.post(
        "/api/tasks/tasks",
        json={
            "title": "  Review the radar  ",
            "priority": "high",
            "due_date": "2026-01-15",
            "assignee_id": acme.ada.id,
        },
        headers=acme.manager.headers,
    )
    task = ok(r, 201)
    assert r.headers["Location"].endswith(f"/api/tasks/tasks/{task['id']}")
    assert {k: task[k] for k in ("title", "status", "priority", "due_date", "company_id")} == {
        "title": "Review the radar",
        "status": "TODO",
        "priority": "high",
        "due_date": "2026-01-15",
        "company_id": acme.id,
    }
    assert (task["creator_id"], task["creator_name"]) == (acme.manager.id, "Margaret Hamilton")
    assert (task["assignee_id"], task["assignee_name"]) == (acme.ada.id, "Ada Lovelace")
    assert (task["needs_reassignment"], task["completed_at"], task["version"]) == (False, None, 1)
    got = await api.get(f"/api/tasks/tasks/{task['id']}", headers=acme.ada.headers)
    assert ok(got) == task
    assert got.headers["ETag"] == '"1"'
    # Unassigned: no event, version 0.
    alone = await new_task(api, acme.bob, title="Tidy the desk")
    assert (alone["assignee_id"], alone["creator_id"], alone["version"]) == (None, acme.bob.id, 0)
    assert await task_events(hrms, alone["id"]) == []


async def test_the_list_filters_and_pages_with_a_cursor(api: httpx.AsyncClient, acme: Company) -> None:
    a = await new_task(
        api, acme.manager, title="Alpha", priority="urgent", due_date="2026-01-10", assignee_id=acme.ada.id
    )
    b = await new_task(api, acme.manager, title="Bravo", priority="low", due_date="2026-02-10", assignee_id=acme.bob.id)
    c = await new_task(api, acme.ada, title="Charlie", assignee_id=acme.ada.id)
    d = await new_task(api, acme.admin, title="Delta", due_date="2026-03-10")
    ok(await api.patch(f"/api/tasks/tasks/{b['id']}", json={"status": "IN_PROGRESS"}, headers=acme.bob.headers))

    async def titles(**params: Any) -> list[str]:
        page = ok(await api.get("/api/tasks/tasks", params=params, headers=acme.manager.headers))
        return [t["title"] for t in page["items"]]

    assert await titles() == ["Delta", "Charlie", "Bravo", "Alpha"]  # newest first
    assert await titles(sort="title") == ["Alpha", "Bravo", "Charlie", "Delta"]
    assert await titles(status="IN_PROGRESS") == ["Bravo"]
    assert await titles(assignee_id=acme.ada.id, sort="title") == ["Alpha", "Charlie"]
    assert await titles(creator_id=acme.ada.id) == ["Charlie"]
    assert await titles(priority="urgent") == ["Alpha"]
    assert await titles(due_before="2026-02-10", sort="title") == ["Alpha", "Bravo"]
    assert await titles(due_after="2026-02-11") == ["Delta"]
    assert await titles(due_after="2026-01-11", due_before="2026-03-01") == ["Bravo"]
    assert await titles(needs_reassignment="false", q="alp") == ["Alpha"]
    assert {a["id"], c["id"], d["id"]} <= {
        t["id"] for t in ok(await api.get("/api/tasks/tasks", headers=acme.admin.headers))["items"]
    }

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, "sort": "title", **({"cursor": cursor} if cursor else {})}
        page = ok(await api.get("/api/tasks/tasks", params=params, headers=acme.manager.headers))
        assert page["total"] == 4 + (len(seen) > 0)  # the one added after the first page counts
        seen += [t["title"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        await new_task(api, acme.manager, title="Aardvark (added while paging)")
    assert seen == ["Alpha", "Bravo", "Charlie", "Delta"]


async def test_statuses_move_along_their_transitions(
    api: httpx.AsyncClient, hrms: SystemRuntime, acme: Company
) -> None:
    task = await new_task(api, acme.manager, assignee_id=acme.ada.id)
    url = f"/api/tasks/tasks/{task['id']}"

    async def move(to: str, who: Any) -> httpx.Response:
        return await api.patch(url, json={"status": to}, headers=who.headers)

    assert ok(await move("IN_PROGRESS", acme.ada))["status"] == "IN_PROGRESS"
    assert ok(await move("TODO", acme.ada))["status"] == "TODO"
    done = ok(await move("DONE", acme.ada))
    assert done["status"] == "DONE"
    assert done["completed_at"] is not None
    # Final: no move but a reopen (by the creator, an admin or a manager), no edits.
    refused = await move("CANCELLED", acme.manager)
    assert refused.status_code == 409
    assert [e["field"] for e in refused.json()["errors"]] == ["status"]
    edit = await api.patch(url, json={"title": "New"}, headers=acme.manager.headers)
    assert edit.status_code == 409
    assert [e["field"] for e in edit.json()["errors"]] == ["title"]
    assert (await move("IN_PROGRESS", acme.ada)).status_code == 403  # the assignee may not reopen
    reopened = ok(await move("IN_PROGRESS", acme.manager))
    assert (reopened["status"], reopened["completed_at"]) == ("IN_PROGRESS", None)
    assert (await move("CANCELLED", acme.ada)).status_code == 403  # nor cancel
    cancelled = ok(await move("CANCELLED", acme.admin))
    assert cancelled["status"] == "CANCELLED"
    assert (await move("DONE", acme.admin)).status_code == 409  # reopen first
    assert (await move("IN_PROGRESS", acme.admin)).status_code == 409  # a cancelled task reopens to TODO
    assert ok(await move("TODO", acme.manager))["status"] == "TODO"
    # The same status again changes nothing.
    same = ok(await move("TODO", acme.manager))
    assert same["version"] == ok(await api.get(url, headers=acme.manager.headers))["version"]
    # Creator's own task: an employee creator cancels and reopens it.
    own = await new_task(api, acme.bob, assignee_id=acme.ada.id)
    own_url = f"/api/tasks/tasks/{own['id']}"
    assert ok(await api.patch(own_url, json={"status": "CANCELLED"}, headers=acme.bob.headers))["status"] == "CANCELLED"
    assert ok(await api.patch(own_url, json={"status": "TODO"}, headers=acme.bob.headers))["status"] == "TODO"
    assert [t for t, _v, _d in await task_events(hrms, task["id"])] == ["tasks.TaskAssigned", "tasks.TaskCompleted"]


async def test_events_are_published_once_per_change_with_the_change(
    api: httpx.AsyncClient, hrms: SystemRuntime, acme: Company
) -> None:
    task = await new_task(
        api, acme.manager, title="Ship", priority="urgent", due_date="2026-05-01", assignee_id=acme.ada.id
    )
    url = f"/api/tasks/tasks/{task['id']}"
    ok(await api.post(f"{url}/assign", json={"assignee_id": acme.ada.id}, headers=acme.manager.headers))  # same: none
    ok(await api.post(f"{url}/assign", json={"assignee_id": acme.bob.id}, headers=acme.ada.headers))  # handed on
    ok(await api.patch(url, json={"title": "Ship it"}, headers=acme.bob.headers))  # no event
    ok(await api.patch(url, json={"status": "DONE"}, headers=acme.bob.headers))
    ok(await api.patch(url, json={"status": "DONE"}, headers=acme.bob.headers))  # again: nothing
    ok(await api.patch(url, json={"status": "TODO"}, headers=acme.manager.headers))
    final = ok(await api.patch(url, json={"status": "DONE"}, headers=acme.manager.headers))
    got = await task_events(hrms, task["id"])
    assert [(t, v) for t, v, _d in got] == [
        ("tasks.TaskAssigned", 1),
        ("tasks.TaskAssigned", 2),
        ("tasks.TaskCompleted", 4),
        ("tasks.TaskCompleted", 6),
    ]
    assert final["version"] == 6
    first, handed, done, _again = (d for _t, _v, d in got)
    assert (first["assignee_id"], first["previous_assignee_id"], first["assigned_by"]) == (
        acme.ada.id,
        None,
        acme.manager.id,
    )
    assert (first["priority"], first["due_date"], first["title"], first["creator_id"]) == (
        "urgent",
        "2026-05-01",
        "Ship",
        acme.manager.id,
    )
    assert (handed["assignee_id"], handed["previous_assignee_id"], handed["assigned_by"]) == (
        acme.bob.id,
        acme.ada.id,
        acme.ada.id,
    )
    assert (done["title"], done["assignee_id"], done["completed_by"], done["company_id"]) == (
        "Ship it",
        acme.bob.id,
        acme.bob.id,
        acme.id,
    )


async def test_only_active_people_of_the_company_can_be_assigned(
    api: httpx.AsyncClient, hrms: SystemRuntime, acme: Company
) -> None:
    other = await company(api, hrms, "Globex")
    task = await new_task(api, acme.manager)
    url = f"/api/tasks/tasks/{task['id']}/assign"

    def problem(r: httpx.Response) -> tuple[int, list[str], str]:
        body = r.json()
        return r.status_code, [e["field"] for e in body["errors"]], body["errors"][0]["message"]

    unknown, foreign = uid(), other.ada.id
    at_unknown = problem(await api.post(url, json={"assignee_id": unknown}, headers=acme.manager.headers))
    at_foreign = problem(await api.post(url, json={"assignee_id": foreign}, headers=acme.manager.headers))
    assert at_unknown == (422, ["assignee_id"], f"employee {unknown} does not exist")
    assert at_foreign == (422, ["assignee_id"], f"employee {foreign} does not exist")  # nothing more
    created = await api.post("/api/tasks/tasks", json={"title": "X", "assignee_id": foreign}, headers=acme.ada.headers)
    assert problem(created) == (422, ["assignee_id"], f"employee {foreign} does not exist")
    # The operator creating in Acme cannot give it to Globex's people either.
    as_operator = await api.post("/api/tasks/tasks", json={"title": "X", "company_id": acme.id, "assignee_id": foreign})
    assert problem(as_operator)[:2] == (422, ["assignee_id"])
    named = await api.post("/api/tasks/tasks", json={"title": "X", "company_id": other.id}, headers=acme.admin.headers)
    assert problem(named)[:2] == (422, ["company_id"])
    ok(await api.post(f"/api/employee/employees/{acme.cid.id}/deactivate"))
    await hrms.settle()
    inactive = problem(await api.post(url, json={"assignee_id": acme.cid.id}, headers=acme.manager.headers))
    assert inactive[:2] == (422, ["assignee_id"])
    assert "not active" in inactive[2]
    assert ok(await api.get(f"/api/tasks/tasks/{task['id']}", headers=acme.manager.headers))["assignee_id"] is None
    assert await task_events(hrms, task["id"]) == []


async def test_an_employee_sees_and_changes_only_their_tasks(api: httpx.AsyncClient, acme: Company) -> None:
    theirs = await new_task(api, acme.manager, title="Bob's", assignee_id=acme.bob.id)
    made = await new_task(api, acme.ada, title="Ada made it", assignee_id=acme.bob.id)
    given = await new_task(api, acme.manager, title="Ada's", assignee_id=acme.ada.id)
    mine = ok(await api.get("/api/tasks/tasks", params={"sort": "title"}, headers=acme.ada.headers))
    assert [t["title"] for t in mine["items"]] == ["Ada made it", "Ada's"]
    assert mine["total"] == 2
    # Filters cannot widen the scope.
    assert ok(await api.get("/api/tasks/tasks", params={"assignee_id": acme.bob.id}, headers=acme.ada.headers))[
        "items"
    ] == [ok(await api.get(f"/api/tasks/tasks/{made['id']}", headers=acme.ada.headers))]
    url = f"/api/tasks/tasks/{theirs['id']}"
    for r in (
        await api.get(url, headers=acme.ada.headers),
        await api.patch(url, json={"title": "Mine now"}, headers=acme.ada.headers),
        await api.post(f"{url}/assign", json={"assignee_id": acme.ada.id}, headers=acme.ada.headers),
    ):
        assert r.status_code == 404, r.text
    # A manager and an admin see every task of the company.
    for boss in (acme.manager, acme.admin):
        page = ok(await api.get("/api/tasks/tasks", headers=boss.headers))
        assert {theirs["id"], made["id"], given["id"]} <= {t["id"] for t in page["items"]}
    # The assignee progresses it, and may not reassign what is not theirs to hand on... but may hand theirs on.
    assert (
        ok(await api.patch(f"/api/tasks/tasks/{given['id']}", json={"priority": "low"}, headers=acme.ada.headers))[
            "priority"
        ]
        == "low"
    )
    handed = await api.post(
        f"/api/tasks/tasks/{given['id']}/assign", json={"assignee_id": acme.cid.id}, headers=acme.ada.headers
    )
    assert ok(handed)["assignee_id"] == acme.cid.id
    assert (await api.get(f"/api/tasks/tasks/{given['id']}", headers=acme.ada.headers)).status_code == 404


async def test_another_companys_task_is_not_there(api: httpx.AsyncClient, hrms: SystemRuntime, acme: Company) -> None:
    other = await company(api, hrms, "Globex")
    theirs = await new_task(api, other.manager, assignee_id=other.ada.id)
    url = f"/api/tasks/tasks/{theirs['id']}"
    for who in (acme.admin, acme.manager):
        assert (await api.get(url, headers=who.headers)).status_code == 404
        assert (await api.patch(url, json={"status": "DONE"}, headers=who.headers)).status_code == 404
        assign = await api.post(f"{url}/assign", json={"assignee_id": acme.ada.id}, headers=who.headers)
        assert assign.status_code == 404
        listed = ok(await api.get("/api/tasks/tasks", params={"assignee_id": other.ada.id}, headers=who.headers))
        assert listed["items"] == []
        assert listed["total"] == 0
    assert ok(await api.get(url, headers=other.ada.headers))["status"] == "TODO"


async def test_if_match_refuses_a_stale_change(api: httpx.AsyncClient, acme: Company) -> None:
    task = await new_task(api, acme.manager, assignee_id=acme.ada.id)
    url = f"/api/tasks/tasks/{task['id']}"
    etag = (await api.get(url, headers=acme.ada.headers)).headers["ETag"]
    first = await api.patch(url, json={"priority": "high"}, headers={**acme.ada.headers, "If-Match": etag})
    assert ok(first)["version"] == 2
    assert first.headers["ETag"] == '"2"'
    stale = await api.patch(url, json={"priority": "low"}, headers={**acme.manager.headers, "If-Match": etag})
    assert stale.status_code == 412
    moved = await api.post(
        f"{url}/assign", json={"assignee_id": acme.bob.id}, headers={**acme.manager.headers, "If-Match": etag}
    )
    assert moved.status_code == 412
    now = ok(await api.get(url, headers=acme.manager.headers))
    assert (now["priority"], now["assignee_id"], now["version"]) == ("high", acme.ada.id, 2)


BAD_BODIES: list[tuple[str, str, dict[str, Any], str]] = [
    ("POST", "", {"title": ""}, "title"),
    ("POST", "", {"title": "x" * 201}, "title"),
    ("POST", "", {"title": "ok", "priority": "whenever"}, "priority"),
    ("POST", "", {"title": "ok", "due_date": "2026-02-30"}, "due_date"),
    ("POST", "", {"title": "ok", "assignee_id": "not-a-uuid"}, "assignee_id"),
    ("POST", "", {"title": "ok", "colour": "red"}, "colour"),
    ("PATCH", "/{id}", {"status": "FINISHED"}, "status"),
    ("PATCH", "/{id}", {"status": None}, "status"),
    ("PATCH", "/{id}", {"title": None}, "title"),
    ("PATCH", "/{id}", {"priority": None}, "priority"),
    ("POST", "/{id}/assign", {}, "assignee_id"),
]


async def test_bad_input_is_a_problem_naming_the_field(api: httpx.AsyncClient, acme: Company) -> None:
    task = await new_task(api, acme.manager)
    for method, path, body, field in BAD_BODIES:
        url = "/api/tasks/tasks" + path.format(id=task["id"])
        r = await api.request(method, url, json=body, headers=acme.manager.headers)
        assert r.status_code == 422, (method, path, body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert field in [e["field"].split(".")[-1] for e in r.json()["errors"]], (body, r.text)
    assert ok(await api.get(f"/api/tasks/tasks/{task['id']}", headers=acme.manager.headers))["version"] == 0


async def test_bad_query_parameters_are_problems_naming_them(api: httpx.AsyncClient, acme: Company) -> None:
    for params, field in (
        ({"status": "LATER"}, "status"),
        ({"due_before": "soon"}, "due_before"),
        ({"assignee_id": "x"}, "assignee_id"),
        ({"sort": "priority"}, "sort"),
        ({"cursor": "garbage"}, "cursor"),
        ({"colour": "red"}, "colour"),
    ):
        r = await api.get("/api/tasks/tasks", params=params, headers=acme.manager.headers)
        assert r.status_code == 422, (params, r.text)
        assert field in [e["field"].split(".")[-1] for e in r.json()["errors"]], r.text


async def test_concurrent_completions_publish_one_event(
    api: httpx.AsyncClient, hrms: SystemRuntime, acme: Company
) -> None:
    task = await new_task(api, acme.manager, assignee_id=acme.ada.id)
    url = f"/api/tasks/tasks/{task['id']}"
    answers = await asyncio.gather(
        *(api.patch(url, json={"status": "DONE"}, headers=acme.ada.headers) for _ in range(6))
    )
    assert {r.status_code for r in answers} == {200}
    assert [t for t, _v, _d in await task_events(hrms, task["id"])] == ["tasks.TaskAssigned", "tasks.TaskCompleted"]
