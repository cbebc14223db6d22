"""The outbox on PostgreSQL in production shape: commit-order safety, several relays
sharing one outbox (FOR UPDATE SKIP LOCKED claims), LISTEN/NOTIFY wake-up, pruning."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, update

from isles.core.clock import utcnow
from isles.core.events import Envelope
from isles.core.settings import IslesSettings
from isles.runtime.system import SystemRuntime
from isles.storage.notify import PgListener, outbox_channel
from isles.storage.outbox import SqlOutbox
from isles.storage.schema import inbox_table, outbox_table
from isles.storage.uow import outbox_row
from tests.isles import toy
from tests.support import NATS_URL, Backend, delete_streams, make_backend, nats_prefix, require_nats

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture
async def pg(tmp_path: Path) -> AsyncIterator[Backend]:
    backend = make_backend("postgres", tmp_path)
    yield backend
    backend.drop_later(["source", "sink"])


@pytest.fixture
async def pg_nats(tmp_path: Path) -> AsyncIterator[IslesSettings]:
    backend = make_backend("postgres", tmp_path)
    require_nats()
    prefix = nats_prefix()
    settings = backend.settings.but(bus="nats", nats_url=NATS_URL, nats_prefix=prefix, nats_ack_wait=5.0)
    yield settings
    await delete_streams(NATS_URL, prefix)
    backend.drop_later(["source", "sink"])


async def outbox_ids(rt: SystemRuntime) -> list[str]:
    async with rt["source"].db.read_session() as session:
        return [str(i) for i in await session.scalars(select(outbox_table.c.event_id))]


async def test_row_committed_late_with_a_lower_id_is_still_published(pg: Backend) -> None:
    """The known gap of outboxes tailed by id: A takes id n, B takes n+1 and commits,
    the relay publishes n+1, then A commits. A must still be published."""
    rt = SystemRuntime(toy.build(), pg.settings, environ={})
    await rt.start()
    try:
        late = Envelope.new(
            toy.Pinged(id=uuid.uuid4(), n=1),
            source=rt["source"].service.source,
            aggregate_type="counter",
            aggregate_id=str(uuid.uuid4()),
            aggregate_version=1,
        )
        async with rt["source"].db.engine.connect() as held:
            await held.execute(insert(outbox_table).values(**outbox_row(late)))  # id n, not committed
            await toy.ping(rt["source"], uuid.uuid4(), 2)  # id n+1, committed and published
            await rt.settle()
            assert [r.n for r in await toy.applied(rt["sink"])] == [2]
            await held.commit()  # now A commits, behind the relay's back
        rt["source"].relay.wake()
        await rt.settle()
        applied = await toy.applied(rt["sink"])
        assert sorted(r.n for r in applied) == [1, 2]
        assert late.id in {r.event_id for r in applied}
    finally:
        await rt.stop()


async def test_many_writers_and_two_relays_every_row_published_and_applied_exactly_once(
    pg_nats: IslesSettings,
) -> None:
    """8 concurrent writers, 2 relays claiming from the same outbox, 1 consumer:
    compared row by row, every outbox row is applied once and in order per aggregate."""
    small_batches = pg_nats.but(relay_batch_size=4)  # the relays interleave finely
    main = SystemRuntime(toy.build(), small_batches, environ={})
    second = SystemRuntime(toy.build(), small_batches, environ={}, only=["source"])
    await main.start(relays=False)
    await second.start(relays=False)
    try:
        await main.bus.wait_ready()  # type: ignore[attr-defined]
        await second.bus.wait_ready()  # type: ignore[attr-defined]
        counters = [uuid.uuid4() for _ in range(12)]
        for cid in counters:  # created first; the writers then race on existing rows
            await toy.ping(main["source"], cid, -1)

        async def writer(w: int, rounds: range) -> None:
            for i in rounds:
                writer_rt = main if (w + i) % 2 else second  # commits land on both relays' processes
                await toy.ping(writer_rt["source"], counters[(w * 7 + i) % len(counters)], w * 1000 + i)

        # A backlog first, then both relays start and race for it while the writers go on.
        await asyncio.gather(*(writer(w, range(30)) for w in range(8)))
        for rt in (main, second):
            for service in rt.services.values():
                service.start(relay=True, consumer=False)
        await asyncio.gather(*(writer(w, range(30, 60)) for w in range(8)))
        await main.settle(timeout=60)
        await second.settle(timeout=60)

        published = await outbox_ids(main)
        applied = await toy.applied(main["sink"])
        assert len(published) == 492
        assert sorted(r.event_id for r in applied) == sorted(published), "row by row: each outbox row applied once"
        async with main["sink"].db.read_session() as session:
            assert await session.scalar(select(func.count()).select_from(inbox_table)) == 492
        by_aggregate: dict[str, list[int]] = defaultdict(list)
        for r in applied:
            by_aggregate[r.aggregate_id].append(r.version)
        for aggregate, versions in by_aggregate.items():
            assert versions == list(range(1, len(versions) + 1)), f"{aggregate} applied out of order"
        shares = (main["source"].relay.published_count, second["source"].relay.published_count)
        assert all(shares), f"both relays published a share: {shares}"
        assert sum(shares) >= 492
    finally:
        await second.stop()
        await main.stop()


async def test_listen_notify_wakes_a_relay_in_another_process_without_polling(pg: Backend) -> None:
    slow_poll = pg.settings.but(relay_poll_interval=120.0)
    relay_side = SystemRuntime(toy.build(), slow_poll, environ={})
    writer_side = SystemRuntime(toy.build(), slow_poll, environ={}, only=["source"])
    await relay_side.start()
    await writer_side.start(relays=False)  # commits here must wake the other runtime's relay
    try:
        listener = relay_side["source"].listener
        assert listener is not None
        await asyncio.wait_for(listener.connected.wait(), 10)
        before = listener.notifications
        await toy.ping(writer_side["source"], uuid.uuid4(), 7)
        for _ in range(200):  # far below the 120 s poll
            if await toy.applied(relay_side["sink"]):
                break
            await asyncio.sleep(0.05)
        assert [r.n for r in await toy.applied(relay_side["sink"])] == [7]
        assert listener.notifications > before
    finally:
        await writer_side.stop()
        await relay_side.stop()


async def test_a_commit_wakes_the_relays_once_however_many_events_it_writes(pg: Backend) -> None:
    """The outbox insert notifies (no statement of its own): a unit of work that writes
    its events in two inserts (a held commit) still wakes a listener once, and a
    rolled-back one not at all."""
    rt = SystemRuntime(toy.build(), pg.settings, environ={})
    await rt.start(relays=False, consumers=False)
    woken: list[int] = []
    listener = PgListener(rt["source"].db.url, outbox_channel("source"), lambda: woken.append(1))
    listener.start()
    try:
        await asyncio.wait_for(listener.connected.wait(), 10)
        await asyncio.sleep(0.2)
        woken.clear()  # the listener's own wake-up on connecting
        counter = toy.Counter(id=uuid.uuid4(), n=0, version=0)
        async with rt["source"].uow() as uow:
            for n in range(3):
                uow.emit(toy.Pinged(id=counter.id, n=n), aggregate=counter, aggregate_type="counter")
            uow.hold()
            await uow.commit()  # the first insert, transaction still open
            uow.emit(toy.Pinged(id=counter.id, n=3), aggregate=counter, aggregate_type="counter")
            await uow.release()  # the second insert, then the commit
        async with rt["source"].uow() as uow:
            uow.emit(toy.Pinged(id=counter.id, n=4), aggregate=counter, aggregate_type="counter")
            # left without committing: rolled back
        for _ in range(50):
            if woken:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        assert woken == [1], "one wake-up for the commit, none for the rollback"
        assert await rt["source"].outbox.backlog() == 4
    finally:
        await listener.stop()
        await rt.stop()


async def test_published_rows_are_pruned_after_retention_unpublished_rows_never(pg: Backend) -> None:
    rt = SystemRuntime(toy.build(), pg.settings, environ={})
    await rt.start(relays=False)
    try:
        for n in range(5):
            await toy.ping(rt["source"], uuid.uuid4(), n)
        async with rt["source"].db.writing() as session, session.begin():
            old = utcnow() - timedelta(days=8)
            ids = (await session.scalars(select(outbox_table.c.id).order_by(outbox_table.c.id))).all()
            await session.execute(update(outbox_table).where(outbox_table.c.id.in_(ids[:3])).values(published_at=old))
        pruned = await rt["source"].outbox.prune(timedelta(days=7))
        assert pruned == 3
        assert await rt["source"].outbox.backlog() == 2
        assert len(await outbox_ids(rt)) == 2
    finally:
        await rt.stop()


async def test_a_dead_relays_claims_expire_and_another_relay_publishes_them(tmp_path: Path) -> None:
    backend = make_backend("postgres", tmp_path, relay_lease_seconds=0.5)
    rt = SystemRuntime(toy.build(), backend.settings, environ={})
    await rt.start(relays=False)
    try:
        for n in range(3):
            await toy.ping(rt["source"], uuid.uuid4(), n)
        ghost = SqlOutbox(rt["source"].db, claimer="dead-relay", lease=timedelta(seconds=0.5))
        claimed = await ghost.fetch(10)  # claimed, then the "relay" dies without publishing
        assert len(claimed) == 3
        assert await rt["source"].outbox.fetch(10) == [], "live claims are not taken by another relay"
        await asyncio.sleep(0.6)
        for name in ("source", "sink"):
            rt[name].start(relay=True, consumer=False)
        await rt.settle()
        assert sorted(r.n for r in await toy.applied(rt["sink"])) == [0, 1, 2]
    finally:
        await rt.stop()
        backend.drop_later(["source", "sink"])


async def test_a_relay_does_not_claim_past_an_aggregates_row_leased_to_another_relay(pg: Backend) -> None:
    """Per-aggregate order across relays: while relay A holds v1 of an aggregate,
    relay B may take other aggregates' rows but not v2 of that one."""
    rt = SystemRuntime(toy.build(), pg.settings, environ={})
    await rt.start(relays=False, consumers=False)
    try:
        a, b = uuid.uuid4(), uuid.uuid4()
        await toy.ping(rt["source"], a, 1)
        db = rt["source"].db
        relay_a = SqlOutbox(db, claimer="relay-a")
        relay_b = SqlOutbox(db, claimer="relay-b")
        assert len(await relay_a.fetch(10)) == 1  # A holds a:v1
        await toy.ping(rt["source"], a, 2)
        await toy.ping(rt["source"], b, 1)
        taken = [Envelope.from_json(r.payload) for r in await relay_b.fetch(10)]
        assert [(e.aggregateid, e.aggregateversion) for e in taken] == [(str(b), 1)]
        more = [Envelope.from_json(r.payload) for r in await relay_a.fetch(10)]
        assert [(e.aggregateid, e.aggregateversion) for e in more] == [(str(a), 2)], "A goes on with its aggregate"
    finally:
        await rt.stop()


async def test_processes_of_one_service_starting_together_migrate_once(tmp_path: Path) -> None:
    """Three runtimes of the HR system prepare the same databases at once."""
    from isles.storage import migrations
    from tests.hrms.cluster import core

    backend = make_backend("postgres", tmp_path)
    runtimes = [SystemRuntime(core(), backend.settings, environ={}) for _ in range(3)]
    try:
        await asyncio.gather(*(rt.prepare() for rt in runtimes))
        for rt in runtimes[:1]:
            for srt in rt.services.values():
                status = await migrations.status(srt.db, srt.service)
                assert status.up_to_date, status
    finally:
        for rt in runtimes:
            for srt in rt.services.values():
                await srt.db.dispose()
        backend.drop_later([s.name for s in core().services])
