"""A two-service toy system for kernel tests: ``source`` publishes Pinged events,
``sink`` records each one it applies, and fails on demand."""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any, ClassVar

from fastapi import APIRouter
from sqlalchemy import Integer, String, Uuid, insert, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from isles.core.events import Event, Upcaster
from isles.messaging.consumer import Handler, HandlerContext
from isles.runtime.system import ServiceRuntime
from isles.service.declaration import Service, System
from isles.storage.schema import new_metadata


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 called the number ``count`` and had no mode."""
    return {"id": data["id"], "n": data["count"], "mode": "ok"}


class Pinged(Event):
    event_type: ClassVar[str] = "toy.Pinged"
    schema_version: ClassVar[int] = 2
    upcasters: ClassVar[dict[int, Upcaster]] = {1: _v1_to_v2}

    id: uuid.UUID
    n: int
    mode: str = "ok"  # "ok", "fail" (always), "flaky:K" (fails K times), "hang" (waits for the gate)


source_md = new_metadata()
sink_md = new_metadata()


class SourceBase(DeclarativeBase):
    metadata = source_md


class SinkBase(DeclarativeBase):
    metadata = sink_md


class Counter(SourceBase):
    __tablename__ = "counters"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=0)


class Applied(SinkBase):
    __tablename__ = "applied"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64))
    aggregate_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    n: Mapped[int] = mapped_column(Integer)


class Flakiness:
    """Counts attempts per event so a 'flaky:K' event fails exactly K times."""

    def __init__(self, *, gate_open: bool = True) -> None:
        self.attempts: dict[str, int] = {}
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()
        if gate_open:
            self.gate.set()


def build(flakiness: Flakiness | None = None) -> System:
    flaky = flakiness or Flakiness()

    async def record(ctx: HandlerContext, event: Pinged) -> None:
        env = ctx.envelope
        tries = flaky.attempts[env.id] = flaky.attempts.get(env.id, 0) + 1
        if event.mode == "hang":
            flaky.entered.set()
            await flaky.gate.wait()
        if event.mode == "fail" and not os.environ.get("TOY_HEALED"):
            raise RuntimeError(f"boom on n={event.n}")
        if event.mode.startswith("flaky:") and tries <= int(event.mode.split(":")[1]):
            raise ConnectionError(f"transient failure {tries} on n={event.n}")
        await ctx.uow.session.execute(
            insert(Applied).values(
                event_id=env.id, aggregate_id=env.aggregateid, version=env.aggregateversion, n=event.n
            )
        )

    source = Service(name="source", metadata=source_md, router=APIRouter(), migrations=None, publishes=[Pinged])
    sink = Service(
        name="sink",
        metadata=sink_md,
        router=APIRouter(),
        migrations=None,
        handlers=[Handler(event=Pinged, fn=record, name="record")],
    )
    return System(name="toy", services=[source, sink])


async def ping(rt: ServiceRuntime, counter_id: uuid.UUID, n: int, mode: str = "ok") -> None:
    """Set counter ``counter_id`` to ``n`` and publish Pinged, in one unit of work."""
    async with rt.uow() as uow:
        counter = await uow.session.get(Counter, counter_id, with_for_update=True)
        if counter is None:
            counter = Counter(id=counter_id, n=n, version=0)
            uow.session.add(counter)
        counter.n = n
        uow.emit(Pinged(id=counter_id, n=n, mode=mode), aggregate=counter, aggregate_type="counter")
        await uow.commit()


async def applied(rt: ServiceRuntime) -> list[Applied]:
    async with rt.db.read_session() as session:
        return list(await session.scalars(select(Applied).order_by(Applied.seq)))
