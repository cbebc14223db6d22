"""Departments are soft-deleted (issue 19): other services hold their ids, so a
deleted department stays readable by its id with ``deleted_at`` set, lists leave it
out unless asked, its name is free again, and nothing new may be put in it; on
SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import inspect

from isles.runtime.system import SystemRuntime
from tests.hrms.helpers import count, default_company, new_employee, ok

pytestmark = pytest.mark.integration


async def _department(api: httpx.AsyncClient, name: str = "R&D") -> dict[str, object]:
    company = await default_company(api)
    return ok(await api.post("/api/company/departments", json={"company_id": company, "name": name}), 201)  # type: ignore[no-any-return]


async def test_a_deleted_department_stays_readable_and_leaves_the_list(
    api: httpx.AsyncClient, hrms: SystemRuntime
) -> None:
    rd = await _department(api, "R&D")
    ops = await _department(api, "Operations")
    ok(await api.delete(f"/api/company/departments/{rd['id']}"), 204)

    listed = ok(await api.get("/api/company/departments"))
    assert [d["name"] for d in listed["items"]] == ["Operations"]
    assert listed["total"] == 1
    everything = ok(await api.get("/api/company/departments", params={"include_deleted": "true"}))
    assert sorted(d["name"] for d in everything["items"]) == ["Operations", "R&D"]
    deleted = ok(await api.get(f"/api/company/departments/{rd['id']}"))
    assert deleted["deleted_at"] is not None
    assert ok(await api.get(f"/api/company/departments/{ops['id']}"))["deleted_at"] is None
    assert await count(hrms, "company", "departments", id=uuid.UUID(str(rd["id"]))) == 1, "the row stays"

    # Deleting it again changes nothing; changing it is refused.
    ok(await api.delete(f"/api/company/departments/{rd['id']}"), 204)
    assert ok(await api.get(f"/api/company/departments/{rd['id']}"))["deleted_at"] == deleted["deleted_at"]
    refused = ok(await api.patch(f"/api/company/departments/{rd['id']}", json={"description": "x"}), 409)
    assert refused["type"].endswith("department-deleted")


async def test_its_name_is_free_again_and_nothing_new_goes_in_it(api: httpx.AsyncClient, hrms: SystemRuntime) -> None:
    rd = await _department(api, "R&D")
    ok(await api.delete(f"/api/company/departments/{rd['id']}"), 204)
    again = await _department(api, "R&D")
    assert again["id"] != rd["id"]
    company = await default_company(api)

    team = await api.post(
        "/api/company/teams", json={"company_id": company, "name": "Ghosts", "department_id": rd["id"]}
    )
    assert [e["field"] for e in ok(team, 422)["errors"]] == ["department_id"]
    hire = await api.post(
        "/api/employee/employees",
        json={
            "company_id": company,
            "employee_number": "SD-1",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada.sd@example.com",
            "hire_date": "2024-01-01",
            "department_id": rd["id"],
        },
    )
    assert [e["field"] for e in ok(hire, 422)["errors"]] == ["department_id"]
    ada = await new_employee(api, "Ada", "Byron", company_id=company)
    move = await api.patch(f"/api/employee/employees/{ada['id']}", json={"department_id": rd["id"]})
    assert [e["field"] for e in ok(move, 422)["errors"]] == ["department_id"]


async def test_its_employees_are_left_in_none_and_deleted_at_is_indexed(
    api: httpx.AsyncClient, hrms: SystemRuntime
) -> None:
    rd = await _department(api, "R&D")
    ada = await new_employee(api, "Ada", "Lovelace", department_id=rd["id"])
    ok(await api.delete(f"/api/company/departments/{rd['id']}"), 204)
    await hrms.settle()
    assert ok(await api.get(f"/api/employee/employees/{ada['id']}"))["department_id"] is None

    async with hrms["company"].db.engine.connect() as conn:
        indexes = await conn.run_sync(lambda c: inspect(c).get_indexes("departments"))
    assert any(i["column_names"] == ["deleted_at"] for i in indexes), indexes
