"""The place-order saga against stand-ins of the user and product services, on SQLite
and PostgreSQL: a confirmed order (stock taken, one charge, OrderPlaced, projections
equal to a rebuild); a failure at each step leaves stock, payment and order
consistent (the order FAILED with the reason); two customers racing for the last
unit; a payment timeout whose charge went through, resolved without a second charge."""

from __future__ import annotations

import asyncio
import re
import uuid
from decimal import Decimal

import pytest

from isles import StepFailed, conflict
from shop.services.order import service
from shop.services.order.models import OrderItem, OrderPayment, OrderShipping
from shop.services.order.store import STORE as EVENTS
from tests.shop.order.helpers import ORDERS, Shop, aclose, body

pytestmark = pytest.mark.integration


async def assert_rebuild_agrees(shop: Shop) -> None:
    db = shop.runtime["order"].db
    for name in ("orders", "order_history"):
        result = await EVENTS.check(db, name)
        assert result.agrees, (name, result)


async def test_an_order_is_placed_stock_taken_paid_once_and_published(fake_shop: Shop) -> None:
    shop = fake_shop
    mug = shop.world.add_product("Enamel mug", "19.90", 5)
    pen = shop.world.add_product("Fountain pen", "7.25", 2)
    user_id, address_id, client = await shop.customer()
    r = await client.post(ORDERS, json=body(address_id, [(mug, 2), (pen, 1)]))
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["status"] == "CONFIRMED"
    assert re.fullmatch(r"SO-\d{4}-\d{6}", order["order_number"])
    assert order["user_id_ref"] == str(user_id)
    assert order["total_amount"] == "47.05"
    assert sorted((i["product_name"], i["unit_price"], i["quantity"], i["subtotal"]) for i in order["items"]) == [
        ("Enamel mug", "19.90", 2, "39.80"),
        ("Fountain pen", "7.25", 1, "7.25"),
    ]
    assert order["payment"]["payment_status"] == "captured"
    assert order["payment"]["amount"] == "47.05"
    assert order["shipping"]["city"] == "London"
    assert order["shipping"]["shipping_status"] == "PENDING"
    assert r.headers["Location"].endswith(order["id"])
    assert (shop.world.products[mug].stock, shop.world.products[pen].stock) == (3, 1)
    charges = await shop.charges()
    assert [(c.status, c.amount) for c in charges] == [("captured", Decimal("47.05"))]
    assert await shop.events(order["id"]) == [
        "order.OrderCreated",
        "order.StockReserved",
        "order.PaymentCaptured",
        "order.OrderPlaced",
    ]
    placed = await shop.published("order.OrderPlaced")
    assert len(placed) == 1
    assert await shop.published("order.OrderCreated") == [], "the service's own events are stored, not published"
    read = await client.get(f"{ORDERS}/{order['id']}")
    assert read.status_code == 200
    assert read.headers["ETag"] == '"4"'
    await assert_rebuild_agrees(shop)
    await aclose(client)


async def test_order_numbers_are_unique_and_never_reused_even_by_failed_orders(fake_shop: Shop) -> None:
    shop = fake_shop
    mug = shop.world.add_product("Enamel mug", "19.90", 1)
    _u, address_id, client = await shop.customer()
    first = (await client.post(ORDERS, json=body(address_id, [(mug, 1)]))).json()
    failed = await client.post(ORDERS, json=body(address_id, [(mug, 1)]))
    assert failed.status_code == 409
    shop.world.products[mug].stock = 1
    third = (await client.post(ORDERS, json=body(address_id, [(mug, 1)]))).json()
    numbers = [first["order_number"], third["order_number"]]
    n1, n3 = (int(n.rsplit("-", 1)[1]) for n in numbers)
    assert n3 == n1 + 2, "the failed order took the number between them; it is not given again"
    await aclose(client)


async def test_an_unknown_or_inactive_user_or_another_users_address_fails_before_anything_is_made(
    fake_shop: Shop,
) -> None:
    shop = fake_shop
    mug = shop.world.add_product("Enamel mug", "19.90", 5)
    user_id, address_id, client = await shop.customer()
    _other, other_address, other_client = await shop.customer()
    r = await client.post(ORDERS, json=body(other_address, [(mug, 1)]))
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["address_id"]
    shop.world.users[user_id] = shop.world.users[user_id].model_copy(update={"is_active": False})
    r = await client.post(ORDERS, json=body(address_id, [(mug, 1)]))
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["user_id"]
    assert shop.world.products[mug].stock == 5
    assert await shop.charges() == []
    assert await shop.count(OrderItem) == 0
    assert shop.world.reserve_calls == 0
    await aclose(client, other_client)


