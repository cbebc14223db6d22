"""An order's life after it is placed, on SQLite and PostgreSQL: cancelled (refunded,
restocked, OrderCancelled), shipped (the statuses, the order following), product data
on its items (a rename reaches open orders and the history, not closed ones; a price
change reaches nothing), the history's review marks, who sees what, a concurrent
write refused by the aggregate's version, the projections rebuilt (by command too)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from isles import ACROSS_TENANTS, Event, Problem
from isles.cli.main import app
from shop.contracts.product import ProductPriceChanged, ProductRenamed, ReviewPosted, ReviewRemoved
from shop.services.order import store
from shop.services.order.models import Order, OrderHistoryItem, OrderItem
from shop.services.order.store import STORE as EVENTS
from tests.shop.order.helpers import ORDERS, Shop, aclose, body

pytestmark = pytest.mark.integration


@dataclass
class _Versioned:
    id: uuid.UUID
    version: int


async def product_event(shop: Shop, event: Event, aggregate_id: uuid.UUID, version: int) -> None:
    """``event`` published by the product service (as its version ``version``), and heard."""
    async with shop.runtime["product"].uow() as uow:
        uow.emit(event, aggregate=_Versioned(aggregate_id, version - 1), aggregate_type="product")
        await uow.commit()
    await shop.runtime.settle()


async def placed(shop: Shop, client: Any, address_id: uuid.UUID, lines: list[tuple[uuid.UUID, int]]) -> dict[str, Any]:
    r = await client.post(ORDERS, json=body(address_id, lines))
    assert r.status_code == 201, r.text
    return dict(r.json())


async def ship(shop: Shop, order_id: str, *steps: dict[str, Any]) -> dict[str, Any]:
    admin = shop.client()
    try:
        answer: dict[str, Any] = {}
        for step in steps:
            r = await admin.post(f"{ORDERS}/{order_id}/shipping", json=step)
            assert r.status_code == 200, r.text
            answer = r.json()
        return answer
    finally:
        await admin.aclose()


SHIPPED = ({"status": "PACKED"}, {"status": "SHIPPED", "carrier": "DHL", "tracking_number": "JD0146000033"})


async def test_cancelling_a_paid_order_refunds_restocks_and_publishes(fake_shop: Shop) -> None:
    shop = fake_shop
    mug = shop.world.add_product("Enamel mug", "19.90", 5)
    _u, address_id, client = await shop.customer()
    order = await placed(shop, client, address_id, [(mug, 2)])
    assert shop.world.products[mug].stock == 3
    r = await client.post(f"{ORDERS}/{order['id']}/cancel", json={"reason": "changed my mind"})
    assert r.status_code == 200, r.text
    cancelled = r.json()
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["failure_reason"] == "changed my mind"
    assert cancelled["payment"]["payment_status"] == "refunded"
    assert shop.world.products[mug].stock == 5
    assert [(c.status, c.amount) for c in await shop.charges()] == [("refunded", Decimal("39.80"))]
    (event,) = await shop.published("order.OrderCancelled")
    assert (event["data"]["id"], event["data"]["refunded"]) == (order["id"], "39.80")
    again = await client.post(f"{ORDERS}/{order['id']}/cancel", json={})
    assert again.status_code == 409
    assert shop.world.products[mug].stock == 5, "a second cancel gives nothing back twice"
    assert len(await shop.charges()) == 1
    await aclose(client)


async def test_a_shipped_order_cannot_be_cancelled_and_shipping_moves_the_order(fake_shop: Shop) -> None:
    shop = fake_shop
    mug = shop.world.add_product("Enamel mug", "19.90", 5)
    _u, address_id, client = await shop.customer()
    order = await placed(shop, client, address_id, [(mug, 1)])
    no_carrier = await (admin := shop.client()).post(f"{ORDERS}/{order['id']}/shipping", json={"status": "PACKED"})
    assert no_carrier.status_code == 200
    r = await admin.post(f"{ORDERS}/{order['id']}/shipping", json={"status": "SHIPPED"})
    assert r.status_code == 422
    assert sorted(e["field"] for e in r.json()["errors"]) == ["carrier", "tracking_number"]
    skip = await admin.post(f"{ORDERS}/{order['id']}/shipping", json={"status": "DELIVERED"})
    assert skip.status_code == 409
    shipped = await ship(shop, order["id"], SHIPPED[1])
    assert (shipped["status"], shipped["shipping"]["shipping_status"], shipped["shipping"]["carrier"]) == (
        "SHIPPED",
        "SHIPPED",
        "DHL",
    )
    assert shipped["shipping"]["shipped_at"] is not None
    refused = await client.post(f"{ORDERS}/{order['id']}/cancel", json={})
    assert refused.status_code == 409
    customer_ships = await client.post(f"{ORDERS}/{order['id']}/shipping", json={"status": "IN_TRANSIT"})
    assert customer_ships.status_code == 403
    delivered = await ship(shop, order["id"], {"status": "IN_TRANSIT"}, {"status": "DELIVERED"})
    assert (delivered["status"], delivered["shipping"]["shipping_status"]) == ("DELIVERED", "DELIVERED")
    assert delivered["shipping"]["delivered_at"] is not None
    statuses = [e["data"]["status"] for e in await shop.published("order.OrderShippingChanged")]
    assert statuses == ["PACKED", "SHIPPED", "IN_TRANSIT", "DELIVERED"]
    assert (await EVENTS.check(shop.runtime["order"].db, "orders")).agrees
    await aclose(client, admin)


async def test_a_rename_reaches_open_orders_and_the_history_not_closed_ones_and_a_price_change_nothing(
    fake_shop: Shop,
) -> None:
    shop = fake_shop
    mug = shop.world.add_product("Enamel mug", "19.90", 10)
    _user_id, address_id, client = await shop.customer()
    open_order = await placed(shop, client, address_id, [(mug, 1)])
    closed_order = await placed(shop, client, address_id, [(mug, 2)])
    await ship(shop, closed_order["id"], *SHIPPED)
    rename = ProductRenamed(id=mug, sku="MUG", name="Enamel mug, blue", previous_name="Enamel mug")
    await product_event(shop, rename, mug, 2)
    await product_event(shop, rename, mug, 2)  # heard twice (another delivery): nothing more
    items = {i.order_id: i for i in await shop.rows(OrderItem)}
    assert items[uuid.UUID(open_order["id"])].product_name == "Enamel mug, blue"
    assert items[uuid.UUID(closed_order["id"])].product_name == "Enamel mug"
    assert (await shop.events(open_order["id"])).count("order.ItemRenamed") == 1
    assert "order.ItemRenamed" not in await shop.events(closed_order["id"])
    history = (await client.get("/api/order/users/me/history")).json()
    names = {e["order_id"]: e["items"][0]["product_name"] for e in history["items"]}
    assert names == {open_order["id"]: "Enamel mug, blue", closed_order["id"]: "Enamel mug"}
    assert {e["order_id"]: e["status"] for e in history["items"]}[closed_order["id"]] == "SHIPPED"

    price = ProductPriceChanged(id=mug, sku="MUG", price=Decimal("24.90"), previous_price=Decimal("19.90"))
    await product_event(shop, price, mug, 3)
    after = (await client.get(f"{ORDERS}/{open_order['id']}")).json()
    assert (after["items"][0]["unit_price"], after["total_amount"]) == ("19.90", "19.90")
    assert after["payment"]["amount"] == "19.90"
    assert {i.unit_price for i in await shop.rows(OrderHistoryItem)} == {Decimal("19.90")}
    db = shop.runtime["order"].db
    assert (await EVENTS.check(db, "orders")).agrees
    assert (await EVENTS.check(db, "order_history")).agrees
    await aclose(client)


async def test_the_history_shows_what_the_user_reviewed_from_review_events(fake_shop: Shop) -> None:
    shop = fake_shop
    mug = shop.world.add_product("Enamel mug", "19.90", 10)
    pen = shop.world.add_product("Fountain pen", "7.25", 10)
    user_id, address_id, client = await shop.customer()
    other, _a, other_client = await shop.customer()
    order = await placed(shop, client, address_id, [(mug, 1), (pen, 1)])
    review_id = uuid.uuid4()
    await product_event(shop, ReviewPosted(id=review_id, product_id=mug, user_id_ref=user_id, rating=4), review_id, 1)
    await product_event(shop, ReviewPosted(id=uuid.uuid4(), product_id=pen, user_id_ref=other, rating=1), pen, 1)

    async def reviewed() -> dict[str, Any]:
        (entry,) = (await client.get("/api/order/users/me/history")).json()["items"]
        assert entry["order_id"] == order["id"]
        return {i["product_name"]: (i["reviewed"], i["rating"]) for i in entry["items"]}

    assert await reviewed() == {"Enamel mug": (True, 4), "Fountain pen": (False, None)}
    removed = ReviewRemoved(id=review_id, product_id=mug, user_id_ref=user_id)
    await product_event(shop, removed, review_id, 2)
    late = ReviewPosted(id=review_id, product_id=mug, user_id_ref=user_id, rating=4)
    await product_event(shop, late, review_id, 1)  # an older event, delivered late: changes nothing
    assert await reviewed() == {"Enamel mug": (False, None), "Fountain pen": (False, None)}
    assert (await EVENTS.check(shop.runtime["order"].db, "order_history")).agrees
    await aclose(client, other_client)


async def test_a_customer_sees_only_their_own_orders_an_admin_all(fake_shop: Shop) -> None:
    shop = fake_shop
    mug = shop.world.add_product("Enamel mug", "19.90", 10)
    ada, ada_address, ada_client = await shop.customer()
    bob, bob_address, bob_client = await shop.customer()
    ada_order = await placed(shop, ada_client, ada_address, [(mug, 1)])
    bob_order = await placed(shop, bob_client, bob_address, [(mug, 1)])
    assert [o["id"] for o in (await ada_client.get(ORDERS)).json()["items"]] == [ada_order["id"]]
    assert (await ada_client.get(f"{ORDERS}/{bob_order['id']}")).status_code == 404
    assert (await ada_client.post(f"{ORDERS}/{bob_order['id']}/cancel", json={})).status_code == 404
    assert (await ada_client.get(f"/api/order/users/{bob}/history")).status_code == 404
    assert (await ada_client.get(f"/api/order/users/{ada}/history")).status_code == 200
    admin_id, _x = shop.world.add_user(roles=("admin",))
    admin = shop.client(admin_id, ("admin",))
    assert {o["id"] for o in (await admin.get(ORDERS)).json()["items"]} == {ada_order["id"], bob_order["id"]}
    assert (await admin.get(ORDERS, params={"status": "FAILED"})).json()["items"] == []
    assert (await admin.get(f"/api/order/users/{bob}/history")).json()["total"] == 1
    page = (await admin.get(ORDERS, params={"limit": 1})).json()
    assert (len(page["items"]), page["total"]) == (1, 2)
    anonymous = shop.runtime.client(None)
    assert (await anonymous.get(ORDERS)).status_code == 401
    await aclose(ada_client, bob_client, admin, anonymous)


async def test_a_concurrent_write_to_one_order_is_refused_by_its_version_and_nothing_is_lost(fake_shop: Shop) -> None:
    shop = fake_shop
    mug = shop.world.add_product("Enamel mug", "19.90", 10)
    _u, address_id, client = await shop.customer()
    order = await placed(shop, client, address_id, [(mug, 1)])
    order_id = uuid.UUID(order["id"])
    rt = shop.runtime["order"]
    async with rt.db.read_session(tenant=ACROSS_TENANTS) as session:
        first = await store.load(session, order_id)
        second = await store.load(session, order_id)
    assert first is not None
    assert second is not None
    first.ship("PACKED", None, None)
    second.rename(mug, "Enamel mug, red")
    async with rt.uow() as uow:
        await store.save(uow, first)
        await uow.commit()
    async with rt.uow() as uow:
        with pytest.raises(Problem) as refused:
            await store.save(uow, second)
    assert refused.value.status == 409
    assert await shop.events(order["id"]) == [
        "order.OrderCreated",
        "order.StockReserved",
        "order.PaymentCaptured",
        "order.OrderPlaced",
        "order.OrderShippingChanged",
    ]
    assert len(await shop.published("order.OrderShippingChanged")) == 1
    (row,) = await shop.rows(Order, Order.id == order_id)
    assert row.version == 5
    (item,) = await shop.rows(OrderItem, OrderItem.order_id == order_id)
    assert item.product_name == "Enamel mug", "the refused write left nothing"

    async def pack_or_rename(k: int) -> None:  # racing writers retry on the new version
        for _ in range(50):
            async with rt.db.read_session(tenant=ACROSS_TENANTS) as session:
                agg = await store.load(session, order_id)
            assert agg is not None
            agg.rename(mug, f"Enamel mug {k}")
            try:
                async with rt.uow() as uow:
                    await store.save(uow, agg)
                    await uow.commit()
                return
            except Problem:
                await asyncio.sleep(0.005)
        raise AssertionError("never got through")

    await asyncio.gather(*(pack_or_rename(k) for k in range(5)))
    assert (await shop.events(order["id"])).count("order.ItemRenamed") == 5
    assert (await EVENTS.check(rt.db, "orders")).agrees
    await aclose(client)


async def test_the_projections_are_rebuilt_from_the_events_by_command(fake_shop: Shop) -> None:
    shop = fake_shop
    mug = shop.world.add_product("Enamel mug", "19.90", 10)
    _u, address_id, client = await shop.customer()
    orders = [await placed(shop, client, address_id, [(mug, 1)]) for _ in range(3)]
    await client.post(ORDERS, json=body(address_id, [(mug, 1)], "pm_declined"))
    await client.post(f"{ORDERS}/{orders[0]['id']}/cancel", json={})
    await ship(shop, orders[1]["id"], *SHIPPED)
    db = shop.runtime["order"].db
    live = await EVENTS.check(db, "orders")
    assert live.agrees, live
    assert live.rows == {"orders": 4, "order_items": 4, "order_payment": 3, "order_shipping": 4}
    async with db.writing(tenant=ACROSS_TENANTS) as session, session.begin():  # drift: a hand edit
        await session.execute(update(Order).where(Order.id == uuid.UUID(orders[2]["id"])).values(status="DELIVERED"))
    backend = shop.backend
    where = ["--database-url", backend.settings.database_url] if backend.settings.database_url else []
    where += ["--data-dir", str(backend.settings.data_dir), "--system", "tests.shop.order.fakes:build_default"]

    async def cli(*args: str) -> tuple[int, str]:
        result = await asyncio.to_thread(CliRunner().invoke, app, [*args, *where], env={"COLUMNS": "200"})
        return result.exit_code, result.output

    code, output = await cli("projections", "check", "order.orders")
    assert code == 1, output
    assert f"different {orders[2]['id']}" in output
    code, output = await cli("projections", "rebuild", "order.orders")
    assert code == 0, output
    assert (await shop.order(orders[2]["id"])).status == "CONFIRMED"
    assert (await cli("projections", "check", "order.orders"))[0] == 0
    assert (await cli("projections", "check", "order.order_history"))[0] == 0
    await aclose(client)
