"""Bad input gets a 4xx problem document naming the field, never a 500."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from hrms.system import build
from isles.core.settings import IslesSettings
from isles.runtime.system import SystemRuntime
from tests.hrms.helpers import assign, default_company, new_company, new_employee, new_project, ok

pytestmark = pytest.mark.integration


def fields(response: httpx.Response) -> set[str]:
    assert response.headers["content-type"] == "application/problem+json", response.text
    body = response.json()
    assert body["status"] == response.status_code
    assert body["type"].startswith("urn:isles:problem:")
    return {e["field"] for e in body.get("errors", [])}


GOOD_EMPLOYEE: dict[str, Any] = {
    "employee_number": "V-1",
    "company_id": str(uuid.uuid4()),
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "hire_date": "2024-01-01",
}


async def good_employee(api: httpx.AsyncClient) -> dict[str, Any]:
    """GOOD_EMPLOYEE in a company that exists."""
    return {**GOOD_EMPLOYEE, "company_id": (await new_company(api))["id"]}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"first_name": ""}, "first_name"),
        ({"first_name": "x" * 101}, "first_name"),
        ({"company_id": "nope"}, "company_id"),
        ({"hire_date": "2024-13-45"}, "hire_date"),
        ({"salary": "-1"}, "salary"),
        ({"salary": "123456789.123"}, "salary"),
        ({"phone": "call me; DROP TABLE employees"}, "phone"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
async def test_bad_employee_fields_are_named(api: httpx.AsyncClient, change: dict[str, Any], field: str) -> None:
    r = await api.post("/api/employee/employees", json={**GOOD_EMPLOYEE, **change})
    assert r.status_code == 422
    assert fields(r) == {field}


async def test_missing_fields_are_all_named(api: httpx.AsyncClient) -> None:
    r = await api.post("/api/employee/employees", json={"first_name": "Ada"})
    assert r.status_code == 422
    assert fields(r) == {"employee_number", "last_name", "email", "hire_date"}


async def test_malformed_json_and_wrong_types_are_400_or_422(api: httpx.AsyncClient) -> None:
    r = await api.post("/api/employee/employees", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert fields(r) == {"body"}
    r = await api.post("/api/employee/employees", json=[1, 2])
    assert r.status_code == 422
    r = await api.get("/api/employee/employees", params={"limit": 0})
    assert r.status_code == 422
    assert fields(r) == {"limit"}
    r = await api.get("/api/employee/employees/not-a-uuid")
    assert r.status_code == 422
    assert fields(r) == {"employee_id"}


async def test_sql_looking_text_is_stored_as_text(api: httpx.AsyncClient) -> None:
    sly = "Robert'); DROP TABLE employees;--"
    e = await new_employee(api, sly[:100], "O'Brien")
    assert ok(await api.get(f"/api/employee/employees/{e['id']}"))["first_name"] == sly
    assert ok(await api.get("/api/employee/employees"))["total"] == 1


async def test_duplicates_are_409_naming_the_field(api: httpx.AsyncClient) -> None:
    first = await new_employee(api)
    good = {**GOOD_EMPLOYEE, "company_id": first["company_id"]}  # keys are unique in a company
    again = await api.post("/api/employee/employees", json={**good, "email": first["email"]})
    assert again.status_code == 409
    assert fields(again) == {"email"}
    again = await api.post("/api/employee/employees", json={**good, "employee_number": first["employee_number"]})
    assert again.status_code == 409
    assert fields(again) == {"employee_number"}
    other = await new_employee(api, "Grace", "Hopper")
    clash = await api.patch(f"/api/employee/employees/{other['id']}", json={"email": first["email"]})
    assert clash.status_code == 409
    assert fields(clash) == {"email"}


async def test_patch_rejects_null_for_required_fields(api: httpx.AsyncClient) -> None:
    e = await new_employee(api)
    r = await api.patch(f"/api/employee/employees/{e['id']}", json={"last_name": None})
    assert r.status_code == 422
    assert fields(r) == {"last_name"}
    p = await new_project(api)
    r = await api.patch(f"/api/project/projects/{p['id']}", json={"name": None})
    assert r.status_code == 422
    assert fields(r) == {"name"}


async def test_deactivated_employee_cannot_be_changed(api: httpx.AsyncClient) -> None:
    e = await new_employee(api)
    ok(await api.post(f"/api/employee/employees/{e['id']}/deactivate"))
    r = await api.patch(f"/api/employee/employees/{e['id']}", json={"position": "CEO"})
    assert r.status_code == 409


async def test_assignment_checks_name_their_fields(api: httpx.AsyncClient) -> None:
    e = await new_employee(api)
    p = await new_project(api, capacity=2)
    r = await assign(api, e, p, allocation=0)
    assert r.status_code == 422
    assert fields(r) == {"allocation"}
    r = await assign(api, e, p, start_date="2025-02-01", end_date="2025-01-01")
    assert r.status_code == 422
    assert fields(r) == {"end_date"}, "a check across fields names the field, not the body"
    assert r.json()["errors"][0]["message"] == "must not be before start_date"
    r = await assign(api, {"id": str(uuid.uuid4())}, {"id": str(uuid.uuid4())})
    assert r.status_code == 422
    assert fields(r) == {"employee_id", "project_id"}
    r = await api.patch(f"/api/project/projects/{p['id']}", json={"capacity": -1})
    assert r.status_code == 422
    assert fields(r) == {"capacity"}
    ok(await assign(api, e, p), 201)
    ok(await assign(api, await new_employee(api, "Grace", "Hopper"), p), 201)
    r = await api.patch(f"/api/project/projects/{p['id']}", json={"capacity": 1})
    assert r.status_code == 422
    assert fields(r) == {"capacity"}


async def test_employee_service_down_is_a_503_not_a_500(tmp_path: Path) -> None:
    env = {"ISLES_EMPLOYEE_URL": "http://127.0.0.1:9"}  # nothing listens on port 9
    runtime = SystemRuntime(build(), IslesSettings(data_dir=tmp_path, generate_keys=True), environ=env)
    await runtime.start()
    try:
        async with runtime.client() as api:
            p = await new_project(api)
            r = await assign(api, {"id": str(uuid.uuid4())}, p)
            assert r.status_code == 503
            assert r.headers["retry-after"] == "1"
            assert r.json()["type"] == "urn:isles:problem:dependency-unavailable"
            assert ok(await api.get(f"/api/project/projects/{p['id']}"))["assigned_count"] == 0
    finally:
        await runtime.stop()


@pytest.mark.parametrize(
    ("path", "params", "unknown"),
    [
        ("/api/employee/employees", {"search": "mary"}, ["search"]),
        ("/api/employee/employees", {"order": "name", "limit": "2"}, ["order"]),
        ("/api/company/companies", {"search": "acme"}, ["search"]),
        ("/api/project/assignments", {"employe_id": str(uuid.uuid4())}, ["employe_id"]),
        ("/api/company/companies", {"a": "1", "b": "2"}, ["a", "b"]),
    ],
)
async def test_an_unknown_query_parameter_is_a_422_naming_it(
    api: httpx.AsyncClient, path: str, params: dict[str, str], unknown: list[str]
) -> None:
    """Issue 15, 8: never silently ignored (it would answer with everything)."""
    answer = await api.get(path, params=params)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert [e["field"] for e in body["errors"]] == unknown
    assert all(e["code"] == "unknown_parameter" for e in body["errors"])
    assert "limit" in body["errors"][0]["message"], "it says what the route does take"
    known = {k: v for k, v in params.items() if k not in unknown}
    assert (await api.get(path, params=known)).status_code == 200


async def test_format_errors_say_the_expected_format_in_words(api: httpx.AsyncClient) -> None:
    """Issue 15, 10: no regular expression, no parser internals; the format expected."""
    good = await good_employee(api)
    r = await api.post("/api/employee/employees", json={**good, "email": "not-an-email"})
    assert r.json()["errors"][0]["message"] == "not an email address: expected name@example.com"
    r = await api.post("/api/employee/employees", json={**good, "hire_date": "01/02/2024"})
    assert r.json()["errors"][0]["message"] == "not a date: write it as YYYY-MM-DD, e.g. 2026-03-01"
    r = await api.post("/api/employee/employees", json={**good, "company_id": "acme"})
    assert r.json()["errors"][0]["message"].startswith("not an id: expected a UUID")
    e = await new_employee(api)
    r = await api.post(f"/api/auth/users/{e['user_id']}/password", json={"new_password": "short"})
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [
        {"field": "new_password", "message": "too short: at least 12 characters", "code": "too_short"}
    ]
    assert "after validation" not in r.text


async def test_one_title_per_status_and_no_internals_in_errors(api: httpx.AsyncClient) -> None:
    """Issue 15, 10: the same title for every 422; a garbage token and a refusal by
    another service say what is wrong without the decoder's words or the internal call."""
    bad_query = await api.get("/api/employee/employees", params={"search": "x"})
    bad_body = await api.post("/api/employee/employees", json={})
    assert bad_query.json()["title"] == bad_body.json()["title"] == "Unprocessable Content"
    garbage = await api.get("/api/employee/employees", headers={"Authorization": "Bearer //79.abc.def"})
    assert garbage.status_code == 401
    assert garbage.json()["detail"] == "malformed token: not a signed JWT (header.payload.signature)"
    # A user (no employee) has the address: the auth service refuses the saga's step.
    good = await good_employee(api)
    user = {"email": "taken@example.com", "first_name": "Ta", "last_name": "Ken", "company_id": good["company_id"]}
    ok(await api.post("/api/auth/users", json=user), 201)
    twice = await api.post("/api/employee/employees", json={**good, "email": user["email"]})
    assert twice.status_code == 409, twice.text
    assert twice.json()["errors"][0]["field"] == "email"
    for leak in ("POST", "/users", "answered", "http://", "auth:"):
        assert leak not in twice.json()["detail"], twice.json()


