"""Issue 15, 8: lists sort (``sort=field,-field`` from an allowed list), search
(``q``) and page by cursor as one platform convention (isles.ListSpec), on SQLite and
PostgreSQL; a bad sort, search or cursor is a 422 naming it."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from tests.hrms.helpers import new_company, new_employee, new_project, ok

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
