"""Demo orders, placed through the public API as the operator after the user and
product demos made the customers and the catalogue: a few orders per demo customer
(the operator names the buyer with ``user_id``: only an admin or the operator may),
one of them cancelled, one shipped and delivered, one declined by the fake provider."""

from __future__ import annotations

from typing import Any

import httpx

ORDERS = "/api/order/orders"
#: (product index, quantity, payment method, then what happens to it)
DEMO: list[tuple[list[tuple[int, int]], str, str]] = [
    ([(0, 1), (1, 2)], "pm_ok", "deliver"),
    ([(2, 1)], "pm_ok", "keep"),
    ([(1, 1)], "pm_ok", "cancel"),
    ([(3, 1)], "pm_declined", "keep"),
]


def _ok(response: httpx.Response) -> Any:
    response.raise_for_status()
    return response.json()


def _items(page: Any) -> list[dict[str, Any]]:
    return list(page["items"] if isinstance(page, dict) else page)


async def _address(client: httpx.AsyncClient, user_id: str) -> str | None:
    r = await client.get(f"/api/user/users/{user_id}/addresses")
    if r.status_code != 200:
        return None
    addresses = _items(r.json())
    default = next((a for a in addresses if a.get("is_default")), addresses[0] if addresses else None)
    return None if default is None else str(default["id"])


async def load(client: httpx.AsyncClient) -> list[str]:
    """Place the demo orders (once: nothing if there are orders). Returns what to print."""
    if _ok(await client.get(ORDERS, params={"limit": 1}))["total"]:
        return []
    users_r = await client.get("/api/user/users", params={"limit": 100})
    products_r = await client.get("/api/product/products", params={"limit": 100})
    if users_r.status_code == 404 or products_r.status_code == 404:  # a system without them
        return ["  order: no demo orders (no user or product service)"]
    customers = [u for u in _items(_ok(users_r)) if "customer" in u.get("roles", []) and u.get("is_active", True)]
    products = [p for p in _items(_ok(products_r)) if p.get("is_active", True) and p.get("stock_quantity", 0) > 5]
    if not customers or len(products) < 4:
        return ["  order: no demo orders (no customers or too few products in stock)"]
    placed = failed = 0
    for n, customer in enumerate(customers[:3]):
        address_id = await _address(client, customer["id"])
        if address_id is None:
            continue
        for lines, method, then in DEMO:
            body = {
                "user_id": customer["id"],
                "address_id": address_id,
                "payment_method": method,
                "lines": [{"product_id": products[(i + n) % len(products)]["id"], "quantity": q} for i, q in lines],
            }
            r = await client.post(ORDERS, json=body)
            if r.status_code != 201:
                failed += 1
                continue
            placed += 1
            order_id = r.json()["id"]
            if then == "cancel":
                _ok(await client.post(f"{ORDERS}/{order_id}/cancel", json={"reason": "ordered by mistake"}))
            elif then == "deliver":
                for step in (
                    {"status": "PACKED"},
                    {"status": "SHIPPED", "carrier": "DHL", "tracking_number": f"JD01460000{n:02d}"},
                    {"status": "IN_TRANSIT"},
                    {"status": "DELIVERED"},
                ):
                    _ok(await client.post(f"{ORDERS}/{order_id}/shipping", json=step))
    return [f"  order: {placed} demo orders placed (one delivered, one cancelled each), {failed} declined"]
