"""Building blocks for the user service's tests: customers who sign up and log in
through the public API, and the service's outbox."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from isles.runtime.system import SystemRuntime
from isles.storage.schema import outbox_table

PASSWORD = "correct-horse-battery"


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    return response.json() if response.content else None


def fields(response: httpx.Response) -> list[str]:
    """The fields a problem names."""
    return [e["field"] for e in response.json().get("errors", [])]


@dataclass
class Account:
    user: dict[str, Any]
    token: str

    @property
    def id(self) -> str:
        return str(self.user["id"])

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def email(name: str = "jane") -> str:
    return f"{name}.{uuid.uuid4().hex[:8]}@shop.example"


async def login(api: httpx.AsyncClient, address: str, password: str = PASSWORD) -> str:
    token = ok(await api.post("/api/user/login", json={"email": address, "password": password}))
    return str(token["access_token"])


async def customer(api: httpx.AsyncClient, first: str = "Jane", last: str = "Doe") -> Account:
    """A customer who signed up (anonymously) and logged in."""
    address = email(first.lower())
    body = {"email": address, "password": PASSWORD, "first_name": first, "last_name": last}
    user = ok(await api.post("/api/user/register", json=body, headers={"Authorization": ""}), 201)
    return Account(user, await login(api, address))


async def admin(api: httpx.AsyncClient) -> Account:
    """An admin made by the operator, logged in."""
    address = email("admin")
    body = {"email": address, "password": PASSWORD, "first_name": "Alex", "last_name": "Admin", "roles": ["admin"]}
    user = ok(await api.post("/api/user/users", json=body), 201)
    return Account(user, await login(api, address))


def address(**extra: Any) -> dict[str, Any]:
    return {
        "recipient": "Jane Doe",
        "line1": "12 rue des Lilas",
        "city": "Lyon",
        "postal_code": "69003",
        "country": "fr",
        **extra,
    }


async def user_events(shop: SystemRuntime, user_id: str) -> list[tuple[str, int, dict[str, Any]]]:
    """The user service's outbox for one user: (type, version, data), in order."""
    async with shop["user"].db.read_session() as session:
        rows = (
            await session.execute(
                select(outbox_table.c.event_type, outbox_table.c.aggregate_version, outbox_table.c.payload)
                .where(outbox_table.c.aggregate_id == user_id)
                .order_by(outbox_table.c.id)
            )
        ).all()
    return [(r.event_type, r.aggregate_version, json.loads(r.payload)["data"]) for r in rows]
