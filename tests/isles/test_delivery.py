"""Delivery guarantees of the kernel, on SQLite and PostgreSQL: nothing lost, nothing
applied twice, order per aggregate, failures parked without stopping the stream."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import func, insert, select

from isles.core.clock import utcnow
from isles.core.events import Envelope
from isles.messaging.consumer import Outcome
from isles.runtime.system import SystemRuntime
from isles.storage.schema import dead_letters_table, inbox_table, outbox_table
from tests.isles import toy
from tests.support import Backend

pytestmark = pytest.mark.integration


@asynccontextmanager
async def running(
    backend: Backend, *, relays: bool = True, flakiness: toy.Flakiness | None = None
) -> AsyncIterator[SystemRuntime]:
    runtime = SystemRuntime(toy.build(flakiness), backend.settings, environ={})
    await runtime.start(relays=relays)
    try:
        yield runtime
    finally:
        await runtime.stop()


@pytest.fixture
async def cleanup(backend: Backend) -> AsyncIterator[None]:
    yield
    backend.drop_later(["source", "sink"])


async def count(rt: SystemRuntime, service: str, table: object, *where: object) -> int:
    async with rt[service].db.read_session() as session:
        q = select(func.count()).select_from(table)  # type: ignore[arg-type]
        for w in where:
            q = q.where(w)  # type: ignore[arg-type]
        return int(await session.scalar(q) or 0)


async def test_event_committed_before_a_crash_is_delivered_after_restart(backend: Backend, cleanup: None) -> None:
    ids = [uuid.uuid4() for _ in range(3)]
    async with running(backend, relays=False) as rt:  # the relay never gets to run
        for i, cid in enumerate(ids):
            await toy.ping(rt["source"], cid, i)
        assert await rt["source"].outbox.backlog() == 3
        assert await toy.applied(rt["sink"]) == []
    async with running(backend) as rt:  # restart
        await rt.settle()
        rows = await toy.applied(rt["sink"])
        assert sorted(r.n for r in rows) == [0, 1, 2]
        assert await rt["source"].outbox.backlog() == 0


async def test_relay_stopped_mid_batch_loses_nothing_and_applies_nothing_twice(backend: Backend, cleanup: None) -> None:
    counter = uuid.uuid4()
    async with running(backend, relays=False) as rt:
        for n in range(40):
            await toy.ping(rt["source"], counter, n, mode="hang" if n == 5 else "ok")
    hanging = toy.Flakiness(gate_open=False)
    async with running(backend, flakiness=hanging) as rt:
        # The sixth event's handler holds at the gate: the events before it are through
        # (applied alone, or in the same batch transaction as the sixth, so not yet),
        # the sixth is in hand, the rest in flight.
        seen: list[str] = []
        rt.observe(lambda _c, env, _o: seen.append(env.id))
        await asyncio.wait_for(hanging.entered.wait(), 10)
        await rt["source"].relay.stop()
        assert len(seen) <= 5, f"nothing after the held event is applied ({len(seen)} applied)"
        assert [r.n for r in await toy.applied(rt["sink"])] == list(range(len(seen)))
    async with running(backend) as rt:
        await rt.settle()
        rows = await toy.applied(rt["sink"])
        assert [r.n for r in rows] == list(range(40)), "every event once, in order"
        assert len({r.event_id for r in rows}) == 40


async def test_same_event_delivered_twice_has_one_effect(backend: Backend, cleanup: None) -> None:
    outcomes: list[Outcome] = []
    async with running(backend) as rt:
        rt.observe(lambda _c, _e, outcome: outcomes.append(outcome))
        await toy.ping(rt["source"], uuid.uuid4(), 7)
        await rt.settle()
        async with rt["source"].db.read_session() as session:
            payload = await session.scalar(select(outbox_table.c.payload))
        envelope = Envelope.from_json(payload)
        await rt["sink"].consumer.deliver(envelope)  # type: ignore[union-attr]
        await rt["sink"].consumer.deliver(envelope)  # type: ignore[union-attr]
        assert [r.n for r in await toy.applied(rt["sink"])] == [7]
        assert outcomes == [Outcome.APPLIED, Outcome.DUPLICATE, Outcome.DUPLICATE]
        assert await count(rt, "sink", inbox_table) == 1


async def test_handler_that_always_fails_is_dead_lettered_and_the_stream_goes_on(
    backend: Backend, cleanup: None
) -> None:
    bad, good = uuid.uuid4(), uuid.uuid4()
    async with running(backend) as rt:
        await toy.ping(rt["source"], bad, 1, mode="fail")
        for n in range(2, 6):
            await toy.ping(rt["source"], good, n)
        await toy.ping(rt["source"], bad, 99)  # the bad aggregate's next event still flows
        await rt.settle()
        rows = await toy.applied(rt["sink"])
        assert [r.n for r in rows if r.aggregate_id == str(good)] == [2, 3, 4, 5]
        assert [r.n for r in rows if r.aggregate_id == str(bad)] == [99]
        async with rt["sink"].db.read_session() as session:
            dead = (await session.execute(select(dead_letters_table))).all()
        assert len(dead) == 1
        letter = dead[0]
        assert letter.error == "RuntimeError: boom on n=1"
        assert "RuntimeError" in letter.traceback
        assert letter.attempts == backend.settings.retry.max_attempts
        assert json.loads(letter.payload)["data"]["n"] == 1
        assert rt["sink"].consumer.counters.dead_lettered == 1  # type: ignore[union-attr]
        # The parked event is not applied if it comes again (e.g. relay replay).
        await rt["sink"].consumer.deliver(Envelope.from_json(letter.payload))  # type: ignore[union-attr]
        assert await count(rt, "sink", dead_letters_table) == 1


async def test_failing_event_holds_back_only_its_own_aggregate(backend: Backend, cleanup: None) -> None:
    flaky = toy.Flakiness()
    a, b = uuid.uuid4(), uuid.uuid4()
    async with running(backend, flakiness=flaky) as rt:
        await toy.ping(rt["source"], a, 1, mode="flaky:2")  # fails twice, then succeeds
        await toy.ping(rt["source"], a, 2)
        await toy.ping(rt["source"], a, 3)
        for n in range(10, 15):
            await toy.ping(rt["source"], b, n)
        await rt.settle()
        rows = await toy.applied(rt["sink"])
        a_rows = [r for r in rows if r.aggregate_id == str(a)]
        assert [r.n for r in a_rows] == [1, 2, 3], "order kept through retries"
        assert [r.version for r in a_rows] == [1, 2, 3]
        assert [r.n for r in rows if r.aggregate_id == str(b)] == [10, 11, 12, 13, 14]
        assert max(flaky.attempts.values()) == 3
        assert await count(rt, "sink", dead_letters_table) == 0


async def test_old_event_in_the_outbox_reaches_the_consumer_in_the_newest_shape(
    backend: Backend, cleanup: None
) -> None:
    counter = uuid.uuid4()
    old = Envelope(
        id=str(uuid.uuid4()),
        source="/isles/source",
        type="toy.Pinged",
        aggregatetype="counter",
        aggregateid=str(counter),
        aggregateversion=1,
        schemaversion=1,
        data={"id": str(counter), "count": 41},
    )
    async with running(backend, relays=False) as rt, rt["source"].db.writing() as session, session.begin():
        await session.execute(
            insert(outbox_table).values(
                event_id=uuid.UUID(old.id),
                event_type=old.type,
                aggregate_type="counter",
                aggregate_id=str(counter),
                aggregate_version=1,
                tenant_id="",
                payload=old.to_json(),
                created_at=utcnow(),
            )
        )
    async with running(backend) as rt:
        await rt.settle()
        assert [(r.n, r.version) for r in await toy.applied(rt["sink"])] == [(41, 1)]


async def test_event_newer_than_the_consumer_is_parked_at_once(backend: Backend, cleanup: None) -> None:
    future = Envelope(
        id=str(uuid.uuid4()),
        source="/isles/source",
        type="toy.Pinged",
        aggregatetype="counter",
        aggregateid=str(uuid.uuid4()),
        aggregateversion=1,
        schemaversion=3,
        data={"id": "x"},
    )
    async with running(backend) as rt:
        await rt["sink"].consumer.deliver(future)  # type: ignore[union-attr]
        async with rt["sink"].db.read_session() as session:
            letter = (await session.execute(select(dead_letters_table))).one()
        assert letter.attempts == 1
        assert "newer than this consumer" in letter.error
