"""Building blocks of the leave tests: a company with an admin, a manager and their
report (each with a login), leave types and allocations through the public API."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select

from isles import ACROSS_TENANTS
from isles.runtime.system import SystemRuntime
from isles.storage.schema import outbox_table
from tests.hrms.helpers import headers_of, new_company, ok, user_with_password

YEAR = 2030  # far enough ahead that no notice rule refuses a request
LEAVE = "/api/leave"


@dataclass
class Team:
    company: str
    admin: dict[str, Any]
    manager: dict[str, Any]
    worker: dict[str, Any]
    as_admin: dict[str, str]
    as_manager: dict[str, str]
    as_worker: dict[str, str]


async def team(hrms: SystemRuntime, api: httpx.AsyncClient, name: str = "Leavers") -> Team:
    """A company with an admin, a manager and a worker reporting to the manager."""
    company = (await new_company(api, name))["id"]
    admin = await user_with_password(api, company, "admin", first_name="Ad", last_name="Min")
    manager = await user_with_password(api, company, "manager", first_name="Grace", last_name="Hopper")
    worker = await user_with_password(
        api, company, "employee", first_name="Ada", last_name="Lovelace", manager_id=manager["id"]
    )
    await hrms.settle()  # the leave service has heard of them
    return Team(
        company,
        admin,
        manager,
        worker,
        await headers_of(api, admin),
        await headers_of(api, manager),
        await headers_of(api, worker),
    )


async def leave_type(api: httpx.AsyncClient, company: str, name: str = "Annual leave", **rules: Any) -> Any:
    body = {"company_id": company, "name": name, "allowance_days": "25", **rules}
    return ok(await api.post(f"{LEAVE}/leave-types", json=body), 201)


async def allocate(api: httpx.AsyncClient, employee: dict[str, Any], leave_type: dict[str, Any], **extra: Any) -> Any:
    body = {"employee_id": employee["id"], "leave_type_id": leave_type["id"], "year": YEAR, **extra}
    return ok(await api.post(f"{LEAVE}/allocations", json=body), 201)


async def request(
    api: httpx.AsyncClient,
    leave_type: dict[str, Any],
    start: str,
    end: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> httpx.Response:
    body = {"leave_type_id": leave_type["id"], "start_date": start, "end_date": end or start, **extra}
    return await api.post(f"{LEAVE}/requests", json=body, headers=headers)


async def balance(
    api: httpx.AsyncClient, employee: dict[str, Any], leave_type: dict[str, Any], year: int = YEAR
) -> dict[str, Decimal]:
    rows = ok(await api.get(f"{LEAVE}/balances", params={"employee_id": employee["id"], "year": year}))["items"]
    [row] = [r for r in rows if r["leave_type_id"] == leave_type["id"]]
    return {k: Decimal(row[k]) for k in ("credited", "taken", "balance", "pending", "available")}


async def leave_events(hrms: SystemRuntime, request_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The events the leave service wrote about one request, in order."""
    q = (
        select(outbox_table.c.event_type, outbox_table.c.payload)
        .where(outbox_table.c.aggregate_id == request_id)
        .order_by(outbox_table.c.id)
    )
    async with hrms["leave"].db.read_session(tenant=ACROSS_TENANTS) as session:
        rows = (await session.execute(q)).all()
    return [(r.event_type, json.loads(r.payload)["data"]) for r in rows]


def fields(r: httpx.Response) -> list[str]:
    return [e["field"] for e in r.json().get("errors", [])]
