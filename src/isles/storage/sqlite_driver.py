"""SQLite for the async engine, run on the event loop's own thread.

aiosqlite runs every call in its connection's own thread: each statement is a
hand-over to that thread and a wake-up of the event loop to take the answer. On a busy
loop that hand-over is what a statement costs, not SQLite's own work: the thread has
to wait for the GIL, which a busy loop gives up only every switch interval (5 ms), so a
unit of work of five statements held the process's write lock for tens of
milliseconds and writers queued behind it (issue 13: 68 renames/s from 32 clients at
100 % of a core, about 15 ms of CPU each).

A local SQLite statement takes microseconds, far less than a hand-over, so here every
statement, ``COMMIT`` and ``ROLLBACK`` runs right where it is called, on the loop's
thread, and so does setting a connection's isolation level. aiosqlite still opens
connections (in its thread, once per pooled connection). What would block the loop is
waiting for another process's lock, so SQLite's busy handler is off
(``busy_timeout=0``): a statement that meets a locked database gets ``SQLITE_BUSY`` at
once, and this driver waits for the lock asynchronously (short sleeps growing to 50
ms) and runs the statement again, until the connection's ``timeout`` has passed; then
the error is raised as SQLite would have raised it. Running a statement again after
``SQLITE_BUSY`` is safe: a statement that got it did nothing (``BEGIN IMMEDIATE`` took
no lock; ``COMMIT`` left the transaction open, as SQLite documents).
``SQLITE_BUSY_SNAPSHOT`` is not retried: it needs a new transaction, not the same
statement again.

What this costs: a statement that reads many rows holds the loop while it runs
(milliseconds for thousands of rows); the WAL checkpoint that SQLite runs on a commit
every 1,000 pages holds it for its fsync. Embedded SQLite is one process serving
everything, and these are far cheaper than a hand-over for every statement.

It leans on aiosqlite internals, as SQLAlchemy's own adapter does (the wrapped
``sqlite3`` connection); aiosqlite is pinned.
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

_Outcome = tuple[Any, Sequence[Any], int, int | None]
_T = TypeVar("_T")

_SQLITE_BUSY = 5
_SQLITE_BUSY_SNAPSHOT = 517
_DEFAULT_TIMEOUT = 5.0  # sqlite3.connect's own default
_FIRST_WAIT, _LONGEST_WAIT = 0.001, 0.05


def _run(conn: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> _Outcome:
    """The whole statement, its rows and its counts."""
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else ()
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _busy(error: BaseException) -> bool:
    """True if ``error`` is a locked database that the same statement may wait out."""
    code = getattr(error, "sqlite_errorcode", None)
    return (
        isinstance(error, sqlite3.OperationalError)
        and code is not None
        and code & 0xFF == _SQLITE_BUSY
        and (code != _SQLITE_BUSY_SNAPSHOT)
    )


async def _call(timeout: float, fn: Callable[..., _T], *args: Any) -> _T:  # noqa: ASYNC109 - SQLite's busy timeout
    """``fn(*args)`` right here; while the database is locked by another process, again
    after growing sleeps, until ``timeout`` seconds have passed.

    A coroutine, though it rarely waits: SQLAlchemy's async engine insists that a
    statement awaits something, and awaiting this costs a greenlet switch, not a trip
    through the event loop."""
    deadline = 0.0
    wait = _FIRST_WAIT
    while True:
        try:
            return fn(*args)
        except sqlite3.OperationalError as error:
            if not _busy(error):
                raise
            now = time.monotonic()
            deadline = deadline or now + timeout
            if now >= deadline:
                raise
        await asyncio.sleep(min(wait, deadline - now))
        wait = min(wait * 2, _LONGEST_WAIT)


class InlineCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor: a statement runs, fetches and closes in one call, on the
    calling thread."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # No aiosqlite cursor is opened here (that was a trip to the thread of its own).
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _async_soft_close(self) -> None:
        return None  # nothing is open between statements

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._statement(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        self._statement(operation, seq_of_parameters, many=True)

    def _statement(self, operation: str, parameters: Any, *, many: bool) -> None:
        adapted: InlineConnection = self._adapt_connection  # type: ignore[assignment]
        try:
            outcome = adapted.call(_run, adapted._connection._conn, operation, parameters, many)
        except Exception as error:
            adapted._handle_exception(error)
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)


class InlineConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("_busy_timeout",)
    _cursor_cls = InlineCursor  # type: ignore[assignment]

    def __init__(self, dbapi: Any, connection: Any, busy_timeout: float) -> None:
        super().__init__(dbapi, connection)
        self._busy_timeout = busy_timeout

    def call(self, fn: Callable[..., _T], *args: Any) -> _T:
        """``fn(*args)`` on this thread, waiting out another process's lock."""
        return await_(_call(self._busy_timeout, fn, *args))

    @property
    def isolation_level(self) -> str | None:
        raw = self._connection._connection
        return None if raw is None else raw.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        """Set on this thread, as statements run. SQLAlchemy's adapter hands it to
        aiosqlite's thread with a future of the current loop; a connection ended while
        that job waited (a cancelled checkout, a loop closing) left the thread to run it
        on a closed database and answer a closed loop, and the thread died."""
        raw = self._connection._connection
        if raw is None:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        try:
            raw.isolation_level = value
        except Exception as error:
            self._handle_exception(error)

    def commit(self) -> None:
        self._end("commit")

    def rollback(self) -> None:
        self._end("rollback")

    def _end(self, how: str) -> None:
        """COMMIT or ROLLBACK on this thread, if the connection is still open."""
        if self._connection._connection:
            try:
                self.call(getattr(self._connection._conn, how))
            except Exception as error:
                self._handle_exception(error)

    def close(self) -> None:
        self._close_here()

    async def _terminate_graceful_close(self) -> None:
        self._close_here()

    def _terminate_force_close(self) -> None:
        self._close_here()

    def _close_here(self) -> None:
        """Close the ``sqlite3`` connection on this thread and let aiosqlite's thread end.

        A connection is also ended where no loop runs: the garbage collector's clean-up,
        a pool disposed after its loop closed. aiosqlite's own close needs the loop (it
        awaits its thread), and its ``stop`` hands the thread a future of whatever loop is
        current, closed by then: the thread dies raising "Event loop is closed". Closing
        needs neither: the thread is told to stop with no future to answer."""
        wrapped = self._connection
        raw, wrapped._connection = wrapped._connection, None
        wrapped._running = False
        try:
            if raw is not None:
                raw.close()
        finally:
            wrapped._tx.put_nowait((None, _stop_thread))


def _stop_thread() -> object:
    return _STOP


_STOP = aiosqlite.core._STOP_RUNNING_SENTINEL


class InlineDbapi(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> InlineConnection:
        busy_timeout = float(kw.pop("timeout", _DEFAULT_TIMEOUT))
        # The connection is opened in aiosqlite's thread and used on the loop's.
        kw["check_same_thread"] = False
        kw["timeout"] = 0
        adapted = super().connect(*arg, **kw)
        return InlineConnection(self, adapted._connection, busy_timeout)


def dbapi() -> InlineDbapi:
    """The DBAPI module to give ``create_async_engine(..., module=...)`` for SQLite."""
    return InlineDbapi(aiosqlite, sqlite3)


__all__ = ["InlineCursor", "dbapi"]
