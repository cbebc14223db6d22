"""Background workers: a service's own loops beside its relay and consumer (the
notification service's dispatcher, say).

A :class:`Worker` calls its ``step`` over and over while the step reports work done,
then waits for a wake-up or its poll interval. A commit of the service wakes it: every
commit, or, for a worker that names the mapped classes it ``watches``, only a commit
that added or changed an object of one of them (the poll still finds what else comes
due). ``idle`` is true once a step found
nothing to do and no wake-up came since, so :meth:`SystemRuntime.settle` waits for
workers too. A failing step is logged and retried after a back-off; it never stops
the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import structlog

from isles.core.backoff import Backoff
from isles.core.tasks import cancel_and_wait

if TYPE_CHECKING:
    from isles.service.context import ServiceContext

log = structlog.get_logger("isles.workers")

Step = Callable[[], Awaitable[int]]


class Worker:
    def __init__(
        self,
        name: str,
        step: Step,
        *,
        poll_interval: float = 1.0,
        max_backoff: float = 30.0,
        watches: tuple[type, ...] = (),
    ) -> None:
        self.name = name
        self.watches = watches
        self._step = step
        self._poll_interval = poll_interval
        self._max_backoff = max_backoff
        self._wakeup = asyncio.Event()
        self._caught_up = False
        self._busy = False
        self._task: asyncio.Task[None] | None = None
        self.steps = 0

    def wake(self) -> None:
        self._caught_up = False
        self._wakeup.set()

    @property
    def running(self) -> bool:
        """Started and not stopped (its loop is alive)."""
        return self._task is not None and not self._task.done()

    @property
    def idle(self) -> bool:
        return self._caught_up and not self._busy and not self._wakeup.is_set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"worker:{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None

    async def _run(self) -> None:
        failures = 0
        while True:
            self._wakeup.clear()
            self._busy = True
            try:
                done = await self._step()
                self.steps += 1
                failures = 0
            except Exception as exc:
                failures += 1
                delay = Backoff(0.2, self._max_backoff, jitter=False).delay(failures)
                log.warning("worker.step_failed", worker=self.name, error=str(exc), retry_in=delay)
                self._busy = False  # idle while backing off, as between polls
                await asyncio.sleep(delay)
                continue
            finally:
                self._busy = False
            if done:
                continue
            self._caught_up = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self._poll_interval)


WorkerFactory = Callable[["ServiceContext"], Worker]
