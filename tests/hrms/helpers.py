"""Building blocks for HR flow tests: create things through the public API."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import httpx

_numbers = itertools.count(1)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    return response.json() if response.content else None


async def new_employee(api: httpx.AsyncClient, first: str = "Ada", last: str = "Lovelace", **extra: Any) -> Any:
    n = next(_numbers)
    body = {
        "employee_number": f"T-{n}-{uuid.uuid4().hex[:6]}",
        "company_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
        "first_name": first,
        "last_name": last,
        "email": f"person.{n}.{uuid.uuid4().hex[:8]}@example.com",
        "hire_date": "2024-03-01",
        **extra,
    }
    return ok(await api.post("/api/employee/employees", json=body), 201)


async def new_project(api: httpx.AsyncClient, name: str = "Apollo", capacity: int = 5) -> Any:
    return ok(await api.post("/api/project/projects", json={"name": name, "client": "NASA", "capacity": capacity}), 201)


async def assign(api: httpx.AsyncClient, employee: Any, project: Any, **extra: Any) -> httpx.Response:
    body = {
        "employee_id": employee["id"],
        "project_id": project["id"],
        "role": "Engineer",
        "allocation": 50,
        "start_date": "2025-01-01",
        **extra,
    }
    return await api.post("/api/project/assignments", json=body)


async def assignments_of(api: httpx.AsyncClient, employee_id: str) -> list[Any]:
    page = ok(await api.get("/api/project/assignments", params={"employee_id": employee_id, "limit": 500}))
    items: list[Any] = page["items"]
    return items
