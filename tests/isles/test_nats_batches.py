"""NATS JetStream in batches: the relay's batches go out under a window of pending
PubAcks and keep their order; a fetched batch is settled message by message; what
JetStream refuses is reported per event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from nats.js.errors import NoStreamResponseError

from isles.core.events import Envelope
from isles.core.settings import IslesSettings, NatsSettings
from isles.messaging.nats_bus import NatsBus
from isles.messaging.relay import Relay
from isles.storage.db import ServiceDatabase
from isles.storage.outbox import SqlOutbox
from tests.isles import toy
from tests.isles.test_relay import events, unpublished, write
from tests.support import NATS_URL, delete_streams, nats_prefix, require_nats

pytestmark = [pytest.mark.integration, pytest.mark.nats]

ROUTES = {toy.Pinged.event_type: "source"}


class Recorder:
    """Records every delivery; ``fail`` picks deliveries whose outcome is an error."""

    name = "sink"

    def __init__(self, fail: Callable[[Envelope, int], bool] = lambda _e, _d: False) -> None:
        self.deliveries: list[tuple[str, int]] = []
        self.seen: list[Envelope] = []
        self.fail = fail

    def deliver(self, envelope: Envelope, delivery: int = 1) -> asyncio.Future[None]:
        self.deliveries.append((envelope.id, delivery))
        self.seen.append(envelope)
        outcome: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.fail(envelope, delivery):
            outcome.set_exception(RuntimeError("handler gave up"))
        else:
            outcome.set_result(None)
        return outcome


@pytest.fixture
async def nats_settings() -> AsyncIterator[NatsSettings]:
    require_nats()
    prefix = nats_prefix()
    yield NatsSettings(url=NATS_URL, prefix=prefix, ack_wait=2.0, backoff=(0.2,), fetch_batch=10, publish_window=8)
    await delete_streams(NATS_URL, prefix)


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[ServiceDatabase]:
    db = ServiceDatabase("source", f"sqlite+aiosqlite:///{tmp_path}/source.db", IslesSettings(data_dir=tmp_path))
    async with db.engine.begin() as conn:
        await conn.run_sync(toy.source_md.create_all)
    yield db
    await db.dispose()


async def until(condition: Callable[[], object]) -> None:
    """Poll ``condition`` (nothing signals it) for at most 30 s."""
    async with asyncio.timeout(30):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_relay_batches_wider_than_the_ack_window_arrive_once_each_in_order(
    nats_settings: NatsSettings, sqlite_db: ServiceDatabase
) -> None:
    """Batches of 25 through a window of 8 pending PubAcks, fetched 10 at a time."""
    publisher = NatsBus(nats_settings, ROUTES, max_deliveries=10)
    publisher.publishes_for("source")
    consumer = NatsBus(nats_settings, ROUTES, max_deliveries=10)
    sink = Recorder()
    consumer.subscribe(sink, [toy.Pinged.event_type])
    written = events(120, aggregates=4)
    await write(sqlite_db, written)
    await publisher.start(consume=False)
    await consumer.start()
    relay = Relay(service="source", outbox=SqlOutbox(sqlite_db), bus=publisher, batch_size=25, poll_interval=0.05)
    try:
        await publisher.wait_ready()
        await consumer.wait_ready()
        relay.start()
        await until(lambda: len(sink.seen) >= 120 and relay.published_count == 120)
        await until(lambda: not consumer._subs[0].pending)
        # Acks are sent without waiting for the server: it counts them a moment later.
        async with asyncio.timeout(30):
            while (lag := await consumer.lag("sink")) != 0:  # noqa: ASYNC110 - the server signals nothing
                await asyncio.sleep(0.05)
        assert lag == 0, "every message acknowledged"
    finally:
        await relay.stop()
        await consumer.stop()
        await publisher.stop()
    assert [e.id for e in sink.seen] == [e.id for e in written], "once each, in stream (= position) order"
    assert await unpublished(sqlite_db) == []


async def test_a_message_the_subscriber_fails_in_a_batch_comes_again_the_rest_do_not(
    nats_settings: NatsSettings,
) -> None:
    publisher = NatsBus(nats_settings, ROUTES, max_deliveries=10)
    publisher.publishes_for("source")
    written = events(10, aggregates=10)
    unlucky = written[4].id
    sink = Recorder(fail=lambda e, delivery: e.id == unlucky and delivery == 1)
    consumer = NatsBus(nats_settings, ROUTES, max_deliveries=10)
    consumer.subscribe(sink, [toy.Pinged.event_type])
    await publisher.start(consume=False)
    await consumer.start()
    try:
        await publisher.wait_ready()
        await consumer.wait_ready()
        for outcome in await publisher.publish_many(written):
            await outcome
        await until(lambda: (unlucky, 2) in sink.deliveries)
        await until(lambda: not consumer._subs[0].pending)
        # Acks are sent without waiting for the server: it counts them a moment later.
        async with asyncio.timeout(30):
            while (lag := await consumer.lag("sink")) != 0:  # noqa: ASYNC110 - the server signals nothing
                await asyncio.sleep(0.05)
        assert lag == 0
    finally:
        await consumer.stop()
        await publisher.stop()
    assert sorted(sink.deliveries) == sorted([(e.id, 1) for e in written] + [(unlucky, 2)])


async def test_events_jetstream_has_no_stream_for_are_refused_each_not_the_batch(
    nats_settings: NatsSettings,
) -> None:
    bus = NatsBus(nats_settings, ROUTES, max_deliveries=10)
    bus.publishes_for("source")  # a stream for source's events, none for "elsewhere"
    await bus.start(consume=False)
    try:
        await bus.wait_ready()
        mine, stray = events(2, aggregates=2)
        stray = Envelope(**{**stray.__dict__, "source": "/isles/elsewhere"})
        outcomes = await bus.publish_many([mine, stray])
        await outcomes[0]
        with pytest.raises(NoStreamResponseError):
            await asyncio.wait_for(outcomes[1], 3)  # refused at once, not after publish_timeout
    finally:
        await bus.stop()


async def test_publishing_while_disconnected_refuses_every_event_at_once(nats_settings: NatsSettings) -> None:
    bus = NatsBus(nats_settings, ROUTES, max_deliveries=10)
    outcomes = await bus.publish_many(events(3, aggregates=1))  # never started
    for outcome in outcomes:
        with pytest.raises(ConnectionError, match="not connected"):
            await outcome


async def test_a_message_in_hand_at_a_stop_comes_again_to_the_next_consumer_counted(
    nats_settings: NatsSettings,
) -> None:
    """Stopped with a message its subscriber never finished: the next consumer gets it
    as delivery 2, so an event that hangs every consumer is parked in the end."""
    publisher = NatsBus(nats_settings, ROUTES, max_deliveries=10)
    publisher.publishes_for("source")
    await publisher.start(consume=False)

    class Hanging:
        name = "sink"

        def __init__(self) -> None:
            self.deliveries: list[int] = []

        def deliver(self, envelope: Envelope, delivery: int = 1) -> asyncio.Future[None]:
            self.deliveries.append(delivery)
            return asyncio.get_running_loop().create_future()  # never finishes

    first, second = Hanging(), Recorder()
    try:
        await publisher.wait_ready()
        (event,) = events(1, aggregates=1)
        for outcome in await publisher.publish_many([event]):
            await outcome
        consumer = NatsBus(nats_settings, ROUTES, max_deliveries=10)
        consumer.subscribe(first, [toy.Pinged.event_type])
        await consumer.start()
        await until(lambda: first.deliveries)
        await consumer.stop()
        successor = NatsBus(nats_settings, ROUTES, max_deliveries=10)
        successor.subscribe(second, [toy.Pinged.event_type])
        await successor.start()
        try:
            await until(lambda: second.deliveries)
            await until(lambda: not successor._subs[0].pending)
            # Acks are sent without waiting for the server: it counts them a moment later.
            async with asyncio.timeout(30):
                while (lag := await successor.lag("sink")) != 0:  # noqa: ASYNC110 - the server signals nothing
                    await asyncio.sleep(0.05)
            assert lag == 0
        finally:
            await successor.stop()
    finally:
        await publisher.stop()
    assert first.deliveries == [1]
    assert second.deliveries == [(event.id, 2)]


def test_the_publish_window_is_a_setting(tmp_path: Path) -> None:
    from isles.runtime.system import make_bus

    settings = IslesSettings(data_dir=tmp_path, bus="nats", nats_publish_window=7)
    bus = make_bus(toy.build(), settings, name="window")
    assert isinstance(bus, NatsBus)
    assert bus.settings.publish_window == 7


async def test_a_durable_deleted_under_a_running_consumer_is_made_again_and_delivery_goes_on(
    nats_settings: NatsSettings,
) -> None:
    """The server answers the puller's requests with 409 Consumer Deleted: the bus makes
    its durable again (from the stream's start: the inbox skips what it had) and pulls on."""
    import nats

    publisher = NatsBus(nats_settings, ROUTES, max_deliveries=10)
    publisher.publishes_for("source")
    sink = Recorder()
    consumer = NatsBus(nats_settings, ROUTES, max_deliveries=10)
    consumer.subscribe(sink, [toy.Pinged.event_type])
    before, after = events(2, aggregates=2)
    await publisher.start(consume=False)
    await consumer.start()
    try:
        await publisher.wait_ready()
        await consumer.wait_ready()
        for outcome in await publisher.publish_many([before]):
            await outcome
        await until(lambda: before.id in {e.id for e in sink.seen})
        sub = consumer._subs[0]
        nc = await nats.connect(NATS_URL)
        try:
            await nc.jetstream().delete_consumer(sub.stream, sub.durable)
        finally:
            await nc.close()
        for outcome in await publisher.publish_many([after]):
            await outcome
        await until(lambda: after.id in {e.id for e in sink.seen})
    finally:
        await consumer.stop()
        await publisher.stop()


async def test_the_subscriber_never_holds_more_than_max_ack_pending(nats_settings: NatsSettings) -> None:
    """Pull requests ask for what there is room for; while the subscriber holds
    ``max_ack_pending`` unfinished, nothing more comes; as it finishes, the rest does."""
    settings = nats_settings.model_copy(update={"max_ack_pending": 5, "fetch_batch": 10})
    publisher = NatsBus(settings, ROUTES, max_deliveries=10)
    publisher.publishes_for("source")

    class Holding:
        name = "sink"

        def __init__(self) -> None:
            self.held: list[asyncio.Future[None]] = []

        def deliver(self, envelope: Envelope, delivery: int = 1) -> asyncio.Future[None]:
            outcome: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.held.append(outcome)
            return outcome

    sink = Holding()
    consumer = NatsBus(settings, ROUTES, max_deliveries=10)
    consumer.subscribe(sink, [toy.Pinged.event_type])
    await publisher.start(consume=False)
    await consumer.start()
    try:
        await publisher.wait_ready()
        await consumer.wait_ready()
        for outcome in await publisher.publish_many(events(30, aggregates=30)):
            await outcome
        await until(lambda: len(sink.held) == 5)
        await asyncio.sleep(1.5)  # longer than a pull request lives: the puller asks again
        assert len(sink.held) == 5, "no more than max_ack_pending in hand"
        while len(sink.held) < 30:
            for outcome in sink.held:
                if not outcome.done():
                    outcome.set_result(None)
            await asyncio.sleep(0.02)
            assert sum(not o.done() for o in sink.held) <= 5
        for outcome in sink.held:
            if not outcome.done():
                outcome.set_result(None)
        await until(lambda: not consumer._subs[0].pending)
    finally:
        await consumer.stop()
        await publisher.stop()
    assert len(sink.held) == 30, "each once"


@pytest.mark.parametrize(
    "reply",
    [
        "$JS.ACK.ISLES_EMPLOYEE.project.3.1207.1190.1795860224957914277.12",
        "$JS.ACK.hub.ACCOUNTHASH.ISLES_EMPLOYEE.project.3.1207.1190.1795860224957914277.12.rand",
    ],
)
def test_a_messages_position_is_read_as_nats_py_reads_it(reply: str) -> None:
    from nats.aio.msg import Msg

    from isles.messaging.nats_bus import _position

    msg = Msg(_client=None, subject="isles.employee.x", reply=reply)  # type: ignore[arg-type]
    assert _position(msg) == (msg.metadata.sequence.stream, msg.metadata.num_delivered) == (1207, 3)
