"""``isles.SagaFinished``: the platform's event about each saga that ends (completed,
compensated, failed), written to the orchestrating service's outbox in the transaction
that ends the saga; on SQLite and PostgreSQL, delivered embedded and over NATS, from
every service that runs sagas (two here: the toy shop, and ``tally`` with a one-step
saga), to a service that keeps what it hears."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from fastapi import APIRouter
from sqlalchemy import Integer, String, Uuid, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from isles.core import failpoints
from isles.core.events import Envelope
from isles.messaging.consumer import Handler, HandlerContext
from isles.runtime.nats_auth import users
from isles.runtime.system import SystemRuntime, event_owners, event_publishers
from isles.sagas import Saga, SagaStatus, Step, StepContext
from isles.sagas.events import SagaFinished
from isles.service.declaration import Service, System
from isles.storage.schema import dead_letters_table, new_metadata, outbox_table
from tests.isles import sagatoy
from tests.isles.test_sagas import ORDER, SAGA_FAST
from tests.support import NATS_URL, Backend, delete_streams, make_backend, nats_prefix, require_nats

pytestmark = pytest.mark.integration

watch_md = new_metadata()
tally_md = new_metadata()


class WatchBase(DeclarativeBase):
    metadata = watch_md


class TallyBase(DeclarativeBase):
    metadata = tally_md


class Heard(WatchBase):
    __tablename__ = "heard"
    event_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    saga_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    source: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer)


class Tick(TallyBase):
    __tablename__ = "ticks"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)


async def heard(ctx: HandlerContext, event: SagaFinished) -> None:
    env = ctx.envelope
    ctx.uow.session.add(
        Heard(
            event_id=env.id,
            saga_id=event.saga_id,
            source=env.source,
            status=event.status,
            version=env.aggregateversion,
        )
    )


async def tick(ctx: StepContext) -> Any:
    ctx.uow.session.add(Tick(id=ctx.saga_id))
    await ctx.uow.commit()
    return {"ok": True}


def build() -> System:
    toy = sagatoy.build()
    watch = Service(
        name="watch",
        metadata=watch_md,
        router=APIRouter(),
        migrations=None,
        handlers=[Handler(event=SagaFinished, fn=heard)],
    )
    tally = Service(
        name="tally",
        metadata=tally_md,
        router=APIRouter(),
        migrations=None,
        sagas=[Saga("tally.Tick", (Step("tick", tick, local=True),))],
    )
    return System(name="sagaevents", services=[*toy.services, tally, watch])


SERVICES = ["ledger", "shop", "tally", "watch"]


@pytest.fixture(autouse=True)
def no_failpoints() -> Iterator[None]:
    failpoints.clear()
    yield
    failpoints.clear()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Any) -> Backend:
    return make_backend(request.param, tmp_path, **SAGA_FAST)


@pytest.fixture
async def system(backend: Backend) -> AsyncIterator[SystemRuntime]:
    runtime = SystemRuntime(build(), backend.settings, environ={})
    sagatoy.bind(runtime)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()
        backend.drop_later(SERVICES)


async def place(runtime: SystemRuntime, order: dict[str, Any] = ORDER) -> Any:
    runner = runtime["shop"].sagas
    assert runner is not None
    saga_id = await runner.begin("shop.PlaceOrder", order, tenant_id=str(COMPANY))
    return await runner.wait(saga_id, 20)


COMPANY = uuid.UUID("00000000-0000-4000-8000-0000000000c1")


async def outboxed(runtime: SystemRuntime, service: str, saga_id: uuid.UUID) -> list[Envelope]:
    """The SagaFinished events of ``saga_id`` in ``service``'s outbox (published or not)."""
    o = outbox_table
    async with runtime[service].db.read_session() as session:
        rows = (
            await session.execute(
                select(o.c.payload)
                .where(o.c.event_type == SagaFinished.event_type, o.c.aggregate_id == str(saga_id))
                .order_by(o.c.aggregate_version)
            )
        ).all()
    return [Envelope.from_json(r.payload) for r in rows]


async def heard_of(runtime: SystemRuntime, saga_id: uuid.UUID, count: int) -> list[Heard]:
    """What the watcher heard of ``saga_id``, once it heard ``count`` events (a bound, not a timing)."""
    deadline = asyncio.get_running_loop().time() + 15
    while True:
        async with runtime["watch"].db.read_session() as session:
            rows = list(
                (await session.scalars(select(Heard).where(Heard.saga_id == saga_id).order_by(Heard.version))).all()
            )
        if len(rows) >= count:
            return rows
        assert asyncio.get_running_loop().time() < deadline, f"heard {len(rows)} of {count}"
        await asyncio.sleep(0.02)


