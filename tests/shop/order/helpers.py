"""What the order service's tests share: a shop whose user and product services are
stand-ins (``fakes``), tokens, and reads of the order database."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import func, select

from isles import ACROSS_TENANTS
from isles.runtime.system import SystemRuntime
from isles.storage.schema import outbox_table
from shop.contracts import STORE
from shop.contracts.permissions import permissions_of
from shop.services.order.models import FakePayment, Order
from shop.services.order.store import STORE as EVENTS
from tests.shop.order.fakes import World
from tests.support import Backend

ORDERS = "/api/order/orders"


@dataclass
class Shop:
    runtime: SystemRuntime
    world: World
    backend: Backend

    def token(self, user_id: uuid.UUID, roles: tuple[str, ...] = ("customer",)) -> str:
        signer = self.runtime.keys.signer("user", ttl=600)
        return signer.issue(subject=str(user_id), tenant=STORE, roles=list(roles), permissions=permissions_of(roles))

    def client(self, user_id: uuid.UUID | None = None, roles: tuple[str, ...] = ("customer",)) -> httpx.AsyncClient:
        """A client as the user (a customer by default), or as the operator."""
        return self.runtime.client(self.token(user_id, roles) if user_id is not None else "operator")

    async def customer(self) -> tuple[uuid.UUID, uuid.UUID, httpx.AsyncClient]:
        user_id, address_id = self.world.add_user()
        return user_id, address_id, self.client(user_id)

    async def rows(self, model: Any, *where: Any) -> list[Any]:
        async with self.runtime["order"].db.read_session(tenant=ACROSS_TENANTS) as session:
            return list((await session.scalars(select(model).where(*where))).all())

    async def order(self, order_id: uuid.UUID | str) -> Order:
        (row,) = await self.rows(Order, Order.id == uuid.UUID(str(order_id)))
        return row

    async def charges(self) -> list[FakePayment]:
        return await self.rows(FakePayment)

    async def published(self, event_type: str) -> list[dict[str, Any]]:
        async with self.runtime["order"].db.read_session(tenant=ACROSS_TENANTS) as session:
            rows = await session.execute(
                select(outbox_table.c.payload)
                .where(outbox_table.c.event_type == event_type)
                .order_by(outbox_table.c.id)
            )
            return [json.loads(r.payload) for r in rows]

    async def events(self, order_id: uuid.UUID | str) -> list[str]:
        async with self.runtime["order"].db.read_session(tenant=ACROSS_TENANTS) as session:
            stored = await EVENTS.events_of(session, "order", uuid.UUID(str(order_id)))
        return [s.event_type for s in stored]

    async def count(self, model: Any) -> int:
        async with self.runtime["order"].db.read_session(tenant=ACROSS_TENANTS) as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def body(address_id: uuid.UUID, lines: list[tuple[uuid.UUID, int]], method: str = "pm_ok") -> dict[str, Any]:
    return {
        "lines": [{"product_id": str(p), "quantity": q} for p, q in lines],
        "address_id": str(address_id),
        "payment_method": method,
    }


async def aclose(*clients: httpx.AsyncClient) -> None:
    for c in clients:
        await c.aclose()
