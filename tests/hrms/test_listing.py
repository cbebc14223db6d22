"""Issue 15, 8: lists sort (``sort=field,-field`` from an allowed list), search
(``q``) and page by cursor as one platform convention (isles.ListSpec), on SQLite and
PostgreSQL; a bad sort, search or cursor is a 422 naming it."""

from __future__ import annotations

import base64
import itertools
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest

from hrms.services.notification.models import Notification, NotificationStatus
from isles import ACROSS_TENANTS
from isles.runtime.system import SystemRuntime
from tests.hrms.helpers import headers_of, new_company, new_employee, new_project, ok, user_with_password

pytestmark = pytest.mark.integration

PEOPLE = [
    ("Ada", "Lovelace", "2021-05-01"),
    ("Grace", "Hopper", "2019-01-15"),
    ("Alan", "Turing", "2020-07-30"),
    ("Mary", "Jackson", "2022-02-01"),
    ("Katherine", "Johnson", "2018-11-11"),
    ("Edsger", "Dijkstra", "2023-03-03"),
    ("Barbara", "Liskov_Team", "2017-06-06"),
]


async def _staff(api: httpx.AsyncClient) -> str:
    company = (await new_company(api, "Listing Co"))["id"]
    for first, last, hired in PEOPLE:
        await new_employee(api, first, last, company_id=company, hire_date=hired)
    return company


async def _list(api: httpx.AsyncClient, **params: Any) -> Any:
    return ok(await api.get("/api/employee/employees", params=params))