async def test_a_customer_orders_only_for_themself(fake_shop: Shop) -> None:
    shop = fake_shop
    mug = shop.world.add_product("Enamel mug", "19.90", 5)
    _u, address_id, client = await shop.customer()
    other, _a, other_client = await shop.customer()
    r = await client.post(ORDERS, json={**body(address_id, [(mug, 1)]), "user_id": str(other)})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "user_id"
    bad = await client.post(ORDERS, json={**body(address_id, [(mug, 0)])})
    assert bad.status_code == 422
    assert shop.world.reserve_calls == 0
    await aclose(client, other_client)


async def test_out_of_stock_fails_the_order_and_takes_nothing(fake_shop: Shop) -> None:
    shop = fake_shop
    mug = shop.world.add_product("Enamel mug", "19.90", 5)
    pen = shop.world.add_product("Fountain pen", "7.25", 1)
    _u, address_id, client = await shop.customer()
    r = await client.post(ORDERS, json=body(address_id, [(mug, 2), (pen, 2)]))
    assert r.status_code == 409, r.text
    problem = r.json()
    assert problem["errors"][0]["field"] == "lines[1].quantity"
    (order,) = (await client.get(ORDERS)).json()["items"]
    assert order["status"] == "FAILED"
    assert "in stock" in order["failure_reason"]
    assert (shop.world.products[mug].stock, shop.world.products[pen].stock) == (5, 1)
    assert await shop.charges() == []
    assert await shop.events(order["id"]) == ["order.OrderCreated", "order.OrderFailed"]
    await assert_rebuild_agrees(shop)
    await aclose(client)


async def test_a_declined_payment_releases_the_stock_and_names_the_payment_method(fake_shop: Shop) -> None:
    shop = fake_shop
    mug = shop.world.add_product("Enamel mug", "19.90", 5)
    _u, address_id, client = await shop.customer()
    r = await client.post(ORDERS, json=body(address_id, [(mug, 2)], "pm_declined"))
    assert r.status_code == 402, r.text
    assert r.json()["errors"][0]["field"] == "payment_method"
    (order,) = (await client.get(ORDERS)).json()["items"]
    assert order["status"] == "FAILED"
    assert order["payment"] is None
    assert shop.world.products[mug].stock == 5
    assert [c.status for c in await shop.charges()] == ["declined"]
    assert await shop.events(order["id"]) == [
        "order.OrderCreated",
        "order.StockReserved",
        "order.StockReleased",
        "order.OrderFailed",
    ]
    assert await shop.published("order.OrderPlaced") == []
    await assert_rebuild_agrees(shop)
    await aclose(client)


async def test_a_payment_timeout_with_nothing_charged_fails_the_order_and_releases_the_stock(fake_shop: Shop) -> None:
    shop = fake_shop
    mug = shop.world.add_product("Enamel mug", "19.90", 5)
    _u, address_id, client = await shop.customer()
    r = await client.post(ORDERS, json=body(address_id, [(mug, 1)], "pm_timeout"))
    assert r.status_code == 504, r.text
    assert r.json()["type"].endswith("saga-step-timeout")
    assert "had no answer within" not in r.json()["detail"], "the provider timed out, not the step's bound"
    await _settled(shop)
    (order,) = (await client.get(ORDERS)).json()["items"]
    assert order["status"] == "FAILED"
    assert shop.world.products[mug].stock == 5
    assert await shop.charges() == [], "nothing was charged"
    assert order["payment"] is None
    await assert_rebuild_agrees(shop)
    await aclose(client)


async def test_a_timed_out_charge_that_went_through_is_found_by_its_key_not_charged_again(fake_shop: Shop) -> None:
    shop = fake_shop
    mug = shop.world.add_product("Enamel mug", "19.90", 5)
    _u, address_id, client = await shop.customer()
    r = await client.post(ORDERS, json=body(address_id, [(mug, 1)], "pm_unknown_then_paid"))
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["status"] == "CONFIRMED"
    charges = await shop.charges()
    assert [(c.status, c.amount) for c in charges] == [("captured", Decimal("19.90"))]
    assert order["payment"]["transaction_id"] == charges[0].reference
    state = await shop.runtime["order"].sagas.store.load(uuid.UUID(r.headers["Saga-Id"]))  # type: ignore[union-attr]
    assert state is not None
    payment_step = next(s for s in state.steps if s.name == "take_payment")
    assert payment_step.attempts == 2, "the first attempt timed out; the second found the charge by its key"
    assert shop.world.products[mug].stock == 4
    await aclose(client)


