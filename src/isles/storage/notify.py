"""PostgreSQL ``LISTEN/NOTIFY``: a commit that writes to the outbox wakes every relay of
that service, in any process. Polling stays as the fallback (a notification is lost
while a listener reconnects)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl as ssl_module
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy.engine import URL

from isles.core.backoff import Backoff

log = structlog.get_logger("isles.notify")


def outbox_channel(service: str) -> str:
    return f"isles_outbox_{service}"


class PgListener:
    """Keeps one connection LISTENing on ``channel``; calls ``on_notify`` for each notification."""

    def __init__(
        self, url: URL, channel: str, on_notify: Callable[[], None], *, ssl: ssl_module.SSLContext | None = None
    ) -> None:
        self._dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._ssl = {"ssl": ssl} if ssl is not None else {}
        self._channel = channel
        self._on_notify = on_notify
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.notifications = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"listen:{self._channel}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _notified(self, *_: Any) -> None:
        self.notifications += 1
        self._on_notify()

    async def _run(self) -> None:
        import asyncpg

        backoff, failures = Backoff(0.5, 10.0, jitter=False), 0
        while True:
            delay = backoff.delay(failures + 1)
            conn: Any = None
            try:
                conn = await asyncpg.connect(
                    self._dsn,
                    timeout=5,
                    # Named in pg_stat_activity as the pools' connections are (isles-<service>).
                    server_settings={"application_name": f"isles-listen-{self._channel.removeprefix('isles_outbox_')}"},
                    **self._ssl,
                )
                lost = asyncio.Event()
                conn.add_termination_listener(functools.partial(_set_event, lost))
                await conn.add_listener(self._channel, self._notified)
                self.connected.set()
                failures, delay = 0, backoff.delay(1)
                self._on_notify()  # anything committed while we were not listening
                while not lost.is_set():
                    try:
                        await asyncio.wait_for(lost.wait(), timeout=15)
                    except TimeoutError:
                        await conn.execute("SELECT 1")  # notice a dead connection
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("notify.listen_failed", channel=self._channel, error=repr(exc), retry_in=delay)
            finally:
                self.connected.clear()
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(delay)
            failures += 1


def _set_event(event: asyncio.Event, *_: Any) -> None:
    event.set()