async def test_a_nul_character_is_a_422_naming_the_field(api: httpx.AsyncClient) -> None:
    """PostgreSQL cannot store U+0000 in text (SQLite can): it is refused before it gets
    there, in a body (nested too), a query or a path, never a 500."""
    good = await good_employee(api)
    r = await api.post("/api/employee/employees", json={**good, "first_name": "Nul\x00"})
    assert (r.status_code, fields(r)) == (422, {"first_name"}), r.text
    assert r.json()["errors"][0]["code"] == "nul_character"
    r = await api.post("/api/employee/employees", json={**good, "profile": {"bio": ["a", "b\x00"]}})
    assert (r.status_code, fields(r)) == (422, {"profile.bio.1"}), r.text
    r = await api.get("/api/employee/employees", params={"q": "x\x00"})
    assert (r.status_code, fields(r)) == (422, {"q"}), r.text
    r = await api.get("/api/company/companies/x%00y")
    assert (r.status_code, fields(r)) == (422, {"company_id"}), r.text
    r = await api.post(
        "/api/auth/login", data={"grant_type": "password", "username": "a\x00@b.example", "password": "x"}
    )
    assert (r.status_code, fields(r)) == (422, {"username"}), r.text
    assert (await api.post("/api/employee/employees", json=good)).status_code == 201