async def test_a_failure_at_confirm_refunds_and_releases(fake_shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    shop = fake_shop
    mug = shop.world.add_product("Enamel mug", "19.90", 5)
    _u, address_id, client = await shop.customer()

    async def refuse(uow: object, order: object) -> None:
        raise StepFailed(conflict("status", "the order could not be confirmed"))

    monkeypatch.setattr(service, "confirm_order", refuse)
    r = await client.post(ORDERS, json=body(address_id, [(mug, 3)]))
    assert r.status_code == 409, r.text
    (order,) = (await client.get(ORDERS)).json()["items"]
    assert order["status"] == "FAILED"
    assert order["failure_reason"] == "the order could not be confirmed"
    assert shop.world.products[mug].stock == 5
    assert [(c.status, c.amount) for c in await shop.charges()] == [("refunded", Decimal("59.70"))]
    assert order["payment"]["payment_status"] == "refunded", "the order shows the charge and its refund"
    assert await shop.events(order["id"]) == [
        "order.OrderCreated",
        "order.StockReserved",
        "order.PaymentCaptured",
        "order.PaymentRefunded",
        "order.StockReleased",
        "order.OrderFailed",
    ]
    assert await shop.published("order.OrderPlaced") == []
    await assert_rebuild_agrees(shop)
    await aclose(client)


async def test_two_customers_racing_for_the_last_unit_exactly_one_gets_it(fake_shop: Shop) -> None:
    shop = fake_shop
    lamp = shop.world.add_product("Brass lamp", "120.00", 1)
    _a, address_a, client_a = await shop.customer()
    _b, address_b, client_b = await shop.customer()
    answers = await asyncio.gather(
        client_a.post(ORDERS, json=body(address_a, [(lamp, 1)])),
        client_b.post(ORDERS, json=body(address_b, [(lamp, 1)])),
    )
    assert sorted(a.status_code for a in answers) == [201, 409]
    assert shop.world.products[lamp].stock == 0
    admin = shop.client()
    statuses = sorted(o["status"] for o in (await admin.get(ORDERS)).json()["items"])
    assert statuses == ["CONFIRMED", "FAILED"]
    assert [c.amount for c in await shop.charges()] == [Decimal("120.00")]
    await assert_rebuild_agrees(shop)
    await aclose(client_a, client_b, admin)


async def test_a_retried_request_with_its_key_gets_the_same_order_and_one_charge(fake_shop: Shop) -> None:
    shop = fake_shop
    mug = shop.world.add_product("Enamel mug", "19.90", 5)
    _u, address_id, client = await shop.customer()
    headers = {"Idempotency-Key": "order-once-1"}
    first = await client.post(ORDERS, json=body(address_id, [(mug, 1)]), headers=headers)
    again = await client.post(ORDERS, json=body(address_id, [(mug, 1)]), headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert len(await shop.charges()) == 1
    assert shop.world.products[mug].stock == 4
    other = await client.post(ORDERS, json=body(address_id, [(mug, 2)]), headers=headers)
    assert other.status_code == 422
    await aclose(client)


async def test_the_projection_keeps_the_address_snapshot(fake_shop: Shop) -> None:
    shop = fake_shop
    mug = shop.world.add_product("Enamel mug", "19.90", 5)
    _u, address_id, client = await shop.customer()
    order = (await client.post(ORDERS, json=body(address_id, [(mug, 1)]))).json()
    shop.world.addresses[address_id] = shop.world.addresses[address_id].model_copy(update={"city": "Paris"})
    (shipping,) = await shop.rows(OrderShipping, OrderShipping.order_id == uuid.UUID(order["id"]))
    assert shipping.city == "London"
    (payment,) = await shop.rows(OrderPayment, OrderPayment.order_id == uuid.UUID(order["id"]))
    assert payment.amount == Decimal("19.90")
    await aclose(client)


async def _settled(shop: Shop) -> None:
    """Wait until no saga of the order service is in flight."""
    runner = shop.runtime["order"].sagas
    assert runner is not None
    for _ in range(300):
        counts = await runner.store.counts()
        if not any(n for (_t, status), n in counts.items() if status in ("running", "compensating")):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"sagas still in flight: {counts}")
