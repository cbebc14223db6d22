"""The relay: moves committed outbox rows to the bus, in commit order, at least once."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

import structlog

from isles.bus import Bus
from isles.events import Envelope
from isles.outbox import SqlOutbox
from isles.tasks import cancel_and_wait

log = structlog.get_logger("isles.relay")


class Relay:
    """Publishes one service's outbox. Woken after each commit; polls as a fallback.

    Up to ``max_in_flight`` events are handed to the bus at once, in position order; a
    row is marked published only after the bus has taken it, so a crash at any point
    leaves it to be published again (consumers skip the duplicate).
    """

    def __init__(
        self,
        *,
        service: str,
        outbox: SqlOutbox,
        bus: Bus,
        batch_size: int = 200,
        poll_interval: float = 1.0,
        max_in_flight: int = 512,
        retention: timedelta = timedelta(days=7),
        prune_every: float = 60.0,
        observers: Sequence[Callable[[int], None]] = (),
        housekeeping: Sequence[Callable[[], Awaitable[int]]] = (),
    ) -> None:
        self.service = service
        self._outbox = outbox
        self._bus = bus
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._max_in_flight = max_in_flight
        self._retention = retention
        self._prune_every = prune_every
        self._wakeup = asyncio.Event()
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._done: list[int] = []
        self._failed: list[int] = []
        self._caught_up = False
        self._failures = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._publish_error: BaseException | None = None
        self._publish_failures = 0
        self.published_count = 0
        self._observers = list(observers)
        self._housekeeping = list(housekeeping)

    def wake(self) -> None:
        self._caught_up = False
        self._wakeup.set()

    @property
    def idle(self) -> bool:
        """True when the last look found nothing to publish and nothing is in flight."""
        return self._caught_up and not self._in_flight and not self._done

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self.run(), name=f"relay:{self.service}")

    async def stop(self) -> None:
        """Stop at once. In-flight events stay unpublished in the outbox."""
        self._stopping = True
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None
        unfinished = list(self._in_flight)
        await cancel_and_wait(list(self._in_flight.values()))
        self._in_flight.clear()
        unfinished += self._failed
        self._failed = []
        if self._done:
            # Published but not yet marked: mark them now if the database allows.
            done, self._done = self._done, []
            try:
                await self._outbox.mark_published(done)
            except Exception as exc:  # they will be published again; consumers dedupe
                log.warning("relay.mark_on_stop_failed", service=self.service, error=str(exc))
        if unfinished:
            # Release our claims so another relay (or our successor) need not wait out the lease.
            try:
                await self._outbox.release(unfinished)
            except Exception as exc:
                log.warning("relay.release_on_stop_failed", service=self.service, error=str(exc))

    async def run(self) -> None:
        last_prune = time.monotonic()
        while not self._stopping:
            if self._publish_error is not None:
                error, self._publish_error = self._publish_error, None
                self._publish_failures += 1
                await self._back_off("relay.publish_failed", error, self._publish_failures)
            try:
                fetched = await self._step()
            except Exception as exc:
                if self._stopping:  # a cancellation the driver turned into an error
                    return
                self._failures += 1
                await self._back_off("relay.step_failed", exc, self._failures)
                continue
            self._failures = 0
            if time.monotonic() - last_prune > self._prune_every:
                last_prune = time.monotonic()
                await self._prune()
            if fetched:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self._poll_interval)
            self._wakeup.clear()

    async def _step(self) -> bool:
        """Mark what finished, hand new rows to the bus. True if more may be waiting."""
        if self._done:
            done, self._done = self._done, []
            try:
                await self._outbox.mark_published(done)
            except BaseException:
                self._done.extend(done)
                raise
            self.published_count += len(done)
            for observer in self._observers:
                observer(len(done))
        if self._failed:
            failed, self._failed = self._failed, []
            await self._outbox.release(failed)
        room = self._max_in_flight - len(self._in_flight)
        if room <= 0:
            return False
        limit = min(self._batch_size, room)
        records = await self._outbox.fetch(limit, exclude=self._in_flight.keys())
        for record in records:
            envelope = Envelope.from_json(record.payload)
            task = asyncio.create_task(self._bus.publish(envelope))
            self._in_flight[record.position] = task
            task.add_done_callback(functools.partial(self._finished, record.position))
        self._caught_up = not records
        return len(records) == limit

    def _finished(self, position: int, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(position, None)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            # The row stays unpublished; the loop backs off before reading it again.
            self._publish_error = exc
            self._failed.append(position)
        else:
            self._done.append(position)
            self._publish_failures = 0
        self._wakeup.set()

    async def _back_off(self, what: str, exc: BaseException, failures: int) -> None:
        delay = min(self._poll_interval * 2 ** min(failures, 6), 30.0)
        log.error(what, service=self.service, error=repr(exc), retry_in=delay)
        await asyncio.sleep(delay)

    async def _prune(self) -> None:
        """Delete outbox rows published long ago, then run the other kernel tables'
        pruning (idempotency keys, finished sagas)."""
        for prune in (lambda: self._outbox.prune(self._retention), *self._housekeeping):
            try:
                pruned = await prune()
            except Exception as exc:
                log.warning("relay.prune_failed", service=self.service, error=repr(exc))
                continue
            if pruned:
                log.info("relay.pruned", service=self.service, rows=pruned)