async def test_a_body_not_sent_as_json_is_a_415(api: httpx.AsyncClient) -> None:
    """Issue 15, 10: not a 422 on `body`."""
    good = await good_employee(api)
    for headers in ({}, {"content-type": "text/plain"}, {"content-type": "application/x-www-form-urlencoded"}):
        r = await api.post("/api/employee/employees", content=json.dumps(good).encode(), headers=headers)
        assert r.status_code == 415, (headers, r.text)
        assert r.json()["title"] == "Unsupported Media Type"
        assert fields(r) == {"Content-Type"}
    assert (await api.post("/api/employee/employees", json=good)).status_code == 201


async def test_hr_rules_of_issue_15_point_13(api: httpx.AsyncClient) -> None:
    """One live assignment of an employee to a project; an assignment starts on or
    after the hire date; a hire date not far ahead; project names unique per company."""
    e = await new_employee(api, hire_date="2024-03-01")
    p = await new_project(api, capacity=5)
    first = ok(await assign(api, e, p), 201)
    twice = await assign(api, e, p)
    assert twice.status_code == 409, twice.text
    assert fields(twice) == {"employee_id"}
    assert first["id"] in twice.json()["detail"]
    ok(await api.delete(f"/api/project/assignments/{first['id']}"), 204)
    ok(await assign(api, e, p), 201)  # removed: they may be assigned again

    early = await assign(api, e, await new_project(api), start_date="2024-02-29")
    assert early.status_code == 422
    assert fields(early) == {"start_date"}
    assert "2024-03-01" in early.json()["errors"][0]["message"]

    far = await api.post("/api/employee/employees", json={**await good_employee(api), "hire_date": "2999-01-01"})
    assert far.status_code == 422
    assert fields(far) == {"hire_date"}

    company = await default_company(api)
    await new_project(api, "Unique Name", company_id=company)
    body = {"name": "Unique Name", "client": "X", "capacity": 1, "company_id": company}
    same = await api.post("/api/project/projects", json=body)
    assert same.status_code == 409
    assert fields(same) == {"name"}
    other = await new_project(api, "Other Name", company_id=company)
    renamed = await api.patch(f"/api/project/projects/{other['id']}", json={"name": "Unique Name"})
    assert renamed.status_code == 409
    assert fields(renamed) == {"name"}
    elsewhere = (await new_company(api, "Elsewhere"))["id"]
    ok(
        await api.post(
            "/api/project/projects", json={"name": "Unique Name", "client": "X", "capacity": 1, "company_id": elsewhere}
        ),
        201,
    )


