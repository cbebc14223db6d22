from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from isles.runtime.system import SystemRuntime
from tests.shop.order import fakes
from tests.shop.order.helpers import Shop
from tests.support import Backend, Templates


@pytest.fixture
async def fake_shop(backend: Backend, templates: Templates) -> AsyncIterator[Shop]:
    """The order service with stand-ins of the user and product services (in memory)."""
    world = fakes.World()
    system = fakes.build(world)
    await templates.clone(system, backend)
    runtime = SystemRuntime(system, backend.settings, environ={})
    await runtime.start()
    try:
        yield Shop(runtime, world, backend)
    finally:
        await runtime.stop()
        backend.drop_later(runtime.services)
