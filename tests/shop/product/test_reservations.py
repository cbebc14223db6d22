"""Stock reservations, the place-order saga's step: all or nothing, never below zero
however many orders race for the last units, idempotent by the reservation id (and by
Idempotency-Key), released once however often the compensation runs; and the
contract's ProductClient, called as the order service calls it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from isles.clients.service import Conflict, Rejected
from isles.runtime.system import SystemRuntime
from shop.contracts import STORE
from shop.contracts.product import ProductClient, ReservationLine
from shop.services.product import service
from shop.services.product.schemas import ReservationCreate
from tests.shop.product.helpers import BASE, fields, new_product, ok, stock_of

pytestmark = pytest.mark.integration

RESERVE = f"{BASE}/reservations"


def body(*lines: tuple[str, int], reservation_id: str | None = None) -> dict[str, Any]:
    return {
        "reservation_id": reservation_id or str(uuid.uuid4()),
        "lines": [{"product_id": p, "quantity": q} for p, q in lines],
    }


async def test_a_reservation_takes_stock_and_keeps_the_product_as_it_was(shop_api: httpx.AsyncClient) -> None:
    book = await new_product(shop_api, "BK-1", name="Solaris", price="14.50", stock_quantity=5)
    pan = await new_product(shop_api, "HM-1", name="Pan", price="49.00", stock_quantity=2)
    asked = body((book["id"], 2), (pan["id"], 2))
    r = await shop_api.post(RESERVE, json=asked)
    made = ok(r, 201)
    assert r.headers["Location"].endswith(f"{RESERVE}/{asked['reservation_id']}")
    assert made == {
        "reservation_id": asked["reservation_id"],
        "status": "reserved",
        "lines": [
            {"product_id": book["id"], "sku": "BK-1", "name": "Solaris", "unit_price": "14.50", "quantity": 2},
            {"product_id": pan["id"], "sku": "HM-1", "name": "Pan", "unit_price": "49.00", "quantity": 2},
        ],
    }
    assert (await stock_of(shop_api, book["id"]), await stock_of(shop_api, pan["id"])) == (3, 0)
    # A later price change does not alter what was reserved.
    ok(await shop_api.patch(f"{BASE}/products/{book['id']}", json={"price": "9.99"}))
    assert ok(await shop_api.get(f"{RESERVE}/{asked['reservation_id']}")) == made
    assert (await shop_api.get(f"{RESERVE}/{uuid.uuid4()}")).status_code == 404


async def test_a_reservation_is_all_or_nothing(shop_api: httpx.AsyncClient) -> None:
    a = await new_product(shop_api, "A-1", stock_quantity=5)
    b = await new_product(shop_api, "B-1", stock_quantity=1)
    gone = await new_product(shop_api, "C-1", stock_quantity=9)
    ok(await shop_api.patch(f"{BASE}/products/{gone['id']}", json={"is_active": False}))
    unknown = str(uuid.uuid4())
    # Not enough of the second line: 409 naming it, with how many are left; nothing taken.
    r = await shop_api.post(RESERVE, json=body((a["id"], 3), (b["id"], 2)))
    assert (r.status_code, fields(r)) == (409, ["lines[1].quantity"]), r.text
    assert "only 1 left" in r.json()["errors"][0]["message"]
    # An unknown product and a discontinued one: 422 naming each.
    r = await shop_api.post(RESERVE, json=body((a["id"], 1), (unknown, 1), (gone["id"], 1)))
    assert (r.status_code, fields(r)) == (422, ["lines[1].product_id", "lines[2].product_id"]), r.text
    assert [e["code"] for e in r.json()["errors"]] == ["not_found", "discontinued"]
    assert (await stock_of(shop_api, a["id"]), await stock_of(shop_api, b["id"])) == (5, 1)
    # Bad lines: a quantity of 0, none at all.
    r = await shop_api.post(RESERVE, json=body((a["id"], 0)))
    assert (r.status_code, fields(r)) == (422, ["lines.0.quantity"]), r.text  # the platform's own form
    r = await shop_api.post(RESERVE, json={"reservation_id": str(uuid.uuid4()), "lines": []})
    assert (r.status_code, fields(r)) == (422, ["lines"])
    # A refused reservation left no trace: its id reserves normally afterwards.
    rid = str(uuid.uuid4())
    assert (await shop_api.post(RESERVE, json=body((b["id"], 2), reservation_id=rid))).status_code == 409
    ok(await shop_api.post(RESERVE, json=body((b["id"], 1), reservation_id=rid)), 201)
    assert await stock_of(shop_api, b["id"]) == 0


async def test_two_orders_racing_for_the_last_unit_one_wins(shop_api: httpx.AsyncClient) -> None:
    last = await new_product(shop_api, "LAST-1", stock_quantity=1)
    answers = await asyncio.gather(*(shop_api.post(RESERVE, json=body((last["id"], 1))) for _ in range(2)))
    assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
    assert await stock_of(shop_api, last["id"]) == 0
    # Many at once for a few units: exactly as many win as there are units.
    few = await new_product(shop_api, "FEW-1", stock_quantity=3)
    answers = await asyncio.gather(*(shop_api.post(RESERVE, json=body((few["id"], 1))) for _ in range(8)))
    assert sorted(a.status_code for a in answers) == [201] * 3 + [409] * 5
    assert await stock_of(shop_api, few["id"]) == 0


async def test_concurrent_reservations_on_their_own_connections_never_go_below_zero(
    shop: SystemRuntime, shop_api: httpx.AsyncClient
) -> None:
    """The use case itself, each racer in its own transaction on its own connection
    (on PostgreSQL truly at once; SQLite serializes its writers), in opposite line
    orders (no deadlock: rows are taken in product order)."""
    a = await new_product(shop_api, "RACE-A", stock_quantity=4)
    b = await new_product(shop_api, "RACE-B", stock_quantity=4)
    rt = shop.services["product"]

    async def racer(n: int) -> str:
        lines = [(a["id"], 1), (b["id"], 1)] if n % 2 else [(b["id"], 1), (a["id"], 1)]
        data = ReservationCreate.model_validate(body(*lines))
        try:
            async with rt.uow() as uow:
                await service.reserve(uow=uow, data=data)
        except Exception as exc:  # the 409 problem
            return type(exc).__name__ + str(getattr(exc, "status", ""))
        return "reserved"

    outcomes = await asyncio.gather(*(racer(n) for n in range(10)))
    assert sorted(outcomes) == ["Problem409"] * 6 + ["reserved"] * 4, outcomes
    assert (await stock_of(shop_api, a["id"]), await stock_of(shop_api, b["id"])) == (0, 0)


async def test_the_same_reservation_again_answers_the_first(shop_api: httpx.AsyncClient) -> None:
    p = await new_product(shop_api, "ID-1", stock_quantity=5)
    asked = body((p["id"], 2))
    first = ok(await shop_api.post(RESERVE, json=asked), 201)
    again = ok(await shop_api.post(RESERVE, json=asked), 200)
    assert again == first
    assert await stock_of(shop_api, p["id"]) == 3
    # The same id with other lines is refused.
    r = await shop_api.post(RESERVE, json=body((p["id"], 1), reservation_id=asked["reservation_id"]))
    assert (r.status_code, fields(r)) == (409, ["reservation_id"])
    # Concurrent retries of one new reservation: taken once.
    twice = body((p["id"], 1))
    answers = await asyncio.gather(*(shop_api.post(RESERVE, json=twice) for _ in range(3)))
    assert sorted(a.status_code for a in answers) == [200, 200, 201], [a.text for a in answers]
    assert len({a.text for a in answers}) == 1
    assert await stock_of(shop_api, p["id"]) == 2
    # Idempotency-Key: a retry replays the answer.
    keyed = body((p["id"], 1))
    headers = {"Idempotency-Key": "order-7-reserve"}
    r1 = await shop_api.post(RESERVE, json=keyed, headers=headers)
    r2 = await shop_api.post(RESERVE, json=keyed, headers=headers)
    assert (r1.status_code, r1.json()) == (201, r2.json())
    assert await stock_of(shop_api, p["id"]) == 1
    r = await shop_api.post(RESERVE, json=body((p["id"], 1)), headers=headers)  # the key, another request
    assert r.status_code == 422
    assert fields(r) == ["Idempotency-Key"]


async def test_release_gives_the_stock_back_once(shop_api: httpx.AsyncClient) -> None:
    p = await new_product(shop_api, "RL-1", stock_quantity=3)
    asked = body((p["id"], 2))
    ok(await shop_api.post(RESERVE, json=asked), 201)
    assert await stock_of(shop_api, p["id"]) == 1
    rid = asked["reservation_id"]
    released = ok(await shop_api.post(f"{RESERVE}/{rid}/release"))
    assert (released["status"], len(released["lines"])) == ("released", 1)
    again = ok(await shop_api.post(f"{RESERVE}/{rid}/release"))
    assert again == released
    assert await stock_of(shop_api, p["id"]) == 3  # given back once
    answers = await asyncio.gather(*(shop_api.post(f"{RESERVE}/{rid}/release") for _ in range(3)))
    assert {a.status_code for a in answers} == {200}
    assert await stock_of(shop_api, p["id"]) == 3
    # The same reservation asked again after its release: answered as it is, nothing taken.
    assert ok(await shop_api.post(RESERVE, json=asked))["status"] == "released"
    assert await stock_of(shop_api, p["id"]) == 3


async def test_releasing_an_unknown_reservation_is_a_safe_no_op_and_fences_a_late_reserve(
    shop_api: httpx.AsyncClient,
) -> None:
    p = await new_product(shop_api, "RL-2", stock_quantity=2)
    rid = str(uuid.uuid4())
    released = ok(await shop_api.post(f"{RESERVE}/{rid}/release"))
    assert released == {"reservation_id": rid, "status": "released", "lines": []}
    ok(await shop_api.post(f"{RESERVE}/{rid}/release"))
    # The reserve the compensation overtook arrives late: it takes nothing.
    late = ok(await shop_api.post(RESERVE, json=body((p["id"], 2), reservation_id=rid)))
    assert (late["status"], late["lines"]) == ("released", [])
    assert await stock_of(shop_api, p["id"]) == 2


async def test_the_product_client_reserves_and_releases_as_the_order_service(
    shop: SystemRuntime, shop_api: httpx.AsyncClient
) -> None:
    p = await new_product(shop_api, "CL-1", name="Speaker", price="59.90", stock_quantity=2)
    products = ProductClient(shop.services["order"].client("product", str(STORE)))
    order_id = uuid.uuid4()
    line = ReservationLine(product_id=uuid.UUID(p["id"]), quantity=2)
    made = await products.reserve(order_id, [line], idempotency_key=f"{order_id}:reserve")
    assert (made.status, made.lines[0].name, str(made.lines[0].unit_price), made.lines[0].quantity) == (
        "reserved",
        "Speaker",
        "59.90",
        2,
    )
    retried = await products.reserve(order_id, [line], idempotency_key=f"{order_id}:reserve")
    assert retried == made
    assert await stock_of(shop_api, p["id"]) == 0
    with pytest.raises(Conflict) as short:
        await products.reserve(uuid.uuid4(), [line], idempotency_key="another-order")
    assert [e["field"] for e in short.value.errors] == ["lines[0].quantity"]
    with pytest.raises(Rejected) as unknown:
        await products.reserve(
            uuid.uuid4(), [ReservationLine(product_id=uuid.uuid4(), quantity=1)], idempotency_key="a-third-order"
        )
    assert [e["field"] for e in unknown.value.errors] == ["lines[0].product_id"]
    await products.release(order_id, idempotency_key=f"{order_id}:release", compensates=f"{order_id}:reserve")
    await products.release(order_id, idempotency_key=f"{order_id}:release", compensates=f"{order_id}:reserve")
    assert await stock_of(shop_api, p["id"]) == 2
    # A compensation of a reserve that never took effect does nothing, and fences it.
    ghost = uuid.uuid4()
    await products.release(ghost, idempotency_key=f"{ghost}:release", compensates=f"{ghost}:reserve")
    with pytest.raises(Conflict):
        await products.reserve(ghost, [line], idempotency_key=f"{ghost}:reserve")
    assert await stock_of(shop_api, p["id"]) == 2
