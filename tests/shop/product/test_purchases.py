"""Who bought what: the product service keeps it from the order service's OrderPlaced
events (its own copy, no call), and a review of a product the author bought says
``verified_purchase``. A redelivered event, or a second order, adds nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import func, select

from isles import Envelope, HandlerContext, utcnow
from isles.runtime.system import SystemRuntime
from isles.storage.schema import dead_letters_table
from shop.contracts import CURRENCY
from shop.contracts.order import OrderLine, OrderPlaced
from shop.services.product.handlers import on_order_placed
from shop.services.product.models import Purchase
from tests.shop.product.helpers import BASE, new_product, ok, user_headers

pytestmark = pytest.mark.integration


@dataclass
class _Order:  # what the unit of work's emit needs of an aggregate
    id: uuid.UUID
    version: int = 0


def placed(user_id: uuid.UUID, *products: dict[str, str]) -> OrderPlaced:
    lines = [
        OrderLine(
            product_id_ref=uuid.UUID(p["id"]),
            sku=p["sku"],
            product_name=p["name"],
            unit_price=Decimal(p["price"]),
            quantity=1,
            subtotal=Decimal(p["price"]),
        )
        for p in products
    ]
    return OrderPlaced(
        id=uuid.uuid4(),
        order_number="SH-000001",
        user_id_ref=user_id,
        total_amount=sum((line.subtotal for line in lines), Decimal("0")),
        currency=CURRENCY,
        lines=lines,
        placed_at=utcnow(),
    )


async def purchases(shop: SystemRuntime) -> int:
    """How many (user, product) purchases the product service holds; none of the
    events it was sent may have been parked."""
    async with shop.services["product"].db.read_session() as session:
        assert (await session.execute(select(dead_letters_table))).all() == []
        return int(await session.scalar(select(func.count()).select_from(Purchase)) or 0)


async def test_a_review_of_a_product_bought_is_a_verified_purchase(
    shop: SystemRuntime, shop_api: httpx.AsyncClient
) -> None:
    book = await new_product(shop_api, "BK-1", price="19.90")
    pan = await new_product(shop_api, "HM-1", price="49.00")
    buyer, browser = uuid.uuid4(), uuid.uuid4()
    # The order service publishes the order (written to its outbox as it would).
    event = placed(buyer, book, pan, book)
    async with shop.services["order"].uow() as uow:
        uow.emit(event, aggregate=_Order(event.id), aggregate_type="order")
        await uow.commit()
    await shop.settle()
    assert await purchases(shop) == 2
    url = f"{BASE}/products/{book['id']}/reviews/me"
    mine = ok(await shop_api.put(url, json={"rating": 5}, headers=user_headers(shop, user_id=buyer)), 201)
    theirs = ok(await shop_api.put(url, json={"rating": 3}, headers=user_headers(shop, user_id=browser)), 201)
    assert (mine["verified_purchase"], theirs["verified_purchase"]) == (True, False)
    listed = ok(await shop_api.get(f"{BASE}/products/{book['id']}/reviews"))
    assert {r["user_id_ref"]: r["verified_purchase"] for r in listed["items"]} == {
        str(buyer): True,
        str(browser): False,
    }
    # A second order of the same book, and the same event handled again: nothing new.
    again = placed(buyer, book)
    async with shop.services["order"].uow() as uow:
        uow.emit(again, aggregate=_Order(again.id), aggregate_type="order")
        await uow.commit()
    await shop.settle()
    async with shop.services["product"].uow() as uow:
        envelope = Envelope.new(
            event, source="/isles/order", aggregate_type="order", aggregate_id=str(event.id), aggregate_version=1
        )
        await on_order_placed(HandlerContext(uow=uow, envelope=envelope), event)
        await uow.commit()
    assert await purchases(shop) == 2