def test_every_service_with_sagas_publishes_it_and_it_has_no_single_owner() -> None:
    system = build()
    by_name = {s.name: s for s in system.services}
    assert SagaFinished in by_name["shop"].publishes
    assert SagaFinished in by_name["tally"].publishes
    assert SagaFinished not in by_name["ledger"].publishes
    assert event_publishers(system)[SagaFinished.event_type] == ("shop", "tally")
    assert SagaFinished.event_type not in event_owners(system), "taken from either"
    assert event_owners(system)["ledger.ApprovalDecided"] == "ledger"
    quiet = Service(
        name="quiet", metadata=new_metadata(), router=APIRouter(), migrations=None, sagas=[sagatoy.place_order()]
    )
    assert SagaFinished in quiet.publishes
    off = Service(
        name="off",
        metadata=new_metadata(),
        router=APIRouter(),
        migrations=None,
        sagas=[sagatoy.place_order()],
        saga_events=False,
    )
    assert SagaFinished not in off.publishes
    # NATS: the watcher may read both publishers' streams
    watch = next(u for u in users(system, "isles") if u.service == "watch")
    assert any("ISLES_SHOP" in p for p in watch.publish)
    assert any("ISLES_TALLY" in p for p in watch.publish)


async def test_a_completed_saga_writes_one_event_with_its_outcome(system: SystemRuntime) -> None:
    state = await place(system)
    assert state.status is SagaStatus.COMPLETED
    (env,) = await outboxed(system, "shop", state.id)
    assert env.source == "/isles/shop"
    assert (env.aggregatetype, env.aggregateid, env.tenantid) == ("saga", str(state.id), str(COMPANY))
    event = SagaFinished.from_envelope(env)
    assert event.status == "completed"
    assert (event.saga, event.service, event.tenant) == ("shop.PlaceOrder", "shop", COMPANY)
    assert (event.steps, event.completed_steps, event.compensated_steps) == (4, 4, ())
    assert (event.failed_step, event.error, event.attempts) == (None, None, 4)
    assert event.finished_at == state.finished_at
    assert event.started_at == state.created_at
    assert event.duration_seconds == pytest.approx((state.finished_at - state.created_at).total_seconds(), abs=0.002)
    (h,) = await heard_of(system, state.id, 1)
    assert (h.status, h.source, h.version, h.event_id) == ("completed", "/isles/shop", env.aggregateversion, env.id)


async def test_a_compensated_saga_writes_one_event_naming_the_failed_and_undone_steps(system: SystemRuntime) -> None:
    failpoints.configure({"saga.shop.PlaceOrder.credit.before": "refuse"})
    state = await place(system)
    assert state.status is SagaStatus.COMPENSATED
    (env,) = await outboxed(system, "shop", state.id)
    event = SagaFinished.from_envelope(env)
    assert event.status == "compensated"
    assert event.compensated_steps == ("debit", "record")
    assert (event.completed_steps, event.failed_step, event.error) == (2, "credit", "injected-failure")
    assert event.attempts == 1 + 1 + 1 + 2, "three actions and two compensations"
    # the saga's data is not in it: none of its keys or values as a JSON string (ids are random hex, so a
    # bare substring such as "ada" may turn up in one of them)
    text = env.to_json()
    strings = [f'"{key}"' for key in ORDER] + [f'"{value}"' for value in ORDER.values() if isinstance(value, str)]
    assert strings
    assert not [s for s in strings if s in text]
    (h,) = await heard_of(system, state.id, 1)
    assert h.status == "compensated"


async def test_a_parked_saga_writes_failed_and_once_more_when_a_retry_ends_it(system: SystemRuntime) -> None:
    failpoints.configure({"saga.shop.PlaceOrder.credit.before": "refuse", "ledger.entries.delete": "raise"})
    state = await place(system)
    assert state.status is SagaStatus.FAILED
    (first,) = await outboxed(system, "shop", state.id)
    failed = SagaFinished.from_envelope(first)
    assert (failed.status, failed.failed_step, failed.error) == ("failed", "credit", "injected-failure")
    assert failed.compensated_steps == ("record",), "the debit's compensation gave up"
    assert await heard_of(system, state.id, 1)

    failpoints.clear()
    runner = system["shop"].sagas
    assert runner is not None
    await runner.store.reopen(state.id)
    runner.kick()
    rows = await heard_of(system, state.id, 2)
    assert [r.status for r in rows] == ["failed", "compensated"]
    assert rows[0].version < rows[1].version, "the retried saga's second end is a newer version"
    envs = await outboxed(system, "shop", state.id)
    assert [SagaFinished.from_envelope(e).status for e in envs] == ["failed", "compensated"]


