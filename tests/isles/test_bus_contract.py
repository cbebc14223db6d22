"""The bus contract: every bus (embedded, NATS JetStream) passes the same suite.

Order per aggregate, one effect per event however often it is delivered, ack only
after the effect is committed, dead letters without stopping the stream, and a
consumer that restarts picks up exactly where it left off.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from isles.core.settings import IslesSettings
from isles.messaging.consumer import Outcome
from isles.runtime.system import SystemRuntime
from isles.storage.schema import dead_letters_table, inbox_table
from tests.isles import toy
from tests.support import FAST, NATS_URL, delete_streams, nats_prefix, require_nats

pytestmark = pytest.mark.integration


@dataclass
class BusUnderTest:
    kind: str
    settings: IslesSettings

    @asynccontextmanager
    async def running(
        self, *, flakiness: toy.Flakiness | None = None, consumers: bool = True
    ) -> AsyncIterator[SystemRuntime]:
        runtime = SystemRuntime(toy.build(flakiness), self.settings, environ={})
        await runtime.start(consumers=consumers)
        try:
            if self.kind == "nats":
                await runtime.bus.wait_ready()  # type: ignore[attr-defined]
            yield runtime
        finally:
            await runtime.stop()


@pytest.fixture(params=["embedded", pytest.param("nats", marks=pytest.mark.nats)])
async def bus(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BusUnderTest]:
    async with bus_under_test(request.param, tmp_path) as b:
        yield b


@pytest.fixture
async def nats_bus(tmp_path: Path) -> AsyncIterator[BusUnderTest]:
    async with bus_under_test("nats", tmp_path) as b:
        yield b


@asynccontextmanager
async def bus_under_test(kind: str, tmp_path: Path) -> AsyncIterator[BusUnderTest]:
    if kind == "embedded":
        yield BusUnderTest("embedded", IslesSettings(data_dir=tmp_path, **FAST))  # type: ignore[arg-type]
        return
    require_nats()
    prefix = nats_prefix()
    settings = IslesSettings(
        data_dir=tmp_path,
        bus="nats",
        nats_url=NATS_URL,
        nats_prefix=prefix,
        nats_ack_wait=2.0,
        max_deliveries=2,
        **FAST,  # type: ignore[arg-type]
    )
    try:
        yield BusUnderTest("nats", settings)
    finally:
        await delete_streams(NATS_URL, prefix)


async def count(rt: SystemRuntime, table: object) -> int:
    async with rt["sink"].db.read_session() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


async def test_events_of_one_aggregate_arrive_in_version_order(bus: BusUnderTest) -> None:
    counters = [uuid.uuid4() for _ in range(4)]
    async with bus.running() as rt:
        for n in range(25):
            for cid in counters:
                await toy.ping(rt["source"], cid, n)
        await rt.settle()
        rows = await toy.applied(rt["sink"])
    assert len(rows) == 100
    for cid in counters:
        versions = [r.version for r in rows if r.aggregate_id == str(cid)]
        assert versions == list(range(1, 26)), f"{cid}: applied out of order: {versions}"


async def test_event_unfinished_when_the_consumer_stops_comes_again_and_is_applied_once(bus: BusUnderTest) -> None:
    hanging = toy.Flakiness(gate_open=False)
    cid = uuid.uuid4()
    async with bus.running(flakiness=hanging) as rt:
        await toy.ping(rt["source"], cid, 1, mode="hang")
        await asyncio.wait_for(hanging.entered.wait(), 10)
        # Stopped mid-handler: the transaction rolls back and nothing is acknowledged.
    outcomes: list[Outcome] = []
    async with bus.running() as rt:
        rt.observe(lambda _c, _e, outcome: outcomes.append(outcome))
        await rt.settle()
        assert [r.n for r in await toy.applied(rt["sink"])] == [1]
        assert await count(rt, inbox_table) == 1
    assert outcomes == [Outcome.APPLIED]


async def test_acknowledged_events_are_not_delivered_again_after_a_restart(bus: BusUnderTest) -> None:
    cid = uuid.uuid4()
    async with bus.running() as rt:
        for n in range(10):
            await toy.ping(rt["source"], cid, n)
        await rt.settle()
    outcomes: list[Outcome] = []
    async with bus.running() as rt:
        rt.observe(lambda _c, _e, outcome: outcomes.append(outcome))
        await toy.ping(rt["source"], cid, 10)
        await rt.settle()
        assert [r.n for r in await toy.applied(rt["sink"])] == list(range(11))
    assert outcomes == [Outcome.APPLIED], "only the new event is delivered; the acknowledged ones stay acknowledged"


async def test_failing_event_is_dead_lettered_and_the_stream_goes_on(bus: BusUnderTest) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    async with bus.running() as rt:
        await toy.ping(rt["source"], a, 1, mode="fail")
        for n in range(2, 12):
            await toy.ping(rt["source"], b, n)
        await toy.ping(rt["source"], a, 99)  # the failed aggregate's lane goes on too
        await rt.settle()
        assert sorted(r.n for r in await toy.applied(rt["sink"])) == [*range(2, 12), 99]
        async with rt["sink"].db.read_session() as session:
            letters = (await session.execute(select(dead_letters_table))).all()
        assert [(d.event_type, d.attempts) for d in letters] == [("toy.Pinged", 3)]
        assert "boom on n=1" in letters[0].error
        assert await rt.bus.lag("sink") == 0, "the bus holds nothing more for the sink: the parked event is settled"


async def test_consumer_that_was_down_gets_everything_once(bus: BusUnderTest) -> None:
    cid = uuid.uuid4()
    async with bus.running(consumers=False) as rt:
        for n in range(20):
            await toy.ping(rt["source"], cid, n)
        await asyncio.sleep(0.3)  # the relay publishes; nobody consumes
        assert await toy.applied(rt["sink"]) == []
    async with bus.running() as rt:
        await rt.settle()
        rows = await toy.applied(rt["sink"])
    assert [r.n for r in rows] == list(range(20))
    assert len({r.event_id for r in rows}) == 20


async def test_transient_failures_are_retried_with_backoff_then_applied(bus: BusUnderTest) -> None:
    cid = uuid.uuid4()
    flaky = toy.Flakiness()
    async with bus.running(flakiness=flaky) as rt:
        await toy.ping(rt["source"], cid, 5, mode="flaky:2")
        await rt.settle()
        assert [r.n for r in await toy.applied(rt["sink"])] == [5]
        assert rt["sink"].consumer is not None
        assert rt["sink"].consumer.counters.retries == 2
        assert await count(rt, dead_letters_table) == 0


@pytest.mark.nats
async def test_nats_event_that_never_finishes_is_parked_after_max_deliveries(nats_bus: BusUnderTest) -> None:
    """The embedded bus hands an event over once per publish and has no delivery count."""
    bus = nats_bus
    cid = uuid.uuid4()
    for round_ in (1, 2):  # max_deliveries=2: two deliveries that never finish
        hanging = toy.Flakiness(gate_open=False)
        async with bus.running(flakiness=hanging) as rt:
            if round_ == 1:
                await toy.ping(rt["source"], cid, 1, mode="hang")
            await asyncio.wait_for(hanging.entered.wait(), 10)
    untouched = toy.Flakiness(gate_open=False)
    async with bus.running(flakiness=untouched) as rt:
        await rt.settle()
        assert not untouched.entered.is_set(), "the third delivery is parked without running the handler"
        async with rt["sink"].db.read_session() as session:
            letters = (await session.execute(select(dead_letters_table))).all()
        assert len(letters) == 1
        assert "delivered 3 times without being acknowledged" in letters[0].error
        assert await toy.applied(rt["sink"]) == []
