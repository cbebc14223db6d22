"""What batching must not break, on SQLite and PostgreSQL, embedded bus and NATS: a
duplicate inside a batch, events of one aggregate in one batch, a poison event among
good ones, a crash in the middle of a batch (nothing applied twice, nothing lost)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from isles.core.events import Envelope
from isles.messaging.consumer import Consumer, Outcome
from isles.runtime.system import SystemRuntime
from isles.storage.schema import dead_letters_table, inbox_table, outbox_table
from tests.isles import toy
from tests.support import NATS_URL, Backend, delete_streams, free_port, make_backend, nats_prefix, require_nats

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Setup:
    backend: Backend

    @property
    def bus(self) -> str:
        return self.backend.settings.bus

    @asynccontextmanager
    async def running(
        self, *, flakiness: toy.Flakiness | None = None, relays: bool = True, consumers: bool = True
    ) -> AsyncIterator[SystemRuntime]:
        runtime = SystemRuntime(toy.build(flakiness), self.backend.settings, environ={})
        await runtime.start(relays=relays, consumers=consumers)
        try:
            if self.bus == "nats":
                await runtime.bus.wait_ready()  # type: ignore[attr-defined]
            yield runtime
        finally:
            await runtime.stop()


@pytest.fixture(
    params=[
        "sqlite-embedded",
        pytest.param("postgres-embedded", marks=pytest.mark.postgres),
        pytest.param("sqlite-nats", marks=pytest.mark.nats),
        pytest.param("postgres-nats", marks=[pytest.mark.postgres, pytest.mark.nats]),
    ]
)
async def setup(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Setup]:
    database, bus = request.param.split("-")
    options: dict[str, object] = {"consumer_batch_size": 50}
    prefix = ""
    if bus == "nats":
        require_nats()
        prefix = nats_prefix()
        options.update(bus="nats", nats_url=NATS_URL, nats_prefix=prefix, nats_ack_wait=2.0, max_deliveries=4)
    backend = make_backend(database, tmp_path, **options)
    try:
        yield Setup(backend)
    finally:
        backend.drop_later(["source", "sink"])
        if prefix:
            await delete_streams(NATS_URL, prefix)


def sink(rt: SystemRuntime) -> Consumer:
    consumer = rt["sink"].consumer
    assert consumer is not None
    return consumer


async def count(rt: SystemRuntime, service: str, table: object) -> int:
    async with rt[service].db.read_session() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


async def outbox_envelopes(rt: SystemRuntime) -> list[Envelope]:
    async with rt["source"].db.read_session() as session:
        payloads = await session.scalars(select(outbox_table.c.payload).order_by(outbox_table.c.id))
        return [Envelope.from_json(p) for p in payloads]


def by_counter(rows: list[toy.Applied]) -> dict[str, list[int]]:
    seen: dict[str, list[int]] = {}
    for row in rows:
        seen.setdefault(row.aggregate_id, []).append(row.version)
    return seen


async def test_events_of_one_aggregate_in_one_batch_are_applied_in_order(setup: Setup) -> None:
    counters = [uuid.uuid4() for _ in range(5)]
    async with setup.running(relays=False, consumers=False) as rt:
        for n in range(20):
            for c in counters:
                await toy.ping(rt["source"], c, n)
    async with setup.running() as rt:
        await rt.settle()
        rows = await toy.applied(rt["sink"])
        assert len(rows) == 100
        assert by_counter(rows) == {str(c): list(range(1, 21)) for c in counters}, "versions in order per aggregate"
        assert sink(rt).counters.applied == 100
        assert sink(rt).counters.batches >= 1, "events were applied in batches"
        assert sink(rt).counters.batches < 100


async def test_duplicates_inside_a_batch_are_skipped(setup: Setup) -> None:
    async with setup.running(relays=False, consumers=False) as rt:
        for n in range(6):
            await toy.ping(rt["source"], uuid.uuid4(), n)
        envelopes = await outbox_envelopes(rt)
    outcomes: list[tuple[str, Outcome]] = []
    async with setup.running(relays=False) as rt:
        rt.observe(lambda _c, env, outcome: outcomes.append((env.id, outcome)))
        consumer = sink(rt)
        await consumer.deliver(envelopes[0])  # applied before: its second delivery is a duplicate
        outcomes.clear()
        # One batch: an event applied before, the same new event twice, and four more.
        futures = [consumer.deliver(e) for e in (envelopes[0], envelopes[1], envelopes[1], *envelopes[2:])]
        for future in futures:
            await future
        assert consumer.counters.batches >= 1
        rows = await toy.applied(rt["sink"])
        assert sorted(r.n for r in rows) == list(range(6)), "each event applied once"
        assert await count(rt, "sink", inbox_table) == 6
        assert sorted(o.value for _, o in outcomes) == sorted(["duplicate"] * 2 + ["applied"] * 5)
        assert dict(outcomes)[envelopes[0].id] is Outcome.DUPLICATE


async def test_redelivered_events_mixed_with_new_ones_apply_only_the_new(setup: Setup) -> None:
    counter = uuid.uuid4()
    async with setup.running() as rt:
        for n in range(10):
            await toy.ping(rt["source"], counter, n)
        await rt.settle()
        assert len(await toy.applied(rt["sink"])) == 10
    async with setup.running(relays=False, consumers=False) as rt:
        for n in range(10, 20):
            await toy.ping(rt["source"], counter, n)
        envelopes = await outbox_envelopes(rt)
    async with setup.running(relays=False) as rt:
        consumer = sink(rt)
        # Every event again, old and new, in one go (a bus that lost its position).
        for future in [consumer.deliver(e) for e in envelopes]:
            await future
        rows = await toy.applied(rt["sink"])
        assert [r.n for r in rows] == list(range(20)), "the new ten once each, after the old ten"
        assert consumer.counters.duplicates == 10


async def test_poison_event_in_a_batch_is_retried_alone_then_parked(setup: Setup) -> None:
    counters = [uuid.uuid4() for _ in range(4)]
    poisoned = counters[1]
    async with setup.running(relays=False, consumers=False) as rt:
        for n in range(5):
            for c in counters:
                await toy.ping(rt["source"], c, n, mode="fail" if (c == poisoned and n == 2) else "ok")
    flaky = toy.Flakiness()
    async with setup.running(flakiness=flaky) as rt:
        await rt.settle()
        rows = await toy.applied(rt["sink"])
        seen = by_counter(rows)
        for c in counters:
            expected = [1, 2, 4, 5] if c == poisoned else [1, 2, 3, 4, 5]
            assert seen[str(c)] == expected, "the good events applied, in order; the poison one not"
        assert await count(rt, "sink", dead_letters_table) == 1
        async with rt["sink"].db.read_session() as session:
            letter = (await session.execute(select(dead_letters_table))).one()
        assert letter.aggregate_id == str(poisoned)
        assert letter.aggregate_version == 3
        assert letter.attempts == rt.settings.retry.max_attempts, "retried alone, then parked"
        assert "boom on n=2" in letter.error
        assert sink(rt).counters.dead_lettered == 1
        assert sink(rt).counters.applied == 19


async def test_a_batch_that_fails_before_commit_leaves_nothing_and_is_applied_once(setup: Setup) -> None:
    from isles.core import failpoints

    counters = [uuid.uuid4() for _ in range(3)]
    async with setup.running(relays=False, consumers=False) as rt:
        for n in range(10):
            for c in counters:
                await toy.ping(rt["source"], c, n)
    failpoints.configure({"consumer.sink.commit": "raise:1"})  # the first transaction dies before its commit
    try:
        async with setup.running() as rt:
            await rt.settle()
            rows = await toy.applied(rt["sink"])
    finally:
        failpoints.clear()
    assert len(rows) == 30
    assert len({r.event_id for r in rows}) == 30, "nothing applied twice"
    assert by_counter(rows) == {str(c): list(range(1, 11)) for c in counters}


@pytest.mark.e2e
async def test_process_killed_in_the_middle_of_a_batch_loses_nothing_and_applies_nothing_twice(
    setup: Setup, tmp_path: Path
) -> None:
    counters = [uuid.uuid4() for _ in range(4)]
    async with setup.running(relays=False, consumers=False) as rt:
        for n in range(15):
            for c in counters:
                await toy.ping(rt["source"], c, n)
    # A real process takes the events and is killed (SIGKILL) inside its first
    # transaction, after the handlers ran and before the commit -- whether the bus
    # handed it a batch or a single event first (NATS hands over what has arrived).
    settings = setup.backend.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISLES_") or k == "ISLES_STATE_FILE"}
    env.update(
        ISLES_FAILPOINTS="consumer.sink.commit=kill",
        ISLES_KEYS_DIR=str(settings.keys_dir),
        ISLES_BUS=settings.bus,
        ISLES_NATS_URL=settings.nats.url,
        ISLES_NATS_PREFIX=settings.nats.prefix,
        ISLES_NATS_ACK_WAIT="2",
        ISLES_CONSUMER_BATCH_SIZE="50",
    )
    if settings.database_url:
        env["ISLES_DATABASE_URL"] = settings.database_url
    command = [sys.executable, "-m", "isles.cli", "up", "--system", "tests.isles.toy:build", "--no-demo"]
    command += ["--port", str(free_port()), "--data-dir", str(settings.data_dir)]
    proc = await asyncio.to_thread(
        subprocess.run, command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == -9, f"killed at the failpoint, not {proc.returncode}: {proc.stdout[-2000:]}"
    async with setup.running(relays=False, consumers=False) as rt:
        assert await toy.applied(rt["sink"]) == [], "the killed batch left nothing behind"
    started = time.monotonic()
    async with setup.running() as rt:
        while len(await toy.applied(rt["sink"])) < 60 and time.monotonic() - started < 60:
            await rt.settle()
        rows = await toy.applied(rt["sink"])
        assert len(rows) == 60, "nothing lost"
        assert len({r.event_id for r in rows}) == 60, "nothing applied twice"
        assert by_counter(rows) == {str(c): list(range(1, 16)) for c in counters}
