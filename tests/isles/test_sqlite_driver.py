"""SQLite on the event loop's thread: the same rows, counts and errors as through
aiosqlite's thread, with no hand-over per statement; another process's lock is waited
out without blocking the loop, up to the connection's timeout."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from isles.core.settings import IslesSettings
from isles.storage import db as db_module
from isles.storage import sqlite_driver
from isles.storage.db import ServiceDatabase

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


async def test_statements_and_commits_make_no_trip_to_the_thread(db: ServiceDatabase, trips: list[str]) -> None:
    async with db.writing() as session, session.begin():
        await session.execute(text("INSERT INTO items (name) VALUES ('y') RETURNING id"))
        assert (await session.execute(text("SELECT name FROM items"))).scalars().all() == ["y"]
    async with db.writing() as session:
        await session.begin()
        await session.execute(text("INSERT INTO items (name) VALUES ('z')"))
        await session.rollback()
    assert trips == []
    async with db.read_session() as session:
        assert (await session.execute(text("SELECT name FROM items"))).scalars().all() == ["y"]


def _hold_write_lock(path: Path, seconds: float, held: threading.Event) -> None:
    """Another process's writer, as SQLite sees it: its own connection holding the lock."""
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO items (name) VALUES ('other')")
        held.set()
        time.sleep(seconds)
        other.execute("COMMIT")
    finally:
        other.close()


async def _ticks_while(work: Any) -> tuple[Any, int]:
    """Run ``work`` while a task ticks every 10 ms; the result and how many ticks came."""
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        return await work, ticks
    finally:
        ticker.cancel()


@contextlib.contextmanager
def locked_by_another(path: Path, seconds: float) -> Iterator[None]:
    """Another connection holds ``path``'s write lock for ``seconds`` from entry on."""
    held = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(path, seconds, held))
    holder.start()
    assert held.wait(5)
    try:
        yield
    finally:
        holder.join()


def short_timeout_engine(path: Path) -> AsyncEngine:
    """An engine whose connections wait 0.2 s for another process's lock."""
    return create_async_engine(
        f"sqlite+aiosqlite:///{path}", connect_args={"timeout": 0.2}, module=sqlite_driver.dbapi()
    )


async def test_another_writer_is_waited_out_without_blocking_the_loop(db: ServiceDatabase, tmp_path: Path) -> None:
    async def write() -> float:
        started = time.monotonic()
        async with db.writing() as session, session.begin():
            await session.execute(text("INSERT INTO items (name) VALUES ('mine')"))
        return time.monotonic() - started

    with locked_by_another(tmp_path / "drv.db", 0.5):
        waited, ticks = await _ticks_while(write())
    assert waited >= 0.3  # it did wait for the other writer...
    assert ticks >= 10  # ...and the loop went on meanwhile
    async with db.read_session() as session:
        names = (await session.execute(text("SELECT name FROM items ORDER BY id"))).scalars().all()
    assert names == ["other", "mine"]


async def test_a_lock_held_past_the_timeout_is_the_error_sqlite_gives(tmp_path: Path) -> None:
    path = tmp_path / "short.db"
    engine = short_timeout_engine(path)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)"))
        with locked_by_another(path, 1.0):
            started = time.monotonic()
            with pytest.raises(OperationalError, match="database is locked"):
                async with engine.begin() as conn:
                    await conn.execute(text("INSERT INTO items (name) VALUES ('late')"))
            assert 0.15 <= time.monotonic() - started < 0.9
    finally:
        await engine.dispose()


async def test_a_writer_that_cannot_begin_in_time_gets_sqlalchemys_error(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE goes straight to the driver, yet fails as any statement does."""
    path = tmp_path / "begin.db"
    engine = short_timeout_engine(path)
    event.listen(engine.sync_engine, "connect", db_module._sqlite_on_connect)
    event.listen(engine.sync_engine, "begin", db_module._sqlite_on_begin)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)"))
        with locked_by_another(path, 1.0), pytest.raises(OperationalError, match="database is locked"):
            async with engine.begin() as conn:
                await conn.execute(text("SELECT 1"))
        async with engine.begin() as conn:  # the lock is free again: the pool still works
            assert (await conn.execute(text("SELECT count(*) FROM items"))).scalar_one() == 1
    finally:
        await engine.dispose()


def _driver_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if "_connection_worker_thread" in t.name]


def test_a_connection_ended_after_its_loop_closed_stops_its_thread_quietly(tmp_path: Path) -> None:
    """A pooled connection can be ended outside any loop: the garbage collector's
    clean-up, a pool disposed after the loop that used it has closed. aiosqlite's own
    stop hands its thread a future of the current loop, closed by then, and the thread
    dies raising "Event loop is closed" (a CI run failed on it). Here the connection
    closes on the caller's thread and the driver's thread ends with nothing to answer."""
    died: list[BaseException | None] = []
    before = set(_driver_threads())
    previous = threading.excepthook
    threading.excepthook = lambda args: died.append(args.exc_value)
    loop = asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'gone.db'}", module=sqlite_driver.dbapi())

        async def use() -> None:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

        loop.run_until_complete(use())
        loop.close()
        engine.sync_engine.pool.dispose()  # outside any loop: the pool ends its connection
        for thread in set(_driver_threads()) - before:
            thread.join(5)
            assert not thread.is_alive(), "the driver's thread ended"
    finally:
        asyncio.set_event_loop(None)
        threading.excepthook = previous
    assert died == []


async def test_the_isolation_level_is_set_here_not_in_the_drivers_thread(tmp_path: Path) -> None:
    """The platform sets every new connection's isolation level (``_sqlite_on_connect``).
    Through aiosqlite's thread, that was a job with a future of the current loop: a
    connection ended while the job waited (a cancelled checkout, a test's loop closing)
    left the thread to run it on a closed database and answer a closed loop, and the
    thread died ("Event loop is closed": a CI run failed on it). Set here, it waits for
    nothing: not even for a thread that is busy."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'iso.db'}", module=sqlite_driver.dbapi())
    gate = threading.Event()
    try:
        async with engine.connect() as conn:
            raw = (await conn.get_raw_connection()).dbapi_connection
            raw._connection._tx.put_nowait((None, gate.wait))  # the driver's thread, busy

            def set_level(level: str | None) -> Any:
                def run(sync_conn: Any) -> Any:
                    sync_conn.connection.dbapi_connection.isolation_level = level
                    return raw._connection._conn.isolation_level

                return conn.run_sync(run)

            assert await asyncio.wait_for(set_level("DEFERRED"), 5) == "DEFERRED"
            assert await asyncio.wait_for(set_level(None), 5) is None
            assert raw.isolation_level is None
    finally:
        gate.set()
        await engine.dispose()
