"""Building blocks for HR flow tests: create things through the public API."""

from __future__ import annotations

import asyncio
import itertools
import uuid
import weakref
from typing import Any

import httpx
from sqlalchemy import func, select

from isles import ACROSS_TENANTS
from isles.runtime.system import SystemRuntime

_numbers = itertools.count(1)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    return response.json() if response.content else None


async def new_company(api: httpx.AsyncClient, name: str = "Acme") -> Any:
    return ok(await api.post("/api/company/companies", json={"name": name}), 201)


_default_companies: weakref.WeakKeyDictionary[httpx.AsyncClient, str] = weakref.WeakKeyDictionary()


async def default_company(api: httpx.AsyncClient) -> str:
    """The company a test's things go to unless it names one (one per client)."""
    if api not in _default_companies:
        _default_companies[api] = (await new_company(api, f"Company {next(_numbers)}"))["id"]
    return _default_companies[api]


async def new_employee(api: httpx.AsyncClient, first: str = "Ada", last: str = "Lovelace", **extra: Any) -> Any:
    """An employee through the CreateEmployee saga (in the client's default company
    unless given)."""
    n = next(_numbers)
    if "company_id" not in extra:
        extra["company_id"] = await default_company(api)
    body = {
        "employee_number": f"T-{n}-{uuid.uuid4().hex[:6]}",
        "first_name": first,
        "last_name": last,
        "email": f"person.{n}.{uuid.uuid4().hex[:8]}@example.com",
        "hire_date": "2024-03-01",
        **extra,
    }
    return ok(await until_done(api, "/api/employee/employees", body), 201)


async def until_done(api: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response:
    """POST a request that starts a saga, as a client should: with an Idempotency-Key,
    and again with the same key while the answer is 202 (the saga outlasted the
    request's wait, seen under a loaded machine) until the saga's outcome comes back."""
    headers = {"Idempotency-Key": f"helper-{uuid.uuid4()}"}
    response = await api.post(path, json=body, headers=headers)
    for _ in range(120):
        if response.status_code != 202:
            break
        await asyncio.sleep(0.5)
        response = await api.post(path, json=body, headers=headers)
    return response


async def new_project(
    api: httpx.AsyncClient, name: str | None = None, capacity: int = 5, company_id: str | None = None
) -> Any:
    """A project (names are unique in a company: a test's unnamed ones are numbered)."""
    body = {
        "name": name or f"Project {next(_numbers)}",
        "client": "NASA",
        "capacity": capacity,
        "company_id": company_id or await default_company(api),
    }
    return ok(await api.post("/api/project/projects", json=body), 201)


async def assign(
    api: httpx.AsyncClient, employee: Any, project: Any, headers: dict[str, str] | None = None, **extra: Any
) -> httpx.Response:
    body = {
        "employee_id": employee["id"],
        "project_id": project["id"],
        "role": "Engineer",
        "allocation": 50,
        "start_date": "2025-01-01",
        **extra,
    }
    return await api.post("/api/project/assignments", json=body, headers=headers)


async def assignments_of(api: httpx.AsyncClient, employee_id: str) -> list[Any]:
    page = ok(await api.get("/api/project/assignments", params={"employee_id": employee_id, "limit": 500}))
    items: list[Any] = page["items"]
    return items


async def count(rt: SystemRuntime, service: str, table: str, **where: Any) -> int:
    """Rows of ``service``'s ``table`` whose columns equal ``where`` (typed binds)."""
    t = rt[service].service.metadata.tables[table]
    q = select(func.count()).select_from(t).where(*(t.c[k] == v for k, v in where.items()))
    async with rt[service].db.read_session(tenant=ACROSS_TENANTS) as session:
        return int(await session.scalar(q) or 0)


async def value(rt: SystemRuntime, service: str, table: str, column: str, **where: Any) -> Any:
    """One column of the row of ``service``'s ``table`` matching ``where``."""
    t = rt[service].service.metadata.tables[table]
    async with rt[service].db.read_session(tenant=ACROSS_TENANTS) as session:
        return await session.scalar(select(t.c[column]).where(*(t.c[k] == v for k, v in where.items())))


PASSWORD = "correct horse battery"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def user_with_password(api: httpx.AsyncClient, company_id: str, role: str = "admin", **extra: Any) -> Any:
    """An employee with a login of ``role`` (password :data:`PASSWORD`)."""
    employee = await new_employee(api, company_id=company_id, roles=[role], **extra)
    ok(await api.post(f"/api/auth/users/{employee['user_id']}/password", json={"new_password": PASSWORD}), 204)
    return employee


async def login(api: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await api.post("/api/auth/login", json={"email": email, "password": password}, headers={})


async def headers_of(api: httpx.AsyncClient, employee: Any) -> dict[str, str]:
    """The Authorization header of ``employee``'s login (made by user_with_password)."""
    return bearer(ok(await login(api, employee["email"]))["access_token"])