async def test_a_crash_before_the_end_commits_writes_nothing_and_the_resumed_saga_writes_it_once(
    system: SystemRuntime,
) -> None:
    # compensated: the end is written by its own transaction (the drive fails, the sweeper resumes it)
    failpoints.configure({"saga.shop.PlaceOrder.credit.before": "refuse", "saga.shop.PlaceOrder.ending": "raise:1"})
    runner = system["shop"].sagas
    assert runner is not None
    saga_id = await runner.begin("shop.PlaceOrder", ORDER, tenant_id=str(COMPANY))
    deadline = asyncio.get_running_loop().time() + 15
    while failpoints.hits("saga.shop.PlaceOrder.ending") < 1:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)
    state = await runner.wait(saga_id, 20)
    while state.status is not SagaStatus.COMPENSATED:
        assert asyncio.get_running_loop().time() < deadline, state.as_dict()
        await asyncio.sleep(0.02)
        state = await runner.wait(saga_id, 20)
    assert failpoints.hits("saga.shop.PlaceOrder.ending") == 2, "the first end rolled back, the second committed"
    assert len(await outboxed(system, "shop", saga_id)) == 1
    assert len(await heard_of(system, saga_id, 1)) == 1

    # completed by a local step: the end commits with the step's change, retried as the step
    failpoints.configure({"saga.shop.PlaceOrder.ending": "raise:1"})
    done = await place(system)
    assert done.status is SagaStatus.COMPLETED
    assert done.step("confirm").attempts == 2
    assert len(await outboxed(system, "shop", done.id)) == 1
    assert len(await heard_of(system, done.id, 1)) == 1


async def test_each_publisher_is_heard(system: SystemRuntime) -> None:
    runner = system["tally"].sagas
    assert runner is not None
    saga_id = await runner.begin("tally.Tick", {})
    state = await runner.wait(saga_id, 20)
    assert state.status is SagaStatus.COMPLETED
    (h,) = await heard_of(system, saga_id, 1)
    assert (h.source, h.status) == ("/isles/tally", "completed")
    (env,) = await outboxed(system, "tally", saga_id)
    assert env.tenantid == ""
    assert SagaFinished.from_envelope(env).tenant is None, "a saga of no company"


async def _count(runtime: SystemRuntime) -> int:
    async with runtime["watch"].db.read_session() as session:
        return int(await session.scalar(select(func.count()).select_from(Heard)) or 0)


@pytest.mark.nats
async def test_over_nats_both_publishers_reach_the_watcher(tmp_path: Any) -> None:
    require_nats()
    prefix = nats_prefix()
    backend = make_backend("sqlite", tmp_path, bus="nats", nats_url=NATS_URL, nats_prefix=prefix, **SAGA_FAST)
    runtime = SystemRuntime(build(), backend.settings, environ={})
    sagatoy.bind(runtime)
    await runtime.start()
    try:
        shop = await place(runtime)
        assert shop.status is SagaStatus.COMPLETED
        tally = runtime["tally"].sagas
        assert tally is not None
        ticked = await tally.wait(await tally.begin("tally.Tick", {}), 20)
        (a,) = await heard_of(runtime, shop.id, 1)
        (b,) = await heard_of(runtime, ticked.id, 1)
        assert (a.source, b.source) == ("/isles/shop", "/isles/tally")
        assert await _count(runtime) == 2
    finally:
        await runtime.stop()
        await delete_streams(NATS_URL, prefix)


async def test_one_from_a_service_that_does_not_publish_it_is_parked(system: SystemRuntime) -> None:
    runner = system["tally"].sagas
    assert runner is not None
    real = await runner.wait(await runner.begin("tally.Tick", {}), 20)
    (env,) = await outboxed(system, "tally", real.id)
    forged = dataclasses.replace(env, id=str(uuid.uuid4()), source="/isles/ledger", aggregateid=str(uuid.uuid4()))
    consumer = system["watch"].consumer
    assert consumer is not None
    await consumer.deliver(forged)
    await system.settle()
    async with system["watch"].db.read_session() as session:
        letters = (await session.execute(select(dead_letters_table))).all()
        sources = set((await session.scalars(select(Heard.source))).all())
    assert [d.event_type for d in letters] == [SagaFinished.event_type]
    assert "only /isles/shop, /isles/tally publishes it" in letters[0].error
    assert sources == {"/isles/tally"}
