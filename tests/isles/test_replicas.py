"""Replicas converge to the newest version whatever the delivery order (property)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, Uuid, select
from sqlalchemy.ext.asyncio import create_async_engine

from isles.messaging.replicas import DenormalizedColumns, ReplicaError, ReplicaTable

md = MetaData()
copies = Table(
    "people_copies",
    md,
    Column("id", Uuid, primary_key=True),
    Column("name", String(50)),
    Column("active", Boolean),
    Column("version", Integer),
)
rows = Table(
    "rows",
    md,
    Column("id", Integer, primary_key=True),
    Column("person_id", Uuid, index=True),
    Column("person_name", String(50)),
    Column("person_version", Integer),
)
table_replica = ReplicaTable(
    table=copies, source="people.people", events=(), project=lambda e: e, columns=("name", "active")
)
column_replica = DenormalizedColumns(
    table=rows,
    source="people.people",
    key_column="person_id",
    version_column="person_version",
    columns=("person_name",),
    events=(),
    project=lambda e: e,
)


async def _apply_all(path: Path, order: list[int]) -> tuple[tuple[str, int], list[tuple[str, int]]]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(md.drop_all)
            await conn.run_sync(md.create_all)
            person = uuid.uuid4()
            await conn.execute(
                rows.insert(),
                [{"id": i, "person_id": person, "person_version": None, "person_name": "?"} for i in range(3)],
            )
        from sqlalchemy.ext.asyncio import AsyncSession

        for version in order:
            async with AsyncSession(engine) as session, session.begin():
                await table_replica.apply(session, person, version, {"name": f"v{version}", "active": True})
                await column_replica.apply(session, person, version, {"person_name": f"v{version}"})
        async with engine.connect() as conn:
            copy = (await conn.execute(select(copies.c.name, copies.c.version))).one()
            denorm = (await conn.execute(select(rows.c.person_name, rows.c.person_version))).all()
        return (copy.name, copy.version), [(r.person_name, r.person_version) for r in denorm]
    finally:
        await engine.dispose()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=15))
def test_replicas_converge_to_the_highest_version_in_any_order(tmp_path_factory: object, order: list[int]) -> None:
    path = Path(str(tmp_path_factory.mktemp("replica"))) / "r.db"  # type: ignore[attr-defined]
    copy, denorm = asyncio.run(_apply_all(path, order))
    top = max(order)
    assert copy == (f"v{top}", top)
    assert denorm == [(f"v{top}", top)] * 3


def test_projection_must_give_exactly_the_replicated_columns() -> None:
    import pytest

    async def go() -> None:
        engine = create_async_engine("sqlite+aiosqlite://")
        try:
            from sqlalchemy.ext.asyncio import AsyncSession

            async with AsyncSession(engine) as session:
                await column_replica.apply(session, uuid.uuid4(), 1, {"person_name": "x", "extra": 1})
        finally:
            await engine.dispose()

    with pytest.raises(ReplicaError, match="needs exactly"):
        asyncio.run(go())