async def test_total_allocation_stays_within_the_company_limit(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    """Issue 15, 13: 50 + 80 + 10 % was accepted. The sum over overlapping assignments
    stays ≤ 100 % unless the company's setting allows more (kept from company events)."""
    company = (await new_company(api, "Busy"))["id"]
    e = await new_employee(api, company_id=company, hire_date="2024-01-01")
    a, b, c, d = [await new_project(api, company_id=company) for _ in range(4)]
    ok(await assign(api, e, a, allocation=50, start_date="2025-01-01", end_date="2025-06-30"), 201)
    ok(await assign(api, e, b, allocation=40, start_date="2025-03-01"), 201)  # 90 % from March to June
    r = await assign(api, e, c, allocation=20, start_date="2025-05-01", end_date="2025-05-31")
    assert r.status_code == 409, r.text
    assert fields(r) == {"allocation"}
    assert "90% on 2025-05-01" in r.json()["errors"][0]["message"]
    assert "limit of 100%" in r.json()["errors"][0]["message"]
    # After A ends only B's 40 % is left: 60 % more fits; the same 20 % before March too.
    ok(await assign(api, e, c, allocation=60, start_date="2025-07-01"), 201)
    ok(await assign(api, e, d, allocation=20, start_date="2024-06-01", end_date="2025-02-28"), 201)

    bad = await api.put(f"/api/company/companies/{company}/settings/max_allocation_percent", json={"value": "lots"})
    assert bad.status_code == 422, bad.text
    assert fields(bad) == {"value"}
    ok(await api.put(f"/api/company/companies/{company}/settings/max_allocation_percent", json={"value": "120"}))
    await hrms.settle()
    x = await new_project(api, company_id=company)
    ok(await assign(api, e, x, allocation=20, start_date="2025-08-01"), 201)  # 40 + 60 + 20 = 120
    y = await new_project(api, company_id=company)
    r = await assign(api, e, y, allocation=1, start_date="2025-08-01")
    assert r.status_code == 409, r.text
    assert "limit of 120%" in r.json()["errors"][0]["message"]
    ok(await api.delete(f"/api/company/companies/{company}/settings/max_allocation_percent"), 204)
    await hrms.settle()
    r = await assign(api, e, y, allocation=1, start_date="2026-01-01")
    assert "limit of 100%" in r.json()["errors"][0]["message"], r.text
