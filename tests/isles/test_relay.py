"""The relay publishes in batches and keeps every guarantee: each row reaches the bus,
in position order; a row is marked only after the bus took it; what the bus refuses
stays unpublished and comes again after a back-off; a stop leaves nothing lost."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from isles.core.events import Envelope
from isles.core.settings import IslesSettings
from isles.messaging.bus import EmbeddedBus
from isles.messaging.relay import Relay
from isles.runtime.system import SystemRuntime
from isles.storage.db import ServiceDatabase
from isles.storage.outbox import SqlOutbox
from isles.storage.schema import outbox_table
from isles.storage.uow import outbox_row
from tests.isles import toy
from tests.support import Backend

pytestmark = pytest.mark.integration


class Recorder:
    """A subscriber that finishes each event a moment after taking it, unless told to
    hold it (then its outcome never comes)."""

    name = "sink"

    def __init__(self, *, hold: Callable[[Envelope], bool] = lambda _e: False, jitter: float = 0.0) -> None:
        self.seen: list[Envelope] = []
        self.hold = hold
        self.jitter = jitter
        self.held: list[asyncio.Future[None]] = []

    def deliver(self, envelope: Envelope, delivery: int = 1) -> asyncio.Future[None]:
        self.seen.append(envelope)
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[None] = loop.create_future()
        if self.hold(envelope):
            self.held.append(outcome)
        else:
            loop.call_later(random.uniform(0, self.jitter), _resolve, outcome)
        return outcome


def _resolve(outcome: asyncio.Future[None]) -> None:
    if not outcome.done():
        outcome.set_result(None)


class RefusingBus(EmbeddedBus):
    """Refuses the events ``refuse`` picks while ``refusing`` is set; delivers the rest."""

    def __init__(self, refuse: Callable[[Envelope], bool]) -> None:
        super().__init__()
        self.refuse = refuse
        self.refusing = True
        self.refused: list[str] = []

    def deliver_many(self, envelopes: Sequence[Envelope]) -> list[asyncio.Future[None]]:
        taken = [e for e in envelopes if not (self.refusing and self.refuse(e))]
        delivered = iter(super().deliver_many(taken))
        outcomes: list[asyncio.Future[None]] = []
        for envelope in envelopes:
            if taken and envelope is taken[0]:
                taken.pop(0)
                outcomes.append(next(delivered))
                continue
            self.refused.append(envelope.id)
            refused: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            refused.set_exception(ConnectionError("bus unreachable"))
            outcomes.append(refused)
        return outcomes


@pytest.fixture
async def source_db(backend: Backend) -> AsyncIterator[ServiceDatabase]:
    """The toy source service's database alone (SQLite file or PostgreSQL database)."""
    if backend.name == "postgres":
        url = backend.url("source")
    else:
        url = f"sqlite+aiosqlite:///{backend.settings.data_dir}/source.db"
    db = ServiceDatabase("source", url, backend.settings)
    await db.ensure_exists()
    async with db.engine.begin() as conn:
        await conn.run_sync(toy.source_md.create_all)
    try:
        yield db
    finally:
        await db.dispose()
        backend.drop_later(["source"])


def events(n: int, aggregates: int) -> list[Envelope]:
    """``n`` events round-robin over ``aggregates`` aggregates, versions counting up."""
    ids = [str(uuid.uuid4()) for _ in range(aggregates)]
    out = []
    for i in range(n):
        out.append(
            Envelope.new(
                toy.Pinged(id=uuid.uuid4(), n=i),
                source="/isles/source",
                aggregate_type="counter",
                aggregate_id=ids[i % aggregates],
                aggregate_version=i // aggregates + 1,
            )
        )
    return out


async def write(db: ServiceDatabase, envelopes: Sequence[Envelope]) -> None:
    async with db.writing() as session, session.begin():
        await session.execute(insert(outbox_table), [outbox_row(e) for e in envelopes])


async def unpublished(db: ServiceDatabase) -> list[str]:
    async with db.read_session() as session:
        rows = await session.scalars(
            select(outbox_table.c.event_id).where(outbox_table.c.published_at.is_(None)).order_by(outbox_table.c.id)
        )
        return [str(r) for r in rows]


