"""Set-wise read models (``ReadModel(apply=..., events=...)``): one function given a
batch's events of its types, in order, for live events and for a rebuild alike; a
rebuild equals the live model; a declaration that is neither kind is refused.
SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar

import pytest
from sqlalchemy import Column, Integer, String, Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from isles import Envelope, Event, EventArchive, ReadModel
from isles.storage.db import ServiceDatabase
from isles.storage.schema import new_metadata
from isles.storage.tenancy import ACROSS_TENANTS
from tests.support import Backend

pytestmark = pytest.mark.integration


class Counted(Event):
    event_type: ClassVar[str] = "test.Counted"
    schema_version: ClassVar[int] = 1
    key: str
    n: int


class Ignored(Event):
    event_type: ClassVar[str] = "test.Ignored"
    schema_version: ClassVar[int] = 1
    key: str


md = new_metadata()
totals = Table(
    "totals",
    md,
    Column("generation", Integer, primary_key=True),
    Column("key", String(20), primary_key=True),
    Column("total", Integer, nullable=False),
    Column("trail", String(400), nullable=False),  # the values in the order applied
)
calls: list[list[str]] = []


async def apply(session: AsyncSession, pairs: Sequence[tuple[Envelope, Any]], generation: int) -> None:
    calls.append([type(e).__name__ for _, e in pairs])
    rows = {r.key: r for r in (await session.execute(select(totals).where(totals.c.generation == generation))).all()}
    out: dict[str, tuple[int, str]] = {k: (r.total, r.trail) for k, r in rows.items()}
    for _, event in pairs:
        total, trail = out.get(event.key, (0, ""))
        out[event.key] = (total + event.n, f"{trail},{event.n}".lstrip(","))
    await session.execute(totals.delete().where(totals.c.generation == generation))
    await session.execute(
        totals.insert(), [{"generation": generation, "key": k, "total": t, "trail": tr} for k, (t, tr) in out.items()]
    )


MODEL = ReadModel(name="totals", version=1, tables=[totals], apply=apply, events=[Counted])
ARCHIVE = EventArchive(md, [Counted, Ignored], name="test_archive", read_models=[MODEL], batch_size=3)


def envelope(event: Event, tenant: str) -> Envelope:
    return Envelope.new(
        event,
        source="/t",
        aggregate_type="thing",
        aggregate_id=str(uuid.uuid4()),
        aggregate_version=1,
        tenant_id=tenant,
    )


@pytest.fixture
async def db(backend: Backend) -> AsyncIterator[ServiceDatabase]:
    url = (
        backend.url("rmbatch")
        if backend.name == "postgres"
        else f"sqlite+aiosqlite:///{backend.settings.data_dir}/b.db"
    )
    database = ServiceDatabase("rmbatch", url, backend.settings)
    await database.ensure_exists()
    async with database.engine.begin() as conn:
        await conn.run_sync(md.create_all)
    try:
        yield database
    finally:
        await database.dispose()
        backend.drop_later(["rmbatch"])


async def rows(db: ServiceDatabase) -> dict[str, tuple[int, str]]:
    async with db.read_session(tenant=ACROSS_TENANTS) as session:
        generation = await ARCHIVE.generation(session, "totals")
        result = await session.execute(select(totals).where(totals.c.generation == generation))
        return {r.key: (r.total, r.trail) for r in result.all()}


async def test_a_batch_model_takes_its_events_in_order_and_a_rebuild_equals_it(db: ServiceDatabase) -> None:
    calls.clear()
    batches = [
        [Counted(key="a", n=1), Ignored(key="a"), Counted(key="b", n=10), Counted(key="a", n=2)],
        [Ignored(key="b")],  # nothing of the model's: not called
        [Counted(key="b", n=20), Counted(key="c", n=5), Counted(key="a", n=3)],
    ]
    for batch in batches:
        async with db.writing(tenant=ACROSS_TENANTS) as session, session.begin():
            await ARCHIVE.take(session, [(envelope(e, "t1"), e) for e in batch])
    assert calls == [["Counted", "Counted", "Counted"], ["Counted", "Counted", "Counted"]]
    live = await rows(db)
    assert live == {"a": (6, "1,2,3"), "b": (30, "10,20"), "c": (5, "5")}

    calls.clear()
    result = await ARCHIVE.rebuild(db, "totals")
    assert result.events == 6  # the model's events only (the Ignored ones are not read)
    assert all(kinds and set(kinds) == {"Counted"} for kinds in calls)
    assert sum(len(k) for k in calls) == 6
    assert await rows(db) == live
    async with db.read_session(tenant=ACROSS_TENANTS) as session:
        assert await ARCHIVE.generation(session, "totals") == result.generation
        left = (await session.execute(select(totals.c.generation).distinct())).scalars().all()
    assert left == [result.generation]  # the old generation's rows are gone


def test_a_model_is_either_per_event_or_set_wise() -> None:
    async def one(session: AsyncSession, event: Any, env: Envelope, generation: int) -> None:
        return None

    with pytest.raises(ValueError, match="either handlers, or apply"):
        ReadModel(name="x", version=1, tables=[totals], handlers={Counted: one}, apply=apply, events=[Counted])
    with pytest.raises(ValueError, match="either handlers, or apply"):
        ReadModel(name="x", version=1, tables=[totals])
    with pytest.raises(ValueError, match="either handlers, or apply"):
        ReadModel(name="x", version=1, tables=[totals], apply=apply)
