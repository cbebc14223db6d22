"""A real ``isles up --system shop`` process killed (SIGKILL) in the middle of a
place-order saga, then the shop started again: the saga finishes (or finishes undoing
itself), the client's retry with its Idempotency-Key gets the outcome, and nothing
happened twice: one reservation, one charge (or its refund), one OrderPlaced. On
SQLite and PostgreSQL. The points: after the stock was reserved, after the provider
charged (the step's completion not yet written), before the confirmation; and, with
the confirmation refused, after the refund (not yet written)."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from isles import ACROSS_TENANTS
from isles.core.settings import IslesSettings
from isles.runtime.system import SystemRuntime
from isles.storage.schema import outbox_table
from shop.services.order.models import FakePayment, Order
from shop.services.order.sagas import PLACE, PLACE_ORDER
from shop.system import build as build_shop
from tests import support
from tests.support import Backend, make_backend

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
PREFIX = f"saga.{PLACE}"
FAST = {
    "ISLES_SAGA_LEASE_SECONDS": "1",
    "ISLES_RELAY_LEASE_SECONDS": "1",
    "ISLES_SAGA_POLL_INTERVAL": "0.1",
    "ISLES_SAGA_RETRY_BASE_DELAY": "0.01",
    "ISLES_LOG_LEVEL": "warning",
    "ISLES_SAGA_WAIT_SECONDS": "60",
}
POINTS = {
    "reserve_stock.after": ({f"{PREFIX}.reserve_stock.after": "kill"}, "completed"),
    "take_payment.after": ({f"{PREFIX}.take_payment.after": "kill"}, "completed"),
    "confirm.before": ({f"{PREFIX}.confirm.before": "kill"}, "completed"),
    "take_payment.undo.after": (
        {f"{PREFIX}.confirm.before": "refuse", f"{PREFIX}.take_payment.undo.after": "kill"},
        "compensated",
    ),
}
PASSWORD = "crash horse battery staple 42"


async def seed(settings: IslesSettings) -> dict[str, str]:
    """A customer with an address and a product with 5 in stock."""
    runtime = SystemRuntime(build_shop(), settings, environ={})
    await runtime.start()
    try:
        async with runtime.client() as api:
            email = f"k{uuid.uuid4().hex[:8]}@shop.example"
            user = (
                await api.post(
                    "/api/user/users",
                    json={
                        "email": email,
                        "password": PASSWORD,
                        "first_name": "K",
                        "last_name": "K",
                        "roles": ["customer"],
                    },
                )
            ).json()
            address = (
                await api.post(
                    f"/api/user/users/{user['id']}/addresses",
                    json={
                        "recipient": "K",
                        "line1": "1 Crash Rd",
                        "city": "Oslo",
                        "postal_code": "0150",
                        "country": "NO",
                    },
                )
            ).json()
            body = {"sku": f"K-{uuid.uuid4().hex[:6]}", "name": "Crash mug", "price": "12.50", "stock_quantity": 5}
            product = (await api.post("/api/product/products", json=body)).json()
        await runtime.settle()
    finally:
        await runtime.stop()
    return {"user_id": user["id"], "address_id": address["id"], "product_id": product["id"]}


def run_until_killed(settings: IslesSettings, failpoints: dict[str, str], body: dict[str, Any], key: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISLES_") or k == "ISLES_STATE_FILE"}
    env |= FAST | {"ISLES_FAILPOINTS": ",".join(f"{k}={v}" for k, v in failpoints.items())}
    args = ["--no-demo", "--system", "shop"]
    if settings.database_url:
        env["ISLES_DATABASE_URL"] = settings.database_url
    else:
        args += ["--data-dir", str(settings.data_dir)]
    with support.isles_up(*args, env=env, preloaded=True) as (proc, base):
        try:
            r = httpx.post(
                f"{base}/api/order/orders",
                json=body,
                headers={"Idempotency-Key": key, **support.AUTH[base]},
                timeout=60,
            )
        except httpx.TransportError:
            pass
        else:
            proc.kill()
            pytest.fail(f"answered {r.status_code} instead of dying at {failpoints}: {r.text}")
        assert proc.wait(timeout=30) == -signal.SIGKILL, "the process died at the failpoint"


@pytest.mark.parametrize("point", list(POINTS))
@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_place_order_saga_killed_mid_way_finishes_after_a_restart_and_nothing_happens_twice(
    kind: str, point: str, tmp_path: Path
) -> None:
    backend: Backend = make_backend(kind, tmp_path)
    failpoints, expected = POINTS[point]
    settings = backend.settings
    try:
        ids = asyncio.run(seed(settings))
        body = {
            "user_id": ids["user_id"],
            "address_id": ids["address_id"],
            "payment_method": "pm_ok",
            "lines": [{"product_id": ids["product_id"], "quantity": 2}],
        }
        key = f"crash-{uuid.uuid4().hex[:8]}"
        run_until_killed(settings, failpoints, body, key)

        async def check() -> None:
            fast = settings.model_copy(
                update={"saga": settings.saga.model_copy(update={"lease_seconds": 1.0, "poll_interval": 0.1})}
            )
            runtime = SystemRuntime(build_shop(), fast, environ={})
            await runtime.start()
            try:
                async with runtime.client() as api:
                    again = await api.post("/api/order/orders", json=body, headers={"Idempotency-Key": key})
                    stock = (await api.get(f"/api/product/products/{ids['product_id']}")).json()["stock_quantity"]
                await runtime.settle()
                async with runtime["order"].db.read_session(tenant=ACROSS_TENANTS) as session:
                    charges = [(c.status, c.amount) for c in (await session.scalars(select(FakePayment))).all()]
                    orders = [o.status for o in (await session.scalars(select(Order))).all()]
                    placed = await session.scalar(
                        select(func.count()).where(outbox_table.c.event_type == "order.OrderPlaced")
                    )
                runner = runtime["order"].sagas
                assert runner is not None
                sagas, total = await runner.store.find(saga_type=PLACE)
                assert total == 1, "one saga, however often the request came"
                assert sagas[0].status.value == expected, sagas[0].as_dict()
                support.check_attempts(PLACE_ORDER, sagas[0])
                if expected == "completed":
                    assert again.status_code == 201, again.text
                    assert again.json()["status"] == "CONFIRMED"
                    assert (orders, charges, stock, placed) == (
                        ["CONFIRMED"],
                        [("captured", Decimal("25.00"))],
                        3,
                        1,
                    )
                else:
                    assert again.status_code == 422, again.text  # the refusal the failpoint injected
                    assert (orders, charges, stock, placed) == (["FAILED"], [("refunded", Decimal("25.00"))], 5, 0)
            finally:
                await runtime.stop()

        asyncio.run(check())
    finally:
        backend.drop_later(["user", "product", "order"])