async def until(condition: Callable[[], object]) -> None:
    """Poll ``condition`` (nothing signals it) for at most 30 s."""
    async with asyncio.timeout(30):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def drained(relay: Relay, db: ServiceDatabase) -> None:
    """Until every row is marked published and the relay has nothing in hand."""
    async with asyncio.timeout(60):
        while not (relay.idle and not await unpublished(db)):
            relay.wake()
            await asyncio.sleep(0.02)


async def test_many_batches_reach_the_bus_once_each_in_position_order(source_db: ServiceDatabase) -> None:
    """Small batches, a narrow in-flight window and outcomes finishing out of order:
    the bus still takes every event once, in position order, so per aggregate in
    version order, and every row ends marked."""
    written = events(300, aggregates=7)
    await write(source_db, written[:150])
    bus = EmbeddedBus()
    sink = Recorder(jitter=0.005)
    bus.subscribe(sink, [toy.Pinged.event_type])
    relay = Relay(
        service="source", outbox=SqlOutbox(source_db), bus=bus, batch_size=16, max_in_flight=40, poll_interval=0.05
    )
    relay.start()
    try:
        await write(source_db, written[150:])  # while the relay works
        relay.wake()
        await drained(relay, source_db)
    finally:
        await relay.stop()
    assert [e.id for e in sink.seen] == [e.id for e in written], "each event once, in position order"
    for aggregate in {e.aggregateid for e in written}:
        versions = [e.aggregateversion for e in sink.seen if e.aggregateid == aggregate]
        assert versions == sorted(versions)
    assert relay.published_count == 300


async def test_events_the_bus_refuses_in_a_batch_stay_unpublished_and_come_again(
    source_db: ServiceDatabase,
) -> None:
    written = events(40, aggregates=40)
    refused_ids = {written[3].id, written[17].id, written[18].id}
    bus = RefusingBus(refuse=lambda e: e.id in refused_ids)
    sink = Recorder()
    bus.subscribe(sink, [toy.Pinged.event_type])
    await write(source_db, written)
    relay = Relay(service="source", outbox=SqlOutbox(source_db), bus=bus, batch_size=25, poll_interval=0.01)
    relay.start()
    try:
        # Refused, backed off, refused again; everything else taken and marked.
        await until(lambda: len(bus.refused) >= 6 and relay.published_count == 37)
        assert set(await unpublished(source_db)) == refused_ids, "only the refused rows are left unpublished"
        assert refused_ids.isdisjoint(e.id for e in sink.seen)
        bus.refusing = False
        await drained(relay, source_db)
    finally:
        await relay.stop()
    assert sorted(e.id for e in sink.seen) == sorted(e.id for e in written), "each event delivered once"
    assert {e.id for e in sink.seen[-3:]} == refused_ids, "the refused came last, once the bus took them"


async def test_after_a_refusal_an_aggregates_later_events_wait_for_the_refused_one(
    source_db: ServiceDatabase,
) -> None:
    """Once a refusal is known, nothing more is handed over before the refused rows are
    read again, so a later event of its aggregate cannot overtake it."""
    written = events(12, aggregates=2)
    first = written[0]
    bus = RefusingBus(refuse=lambda e: e.id == first.id)
    sink = Recorder()
    bus.subscribe(sink, [toy.Pinged.event_type])
    relay = Relay(
        service="source", outbox=SqlOutbox(source_db), bus=bus, batch_size=1, max_in_flight=4, poll_interval=0.01
    )
    await write(source_db, written)
    relay.start()
    try:
        await until(lambda: len(bus.refused) >= 2)
        assert sink.seen == [], "the aggregate's v2 (and everything after) waits"
        bus.refusing = False
        await drained(relay, source_db)
    finally:
        await relay.stop()
    assert [e.id for e in sink.seen] == [e.id for e in written]


