"""SQLite through aiosqlite with one trip to its thread per statement: the same rows,
counts and errors as before, in fewer hand-overs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from isles.db import ServiceDatabase
from isles.settings import IslesSettings

pytestmark = pytest.mark.integration


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[ServiceDatabase]:
    database = ServiceDatabase("drv", f"sqlite+aiosqlite:///{tmp_path / 'drv.db'}", IslesSettings(data_dir=tmp_path))
    async with database.writing() as session, session.begin():
        await session.execute(text("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL)"))
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The calls made into aiosqlite's thread, by name."""
    made: list[str] = []
    real = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        made.append(getattr(fn, "__name__", repr(fn)))
        return await real(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return made


async def test_rows_and_counts_are_as_sqlite_gives_them(db: ServiceDatabase) -> None:
    async with db.writing() as session, session.begin():
        inserted = await session.execute(text("INSERT INTO items (name) VALUES (:n)"), {"n": "a"})
        assert inserted.rowcount == 1
        await session.execute(text("INSERT INTO items (name) VALUES (:n)"), [{"n": "b"}, {"n": "c"}])
        returned = await session.execute(text("INSERT INTO items (name) VALUES ('d') RETURNING id, name"))
        assert returned.one() == (4, "d")
        renamed = await session.execute(text("UPDATE items SET name = name || '!' WHERE id > 1"))
        assert renamed.rowcount == 3
    async with db.read_session() as session:
        rows = (await session.execute(text("SELECT id, name FROM items ORDER BY id"))).all()
    assert [tuple(r) for r in rows] == [(1, "a"), (2, "b!"), (3, "c!"), (4, "d!")]


async def test_a_constraint_violation_is_an_integrity_error_and_rolls_back(db: ServiceDatabase) -> None:
    async with db.writing() as session:
        await session.begin()
        await session.execute(text("INSERT INTO items (name) VALUES ('x')"))
        with pytest.raises(IntegrityError):
            await session.execute(text("INSERT INTO items (name) VALUES ('x')"))
        await session.rollback()
    async with db.read_session() as session:
        assert (await session.execute(text("SELECT count(*) FROM items"))).scalar_one() == 0


async def test_a_statement_is_one_trip_to_the_thread(db: ServiceDatabase, trips: list[str]) -> None:
    async with db.writing() as session, session.begin():
        await session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE, then this
        trips.clear()
        await session.execute(text("INSERT INTO items (name) VALUES ('y') RETURNING id"))
        assert len(trips) == 1
        trips.clear()
        assert (await session.execute(text("SELECT name FROM items"))).scalars().all() == ["y"]
        assert len(trips) == 1
