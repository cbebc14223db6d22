"""Every route of the order service, read from its own document (a new route is
covered the day it is added), on SQLite and PostgreSQL: no token is a 401, a token
without the route's permission a 403, another customer's order or history a 404
(never a 403 that says it exists), malformed and SQL-looking bodies a 4xx, never a
5xx."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from shop.contracts import STORE
from shop.services.order.models import Order
from tests.shop.order.helpers import ORDERS, Shop, aclose, body

pytestmark = pytest.mark.integration
SQLISH = "x'); DROP TABLE orders; -- \" OR 1=1 /*"
#: the permission each route needs
NEEDS = {
    ("post", "/orders"): "orders:write",
    ("get", "/orders"): "orders:read",
    ("get", "/orders/{order_id}"): "orders:read",
    ("post", "/orders/{order_id}/cancel"): "orders:write",
    ("post", "/orders/{order_id}/shipping"): "shipping:write",
    ("get", "/users/me/history"): "orders:read",
    ("get", "/users/{user_id}/history"): "orders:read",
}


def _fill(path: str, ids: dict[str, str]) -> str:
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    return f"/api/order{path}"


async def test_every_route_checks_the_token_the_permission_and_whose_data_it_is(fake_shop: Shop) -> None:
    shop = fake_shop
    mug = shop.world.add_product("Enamel mug", "19.90", 10)
    ada, ada_address, ada_client = await shop.customer()
    bob, bob_address, bob_client = await shop.customer()
    bob_order = (await bob_client.post(ORDERS, json=body(bob_address, [(mug, 1)]))).json()
    anonymous = shop.runtime.client(None)
    powerless = shop.runtime.client(
        shop.runtime.keys.signer("user", ttl=600).issue(subject=str(ada), tenant=STORE, roles=[], permissions=[])
    )
    doc: dict[str, Any] = (await ada_client.get("/api/order/openapi.json")).json()
    own = {(m, p) for p, item in doc["paths"].items() for m in item if not p.startswith("/sagas")}
    assert own == set(NEEDS), "a route was added: say which permission it needs"
    bob_ids = {"order_id": bob_order["id"], "user_id": str(bob)}
    tried = 0
    for method, path in sorted(NEEDS):
        url = _fill(path, bob_ids)
        payload = {} if method == "post" else None
        r = await anonymous.request(method, url, json=payload)
        assert r.status_code == 401, (method, path, r.status_code)
        r = await powerless.request(method, url, json=payload)
        assert r.status_code == 403, (method, path, r.status_code)
        assert NEEDS[(method, path)] in r.text
        tried += 2
    # another customer's order and history: as if they did not exist
    for method, path in (
        ("get", "/orders/{order_id}"),
        ("post", "/orders/{order_id}/cancel"),
        ("get", "/users/{user_id}/history"),
    ):
        r = await ada_client.request(method, _fill(path, bob_ids), json={} if method == "post" else None)
        assert r.status_code == 404, (method, path, r.text)
        tried += 1
    assert (await ada_client.post(f"{ORDERS}/{bob_order['id']}/shipping", json={"status": "PACKED"})).status_code == 403
    assert (await shop.order(bob_order["id"])).status == "CONFIRMED", "nothing of Bob's changed"
    # malformed and SQL-looking input: refused, named, never a 5xx
    bad_bodies: list[tuple[str, str, Any]] = [
        ("post", ORDERS, {"lines": [], "address_id": str(ada_address), "payment_method": "pm_ok"}),
        (
            "post",
            ORDERS,
            {
                "lines": [{"product_id": "nope", "quantity": 1}],
                "address_id": str(ada_address),
                "payment_method": "pm_ok",
            },
        ),
        ("post", ORDERS, {**body(ada_address, [(mug, 1)]), "payment_method": SQLISH * 10}),
        ("post", ORDERS, {**body(ada_address, [(mug, 1)]), "total_amount": "0.01"}),
        ("post", ORDERS, "not json"),
        ("post", f"{ORDERS}/{bob_order['id']}/cancel", {"reason": SQLISH * 100}),
        ("get", f"{ORDERS}/not-a-uuid", None),
        ("get", f"{ORDERS}?status=LOST", None),
        ("get", f"{ORDERS}?sort={SQLISH}", None),
        ("get", f"{ORDERS}?q={SQLISH}", None),
        ("get", f"/api/order/users/{uuid.uuid4()}/history?limit=0", None),
    ]
    for method, url, payload in bad_bodies:
        if isinstance(payload, str):
            r = await ada_client.request(method, url, content=payload, headers={"Content-Type": "application/json"})
        else:
            r = await ada_client.request(method, url, json=payload)
        assert 400 <= r.status_code < 500 or (r.status_code == 200 and "q=" in url), (url, r.status_code, r.text)
        assert r.status_code != 500
        tried += 1
    sqlish_order = await ada_client.post(ORDERS, json={**body(ada_address, [(mug, 1)]), "payment_method": SQLISH})
    assert sqlish_order.status_code == 201, "a strange token is only a token: the fake provider charges it"
    assert sqlish_order.json()["payment"]["payment_method"] == SQLISH
    assert await shop.count(Order) == 2
    await aclose(ada_client, bob_client, anonymous, powerless)
    assert tried >= 2 * len(NEEDS) + 3 + len(bad_bodies)