async def test_relay_stopped_mid_batch_marks_what_the_bus_took_and_a_successor_publishes_the_rest(
    source_db: ServiceDatabase,
) -> None:
    written = events(50, aggregates=5)
    await write(source_db, written)
    taken_before_stop = {e.id for e in written[:23]}
    bus = EmbeddedBus()
    sink = Recorder(hold=lambda e: e.id not in taken_before_stop)  # the rest never finish
    bus.subscribe(sink, [toy.Pinged.event_type])
    relay = Relay(service="source", outbox=SqlOutbox(source_db), bus=bus, batch_size=16, poll_interval=0.05)
    relay.start()
    await until(lambda: len(sink.seen) == 50 and relay.published_count == 23)
    await relay.stop()
    left = await unpublished(source_db)
    assert left == [e.id for e in written[23:]], "the rows the bus had not taken stay, and only those"
    if source_db.dialect == "postgresql":
        async with source_db.read_session() as session:
            claimed = await session.scalar(
                select(outbox_table.c.id).where(outbox_table.c.claimed_until.is_not(None)).limit(1)
            )
        assert claimed is None, "the stopped relay released its claims"

    successor_bus = EmbeddedBus()
    after = Recorder()
    successor_bus.subscribe(after, [toy.Pinged.event_type])
    successor = Relay(service="source", outbox=SqlOutbox(source_db), bus=successor_bus, poll_interval=0.05)
    successor.start()
    try:
        await drained(successor, source_db)
    finally:
        await successor.stop()
    assert [e.id for e in after.seen] == left, "published again, in order; consumers skip what they already had"


class FlakyMarks(SqlOutbox):
    """Fails to mark the first ``failures`` times."""

    def __init__(self, db: ServiceDatabase, failures: int) -> None:
        super().__init__(db)
        self.failures = failures

    async def mark_published(self, positions: Sequence[int]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database went away")
        await super().mark_published(positions)


async def test_rows_taken_but_not_yet_marked_are_marked_later_not_published_twice(
    source_db: ServiceDatabase,
) -> None:
    written = events(60, aggregates=3)
    await write(source_db, written)
    bus = EmbeddedBus()
    sink = Recorder()
    bus.subscribe(sink, [toy.Pinged.event_type])
    relay = Relay(
        service="source", outbox=FlakyMarks(source_db, failures=2), bus=bus, batch_size=10, poll_interval=0.01
    )
    relay.start()
    try:
        await drained(relay, source_db)
    finally:
        await relay.stop()
    assert [e.id for e in sink.seen] == [e.id for e in written], "each event handed over once, in order"
    assert relay.published_count == 60


async def test_relay_backs_off_while_the_bus_refuses_then_delivers(tmp_path: Path) -> None:
    bus = RefusingBus(refuse=lambda _e: True)
    settings = IslesSettings(data_dir=tmp_path, relay_poll_interval=0.01)
    runtime = SystemRuntime(toy.build(), settings, environ={}, bus=bus)
    await runtime.start()
    try:
        await toy.ping(runtime["source"], uuid.uuid4(), 1)
        await asyncio.sleep(1.0)
        # Backoff doubles from 20 ms: about 6 tries in a second, not hundreds.
        assert 2 <= len(bus.refused) <= 10, bus.refused
        assert await runtime["source"].outbox.backlog() == 1
        bus.refusing = False
        await runtime.settle(timeout=30)
        assert [r.n for r in await toy.applied(runtime["sink"])] == [1]
        assert await runtime["source"].outbox.backlog() == 0
    finally:
        await runtime.stop()


class CountingBus(EmbeddedBus):
    """Records the size of each batch the relay hands over, and when."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[tuple[float, int]] = []

    def deliver_many(self, envelopes: Sequence[Envelope]) -> list[asyncio.Future[None]]:
        self.batches.append((asyncio.get_running_loop().time(), len(envelopes)))
        return super().deliver_many(envelopes)


async def test_a_busy_relay_lingers_for_the_commits_behind_a_quiet_one_does_not(source_db: ServiceDatabase) -> None:
    """Commits a few milliseconds apart, one wake-up each (as units of work do): a relay
    that published moments ago waits ``linger`` once woken, so they go in one batch; a
    relay woken after a quiet spell publishes the first commit at once."""
    bus = CountingBus()
    bus.subscribe(Recorder(), [toy.Pinged.event_type])
    linger = 1.0
    relay = Relay(service="source", outbox=SqlOutbox(source_db), bus=bus, poll_interval=30, linger=linger)
    relay.start()
    loop = asyncio.get_running_loop()
    try:
        written = events(6, aggregates=6)
        committed = loop.time()
        await write(source_db, written[:1])  # after a quiet spell: out at once
        relay.wake()
        await until(lambda: relay.published_count == 1)
        assert bus.batches[0][0] - committed < linger
        for e in written[1:]:  # now busy: the four behind the first come along
            await write(source_db, [e])
            relay.wake()
            await asyncio.sleep(0.01)
        await until(lambda: relay.published_count == 6)
        assert [n for _, n in bus.batches] == [1, 5]
    finally:
        await relay.stop()
    assert await unpublished(source_db) == []
