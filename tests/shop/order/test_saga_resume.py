"""A place-order saga stopped in the middle (its process stopped between the payment
provider's charge and the step's completion being written) is taken up by the next
start of the service: the charge is found by its key (never made twice), the order
confirmed; the client's retry with its Idempotency-Key gets the order. On SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import pytest

from isles.core import failpoints
from isles.runtime.system import SystemRuntime
from shop.services.order.sagas import PLACE
from tests.shop.order import fakes
from tests.shop.order.helpers import ORDERS, Shop, aclose, body
from tests.support import Backend, Templates

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("point", ["take_payment.after", "reserve_stock.after", "confirm.before"])
async def test_a_saga_stopped_mid_way_is_resumed_by_the_next_start_without_a_second_charge(
    backend: Backend, templates: Templates, point: str
) -> None:
    world = fakes.World()
    system = fakes.build(world)
    await templates.clone(system, backend)
    settings = backend.settings.model_copy(
        update={"saga": backend.settings.saga.model_copy(update={"wait_seconds": 0.3, "lease_seconds": 1.0})}
    )
    first = SystemRuntime(system, settings, environ={})
    await first.start()
    second: SystemRuntime | None = None
    try:
        mug = world.add_product("Enamel mug", "19.90", 5)
        user_id, address_id = world.add_user()
        shop = Shop(first, world, backend)
        client = shop.client(user_id)
        headers = {"Idempotency-Key": f"resume-{uuid.uuid4()}"}
        failpoints.configure({f"saga.{PLACE}.{point}": "sleep:60"})
        try:
            r = await client.post(ORDERS, json=body(address_id, [(mug, 1)]), headers=headers)
            assert r.status_code == 202, r.text
            saga_id = uuid.UUID(r.json()["saga_id"])
            # The answer came after the request's wait (0.3 s), not when the saga reached
            # the point: under load it may still be on an earlier step.
            for _ in range(600):
                if failpoints.hits(f"saga.{PLACE}.{point}"):
                    break
                await asyncio.sleep(0.05)
            assert failpoints.hits(f"saga.{PLACE}.{point}") == 1, "the saga reached the point"
            await first.stop()  # the process goes, mid-step
        finally:
            failpoints.clear()
            await client.aclose()
        assert world.products[mug].stock == 4, "the stock was reserved before the stop"

        second = SystemRuntime(system, settings, environ={})
        await second.start()
        shop = Shop(second, world, backend)
        runner = second["order"].sagas
        assert runner is not None
        for _ in range(400):
            state = await runner.store.load(saga_id)
            if state is not None and not state.status.in_flight:
                break
            await asyncio.sleep(0.05)
        assert state is not None
        assert state.status.value == "completed", state
        step = next(s for s in state.steps if s.name == point.split(".")[0])
        assert step.attempts == 2, "the step was cut off once and tried again after the restart"
        client = shop.client(user_id)
        again = await client.post(ORDERS, json=body(address_id, [(mug, 1)]), headers=headers)
        assert again.status_code == 201, again.text
        assert again.json()["status"] == "CONFIRMED"
        assert [(c.status, c.amount) for c in await shop.charges()] == [("captured", Decimal("19.90"))]
        assert world.products[mug].stock == 4, "reserved once"
        assert len(await shop.published("order.OrderPlaced")) == 1
        await aclose(client)
    finally:
        if second is not None:
            await second.stop()
        elif first.started:
            await first.stop()
        backend.drop_later([s.name for s in system.services])