async def test_sort_search_and_cursor_pages(api: httpx.AsyncClient) -> None:
    company = await _staff(api)
    by_hire = await _list(api, company_id=company, sort="-hire_date", limit=50)
    assert [e["hire_date"] for e in by_hire["items"]] == sorted((p[2] for p in PEOPLE), reverse=True)
    by_name = await _list(api, company_id=company, sort="last_name,first_name")
    assert [e["last_name"] for e in by_name["items"]] == sorted(p[1] for p in PEOPLE)
    assert (await _list(api, company_id=company))["items"] == by_name["items"], "the default sort"

    found = await _list(api, company_id=company, q="JOHN")
    assert {e["last_name"] for e in found["items"]} == {"Johnson"}
    assert found["total"] == 1
    found = await _list(api, company_id=company, q="ov")
    assert {e["last_name"] for e in found["items"]} == {"Lovelace", "Liskov_Team"}, "first or last name, any case"
    literal = await _list(api, company_id=company, q="_")
    assert [e["last_name"] for e in literal["items"]] == ["Liskov_Team"], "_ is a character, not a wildcard"
    assert (await _list(api, company_id=company, q="%"))["total"] == 0, "% too"

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"company_id": company, "sort": "-hire_date", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = await _list(api, **params)
        assert page["total"] == len(PEOPLE) + (pages > 0), "total counts every match, as it is now"
        seen += [e["id"] for e in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        # A hire between pages does not shift the next page (it sorts before the cursor).
        if pages == 1:
            await new_employee(api, "Late", "Comer", company_id=company, hire_date="2025-12-01")
    assert pages == 3
    assert seen == [e["id"] for e in by_hire["items"]], "every employee once, in order"


async def test_a_bad_sort_search_or_cursor_is_named(api: httpx.AsyncClient) -> None:
    company = await _staff(api)

    async def problem(**params: Any) -> dict[str, Any]:
        answer = await api.get("/api/employee/employees", params=params)
        assert answer.status_code == 422, answer.text
        body: dict[str, Any] = answer.json()
        return body

    body = await problem(sort="salary")
    assert body["errors"][0]["field"] == "sort"
    assert "last_name" in body["errors"][0]["message"], "it says what it can sort by"
    assert (await problem(sort="last_name,-last_name"))["errors"][0]["field"] == "sort"
    first = await _list(api, company_id=company, sort="last_name", limit=2)
    cursor = first["next_cursor"]
    other = await problem(company_id=company, sort="-hire_date", cursor=cursor)
    assert other["errors"][0]["field"] == "cursor"
    assert "another sort" in other["errors"][0]["message"]
    assert (await problem(cursor="not-a-cursor"))["errors"][0]["field"] == "cursor"
    assert (await problem(sort="last_name", cursor=cursor, offset=2))["errors"][0]["field"] == "cursor"
    assert (await problem(q="x" * 101))["errors"][0]["field"] == "q"
    second = await _list(api, company_id=company, sort="last_name", limit=2, cursor=cursor)
    assert second["items"][0]["id"] not in {e["id"] for e in first["items"]}


async def test_projects_list_the_same_way(api: httpx.AsyncClient) -> None:
    company = (await new_company(api, "Projects Co"))["id"]
    for name in ("Gemini", "Apollo", "Mercury"):
        ok(
            await api.post(
                "/api/project/projects",
                json={"name": name, "client": f"{name} Labs", "capacity": 3, "company_id": company},
            ),
            201,
        )
    mine = {"status": "active"}
    names = [p["name"] for p in (await _list_projects(api, **mine, q="labs", limit=500))["items"]]
    assert [n for n in names if n in ("Gemini", "Apollo", "Mercury")] == ["Apollo", "Gemini", "Mercury"]
    newest = await _list_projects(api, q="Labs", sort="-created_at", limit=1)
    assert newest["items"][0]["name"] == "Mercury"
    walked, cursor = [], newest["next_cursor"]
    while cursor:  # a cursor over a timestamp column, followed to the end
        page = await _list_projects(api, q="Labs", sort="-created_at", limit=1, cursor=cursor)
        walked += [p["name"] for p in page["items"]]
        cursor = page["next_cursor"]
    assert walked == ["Apollo", "Gemini"]
    forged = base64.urlsafe_b64encode(b'{"s":"-created_at","q":"Labs","v":["yesterday","x"]}').decode()
    refused = await api.get("/api/project/projects", params={"q": "Labs", "sort": "-created_at", "cursor": forged})
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "cursor"
    nothing = await api.get("/api/project/projects", params={"sort": "capacity"})
    assert nothing.status_code == 422
    assert nothing.json()["errors"][0]["field"] == "sort"


async def _list_projects(api: httpx.AsyncClient, **params: Any) -> Any:
    return ok(await api.get("/api/project/projects", params=params))


async def test_assignments_list_the_same_way(api: httpx.AsyncClient) -> None:
    company = (await new_company(api, "Assigning Co"))["id"]
    ada = await new_employee(api, "Ada", "Lovelace", company_id=company)
    grace = await new_employee(api, "Grace", "Hopper", company_id=company)
    project = await new_project(api, "Analytical Engine", company_id=company)
    for who, start in ((ada, "2025-03-01"), (grace, "2025-01-01")):
        body = {"employee_id": who["id"], "project_id": project["id"], "role": "Engineer", "allocation": 40}
        body["start_date"] = start
        ok(await api.post("/api/project/assignments", json=body), 201)
    mine = {"project_id": project["id"]}
    by_start = await _list_assignments(api, **mine)
    assert [a["employee_name"] for a in by_start["items"]] == ["Grace Hopper", "Ada Lovelace"]
    latest = await _list_assignments(api, **mine, sort="-start_date", limit=1)
    assert latest["items"][0]["employee_name"] == "Ada Lovelace"
    rest = await _list_assignments(api, **mine, sort="-start_date", limit=1, cursor=latest["next_cursor"])
    assert rest["items"][0]["employee_name"] == "Grace Hopper"
    assert rest["next_cursor"] is None
    assert [a["employee_name"] for a in (await _list_assignments(api, **mine, q="hopp"))["items"]] == ["Grace Hopper"]


async def _list_assignments(api: httpx.AsyncClient, **params: Any) -> Any:
    return ok(await api.get("/api/project/assignments", params=params))


# -- the other services' lists: users, companies, departments, teams, notifications ----


async def _get(api: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
    return ok(await api.get(path, params=params, headers=headers))


async def _walk(
    api: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None, **params: Any
) -> tuple[list[Any], int]:
    """Every item of a list, page by page through ``next_cursor``; no item twice."""
    items: list[Any] = []
    cursor, pages = None, 0
    while True:
        page = await _get(api, path, headers, **params, **({"cursor": cursor} if cursor else {}))
        items += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(page["items"]) == params["limit"], "a page before the last is full"
    ids = [i["id"] for i in items]
    assert len(ids) == len(set(ids)), "no item twice"
    return items, pages


async def _refused_sort(api: httpx.AsyncClient, path: str, field: str, headers: dict[str, str] | None = None) -> None:
    answer = await api.get(path, params={"sort": field}, headers=headers)
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["errors"]
    assert error["field"] == "sort"
    assert field in error["message"], "it names what it cannot sort by"


async def test_users_list_the_same_way(api: httpx.AsyncClient) -> None:
    company = await _staff(api)
    admin = await user_with_password(api, company, "admin", first="Zoe", last="Zuse")
    as_admin = await headers_of(api, admin)
    elsewhere = (await new_company(api, "Elsewhere Co"))["id"]
    await new_employee(api, "Otto", "Other", company_id=elsewhere)
    path = "/api/auth/users"
    names = sorted([p[1] for p in PEOPLE] + ["Zuse"])

    default = await _get(api, path, as_admin)
    assert [u["last_name"] for u in default["items"]] == names, "the company's users by last name"
    assert default["total"] == len(names)
    assert default["next_cursor"] is None
    assert (await _get(api, path, as_admin, sort="last_name,first_name"))["items"] == default["items"]
    backwards = await _get(api, path, as_admin, sort="-last_name")
    assert [u["last_name"] for u in backwards["items"]] == names[::-1]
    by_email = await _get(api, path, as_admin, sort="email")
    assert [u["email"] for u in by_email["items"]] == sorted(u["email"] for u in default["items"])
    newest = await _get(api, path, as_admin, sort="-created_at", limit=2)
    assert [u["last_name"] for u in newest["items"]] == ["Zuse", PEOPLE[-1][1]], "the last signed up first"
    await _refused_sort(api, path, "password_hash", as_admin)

    found = await _get(api, path, as_admin, q="ov")
    assert {u["last_name"] for u in found["items"]} == {"Lovelace", "Liskov_Team"}, "names, any case"
    assert found["total"] == 2
    [by_address] = (await _get(api, path, as_admin, q=admin["email"].upper()))["items"]
    assert by_address["id"] == admin["user_id"], "and emails"
    assert (await _get(api, path, as_admin, q="Other"))["total"] == 0, "only the caller's company"
    assert (await _get(api, path, q="Other"))["total"] == 1, "the operator's: every company"

    walked, pages = await _walk(api, path, as_admin, sort="-email", limit=3)
    assert pages == 3
    assert [u["email"] for u in walked] == sorted((u["email"] for u in default["items"]), reverse=True)
    paged = await _get(api, path, as_admin, limit=3, offset=6)
    assert [u["last_name"] for u in paged["items"]] == names[6:], "offset pages as before"


async def test_companies_list_the_same_way(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    path = "/api/company/companies"
    gamma = ok(await api.post(path, json={"name": "Listed Gamma", "industry": "Aerospace"}), 201)
    alpha = ok(await api.post(path, json={"name": "Listed Alpha", "website": "alpha.example.org"}), 201)
    beta = ok(await api.post(path, json={"name": "Listed Beta", "description": "Makes brooms"}), 201)
    beta_admin = await user_with_password(api, beta["id"], "admin")
    await new_employee(api, "Bea", "Broom", company_id=beta["id"])
    await new_employee(api, "Gus", "Gantry", company_id=gamma["id"])
    await hrms.settle()

    async def names(headers: dict[str, str] | None = None, **params: Any) -> list[str]:
        return [c["name"] for c in (await _get(api, path, headers, q="listed", **params))["items"]]

    assert await names() == ["Listed Alpha", "Listed Beta", "Listed Gamma"], "by name"
    assert await names(sort="-name") == ["Listed Gamma", "Listed Beta", "Listed Alpha"]
    assert await names(sort="-created_at") == ["Listed Beta", "Listed Alpha", "Listed Gamma"]
    assert await names(sort="-headcount,name") == ["Listed Beta", "Listed Gamma", "Listed Alpha"]
    assert await names(sort="headcount") == ["Listed Alpha", "Listed Gamma", "Listed Beta"]
    await _refused_sort(api, path, "industry")

    for text, who in (("AERO", gamma), ("example.org", alpha), ("brooms", beta), ("gamma", gamma)):
        found = await _get(api, path, q=text)
        assert [c["id"] for c in found["items"]] == [who["id"]], f"{text}: name, description, industry, website"
    as_beta = await headers_of(api, beta_admin)
    assert [c["id"] for c in (await _get(api, path, as_beta))["items"]] == [beta["id"]], "an admin: their own"
    assert (await _get(api, path, as_beta, q="gamma"))["total"] == 0

    walked, pages = await _walk(api, path, q="listed", sort="-headcount", limit=1)
    assert pages == 3
    assert [c["name"] for c in walked] == ["Listed Beta", "Listed Gamma", "Listed Alpha"]


async def test_departments_and_teams_list_the_same_way(api: httpx.AsyncClient) -> None:
    company = (await new_company(api, "Structured Co"))["id"]
    admin = await user_with_password(api, company, "admin")
    as_admin = await headers_of(api, admin)
    other = (await new_company(api, "Other Structure"))["id"]
    for kind in ("departments", "teams"):
        path = f"/api/company/{kind}"
        for name, description in (("Sales", "Sells"), ("Build", "Makes the product"), ("Ops", None), ("Legal", "")):
            ok(await api.post(path, json={"name": name, "description": description, "company_id": company}), 201)
        ok(await api.post(path, json={"name": "Research", "description": "Makes papers", "company_id": other}), 201)
        mine = ["Build", "Legal", "Ops", "Sales"]

        page = await _get(api, path, as_admin)
        assert [d["name"] for d in page["items"]] == mine, f"{kind}: the company's, by name"
        assert page["total"] == 4
        backwards = await _get(api, path, as_admin, sort="-name")
        assert [d["name"] for d in backwards["items"]] == mine[::-1]
        newest = await _get(api, path, as_admin, sort="-created_at")
        assert [d["name"] for d in newest["items"]] == ["Legal", "Ops", "Build", "Sales"]
        oldest = await _get(api, path, as_admin, sort="created_at", limit=1)
        assert [d["name"] for d in oldest["items"]] == ["Sales"]
        await _refused_sort(api, path, "manager_id" if kind == "departments" else "lead_id", as_admin)

        found = await _get(api, path, as_admin, q="MAKES")
        assert [d["name"] for d in found["items"]] == ["Build"], f"{kind}: descriptions, the company's only"
        assert [d["name"] for d in (await _get(api, path, as_admin, q="ale"))["items"]] == ["Sales"], "names"
        everyone = await _get(api, path, q="makes")
        assert [d["name"] for d in everyone["items"]] == ["Build", "Research"], "the operator's: every company"

        walked, pages = await _walk(api, path, as_admin, sort="-name", limit=3)
        assert pages == 2
        assert [d["name"] for d in walked] == mine[::-1]
        assert [d["name"] for d in (await _get(api, path, as_admin, limit=2, offset=2))["items"]] == mine[2:]
    teams = await _get(api, "/api/company/teams", as_admin, q="build")
    assert teams["items"][0]["members"] == 0, "teams keep their number of members"


async def test_notifications_list_the_same_way(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    company = (await new_company(api, "Noted Co"))["id"]
    people = [await new_employee(api, first, last, company_id=company) for first, last, _ in PEOPLE[:5]]
    worker = await user_with_password(api, company, "employee", first="Wanda", last="Worker")
    await hrms.settle()
    path = "/api/notification/notifications"

    def when(n: Any) -> datetime:
        return datetime.fromisoformat(n["created_at"])

    newest = await _get(api, path)
    assert newest["total"] == len(people) + 1, "one invitation each"
    assert [n["user_id"] for n in newest["items"]] == [worker["user_id"]] + [p["user_id"] for p in people[::-1]]
    assert (await _get(api, path, sort="-created_at"))["items"] == newest["items"], "newest first by default"
    oldest = await _get(api, path, sort="created_at")
    assert [when(n) for n in oldest["items"]] == sorted(when(n) for n in newest["items"])
    assert oldest["items"][0]["user_id"] == people[0]["user_id"]
    await _refused_sort(api, path, "subject")

    [ada] = (await _get(api, path, q="ada:"))["items"]
    assert ada["user_id"] == people[0]["user_id"], "subjects (Welcome, Ada: …)"
    [by_address] = (await _get(api, path, q=people[2]["email"].upper()))["items"]
    assert by_address["user_id"] == people[2]["user_id"], "and addresses"
    assert (await _get(api, path, q="welcome", status="DELIVERED"))["total"] == len(people) + 1
    assert (await _get(api, path, q="welcome", status="FAILED"))["total"] == 0, "the status filter stays"
    one = await _get(api, path, q="welcome", user_id=people[1]["user_id"])
    assert [n["user_id"] for n in one["items"]] == [people[1]["user_id"]], "so does user_id"

    as_worker = await headers_of(api, worker)
    assert (await _get(api, path, as_worker, q=people[0]["email"]))["total"] == 0, "anyone but an admin: their own only"
    assert [n["user_id"] for n in (await _get(api, path, as_worker))["items"]] == [worker["user_id"]]

    walked, pages = await _walk(api, path, status="DELIVERED", limit=2)
    assert pages == 3
    assert walked == newest["items"], "every one once, newest first"
    walked, _ = await _walk(api, path, sort="created_at", q="welcome", limit=4)
    assert walked == oldest["items"]
    assert (await _get(api, path, limit=2, offset=4))["items"] == newest["items"][4:], "offset pages as before"


async def test_notifications_sort_by_status_and_page_through_it(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    """A cursor carries an enum's value (NotificationStatus): sorted by status, the
    pages walk every notification once."""
    company = (await new_company(api, "Status Co"))["id"]
    for first, last, _ in PEOPLE[:3]:
        await new_employee(api, first, last, company_id=company)
    await hrms.settle()
    path = "/api/notification/notifications"
    first = (await _get(api, path, sort="created_at"))["items"][0]
    async with hrms["notification"].db.writing(tenant=ACROSS_TENANTS) as session, session.begin():
        row = await session.get(Notification, uuid.UUID(first["id"]))
        assert row is not None
        row.status = NotificationStatus.BOUNCED
    everything = (await _get(api, path, sort="status,-created_at"))["items"]
    assert {n["status"] for n in everything} == {"DELIVERED", "BOUNCED"}
    statuses = [n["status"] for n in everything]
    assert len([k for k, _ in itertools.groupby(statuses)]) == 2, "one block per status"
    walked, pages = await _walk(api, path, sort="status,-created_at", limit=1)
    assert pages == len(everything) >= 3
    assert walked == everything
    assert [n["id"] for n in (await _walk(api, path, sort="-status", limit=2))[0]] == [
        n["id"] for n in (await _get(api, path, sort="-status"))["items"]
    ]
