"""The relay backs off when the bus refuses events, and publishes them once it takes them."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from isles.bus import EmbeddedBus
from isles.events import Envelope
from isles.runtime import SystemRuntime
from isles.settings import IslesSettings
from tests.isles import toy

pytestmark = pytest.mark.integration


class FlakyBus(EmbeddedBus):
    """Refuses every publish until ``healthy`` is set, then delivers."""

    def __init__(self) -> None:
        super().__init__()
        self.healthy = False
        self.refused = 0

    async def publish(self, envelope: Envelope) -> None:
        if not self.healthy:
            self.refused += 1
            raise ConnectionError("bus unreachable")
        await super().publish(envelope)


async def test_relay_backs_off_while_the_bus_refuses_then_delivers(tmp_path: Path) -> None:
    bus = FlakyBus()
    settings = IslesSettings(data_dir=tmp_path, relay_poll_interval=0.01)
    runtime = SystemRuntime(toy.build(), settings, environ={}, bus=bus)
    await runtime.start()
    try:
        await toy.ping(runtime["source"], uuid.uuid4(), 1)
        await asyncio.sleep(1.0)
        # Backoff doubles from 20 ms: about 6 tries in a second, not hundreds.
        assert 2 <= bus.refused <= 10, bus.refused
        assert await runtime["source"].outbox.backlog() == 1
        bus.healthy = True
        await runtime.settle(timeout=30)
        assert [r.n for r in await toy.applied(runtime["sink"])] == [1]
        assert await runtime["source"].outbox.backlog() == 0
    finally:
        await runtime.stop()
