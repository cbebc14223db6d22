"""Building blocks for the product service's tests: user tokens (minted with the
user service's key, as its login would), categories and products made through the
public API, and the service's outbox."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from sqlalchemy import select

from isles.runtime.system import SystemRuntime
from isles.storage.schema import outbox_table
from shop.contracts import STORE
from shop.contracts.permissions import ADMIN, CUSTOMER, permissions_of

BASE = "/api/product"


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    return response.json() if response.content else None


def fields(response: httpx.Response) -> list[str]:
    """The fields a problem names."""
    return [e["field"] for e in response.json().get("errors", [])]


def user_headers(shop: SystemRuntime, role: str = CUSTOMER, user_id: uuid.UUID | None = None) -> dict[str, str]:
    """A user's bearer token, as the user service's login would sign it."""
    token = shop.keys.signer("user", ttl=600).issue(
        subject=str(user_id or uuid.uuid4()), tenant=STORE, roles=[role], permissions=permissions_of([role])
    )
    return {"Authorization": f"Bearer {token}"}


def admin_headers(shop: SystemRuntime) -> dict[str, str]:
    return user_headers(shop, ADMIN)


async def new_category(api: httpx.AsyncClient, slug: str, parent_id: str | None = None, **body: Any) -> Any:
    payload = {"name": slug.replace("-", " ").title(), "slug": slug, "parent_id": parent_id, **body}
    return ok(await api.post(f"{BASE}/categories", json=payload), 201)


async def new_product(api: httpx.AsyncClient, sku: str, **body: Any) -> Any:
    payload = {"sku": sku, "name": f"Product {sku}", "price": "10.00", "stock_quantity": 5, **body}
    return ok(await api.post(f"{BASE}/products", json=payload), 201)


async def outbox(shop: SystemRuntime, aggregate_id: str) -> list[tuple[str, int, dict[str, Any]]]:
    """The product service's outbox for one aggregate: (type, version, data), in order."""
    async with shop.services["product"].db.read_session() as session:
        rows = (
            await session.execute(
                select(outbox_table.c.event_type, outbox_table.c.aggregate_version, outbox_table.c.payload)
                .where(outbox_table.c.aggregate_id == aggregate_id)
                .order_by(outbox_table.c.id)
            )
        ).all()
    return [(r.event_type, r.aggregate_version, json.loads(r.payload)["data"]) for r in rows]


async def stock_of(api: httpx.AsyncClient, product_id: str) -> int:
    return int(ok(await api.get(f"{BASE}/products/{product_id}"))["stock_quantity"])
