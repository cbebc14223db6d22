"""Building blocks for the tasks service's tests: a company with people who log in,
and tasks made through the public API."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from isles import ACROSS_TENANTS
from isles.runtime.system import SystemRuntime
from isles.storage.schema import outbox_table
from tests.hrms.helpers import headers_of, new_company, ok, user_with_password


@dataclass
class Person:
    employee: dict[str, Any]
    headers: dict[str, str]

    @property
    def id(self) -> str:
        return str(self.employee["id"])


@dataclass
class Company:
    id: str
    admin: Person
    manager: Person
    ada: Person  # employees
    bob: Person
    cid: Person


async def person(api: httpx.AsyncClient, company_id: str, role: str, first: str, last: str) -> Person:
    employee = await user_with_password(api, company_id, role, first=first, last=last)
    return Person(employee, await headers_of(api, employee))


async def company(api: httpx.AsyncClient, hrms: SystemRuntime, name: str = "Acme") -> Company:
    """A company with an admin, a manager and three employees, each logged in; the
    tasks service has heard of them all."""
    c = await new_company(api, name)
    made = Company(
        id=c["id"],
        admin=await person(api, c["id"], "admin", "Grace", "Hopper"),
        manager=await person(api, c["id"], "manager", "Margaret", "Hamilton"),
        ada=await person(api, c["id"], "employee", "Ada", "Lovelace"),
        bob=await person(api, c["id"], "employee", "Bob", "Noyce"),
        cid=await person(api, c["id"], "employee", "Cid", "Shannon"),
    )
    await hrms.settle()
    return made


async def new_task(api: httpx.AsyncClient, by: Person, **body: Any) -> Any:
    return ok(await api.post("/api/tasks/tasks", json={"title": "Write the report", **body}, headers=by.headers), 201)


async def task_events(hrms: SystemRuntime, task_id: str) -> list[tuple[str, int, dict[str, Any]]]:
    """The tasks service's outbox for one task: (type, version, data), in order."""
    async with hrms["tasks"].db.read_session(tenant=ACROSS_TENANTS) as session:
        rows = (
            await session.execute(
                select(outbox_table.c.event_type, outbox_table.c.aggregate_version, outbox_table.c.payload)
                .where(outbox_table.c.aggregate_id == task_id)
                .order_by(outbox_table.c.id)
            )
        ).all()
    return [(r.event_type, r.aggregate_version, json.loads(r.payload)["data"]) for r in rows]


def uid() -> str:
    return str(uuid.uuid4())
