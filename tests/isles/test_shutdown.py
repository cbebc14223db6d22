"""Stopping works even when a database driver turns a cancellation into an error."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Collection
from pathlib import Path

import pytest
from fastapi import APIRouter
from sqlalchemy import func, select

from isles.core.events import Envelope
from isles.core.settings import IslesSettings
from isles.messaging.bus import EmbeddedBus
from isles.messaging.consumer import Consumer, Handler, HandlerContext
from isles.messaging.relay import Relay
from isles.service.declaration import Service
from isles.storage.db import ServiceDatabase
from isles.storage.outbox import OutboxRecord, SqlOutbox
from isles.storage.schema import dead_letters_table, inbox_table, new_metadata
from isles.storage.uow import UnitOfWork
from tests.isles.toy import Pinged

pytestmark = pytest.mark.integration


async def _swallowing_sleep() -> None:
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        raise RuntimeError("connection was closed in the middle of operation") from None


class SwallowingOutbox(SqlOutbox):
    async def fetch(self, limit: int, exclude: Collection[int] = ()) -> list[OutboxRecord]:
        await _swallowing_sleep()
        return []


async def _database(tmp_path: Path) -> ServiceDatabase:
    db = ServiceDatabase("sink", f"sqlite+aiosqlite:///{tmp_path}/sink.db", IslesSettings())
    md = new_metadata()
    Service(name="sink", metadata=md, router=APIRouter(), migrations=None)
    async with db.engine.begin() as conn:
        await conn.run_sync(md.create_all)
    return db


async def test_relay_stops_when_the_driver_turns_cancel_into_an_error(tmp_path: Path) -> None:
    db = await _database(tmp_path)
    relay = Relay(service="sink", outbox=SwallowingOutbox(db), bus=EmbeddedBus(), poll_interval=0.01)
    relay.start()
    await asyncio.sleep(0.05)
    await asyncio.wait_for(relay.stop(), timeout=10)
    await db.dispose()


async def test_consumer_stops_and_does_not_park_an_interrupted_event(tmp_path: Path) -> None:
    db = await _database(tmp_path)
    started = asyncio.Event()

    async def slow(ctx: HandlerContext, event: Pinged) -> None:
        started.set()
        await _swallowing_sleep()

    consumer = Consumer(
        name="sink",
        db=db,
        handlers=[Handler(event=Pinged, fn=slow)],
        uow_factory=lambda: UnitOfWork(db, source="/isles/sink"),
    )
    consumer.start()
    env = Envelope.new(
        Pinged(id=uuid.uuid4(), n=1),
        source="/isles/source",
        aggregate_type="counter",
        aggregate_id="c1",
        aggregate_version=1,
    )
    outcome = consumer.deliver(env)
    await asyncio.wait_for(started.wait(), timeout=10)
    await asyncio.wait_for(consumer.stop(), timeout=10)
    assert outcome.cancelled(), "the event stays unacknowledged, to be delivered again"
    async with db.read_session() as session:
        assert await session.scalar(select(func.count()).select_from(dead_letters_table)) == 0
        assert await session.scalar(select(func.count()).select_from(inbox_table)) == 0
    await db.dispose()
