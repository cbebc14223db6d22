"""The relay: moves committed outbox rows to the bus, in commit order, at least once."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

import structlog

from isles.core import tracing
from isles.core.backoff import Backoff
from isles.core.events import Envelope
from isles.core.tasks import cancel_and_wait
from isles.messaging.bus import Bus
from isles.storage.outbox import SqlOutbox

log = structlog.get_logger("isles.relay")


# A relay woken within this many lingers of its last publish is busy, and lingers.
_BUSY = 10


class Relay:
    """Publishes one service's outbox. Woken after each commit; polls as a fallback.

    Rows are read (claimed, on PostgreSQL) and handed to the bus in batches, one batch
    after the other and each in position order, so the bus takes the events in
    position order; up to ``max_in_flight`` events may await the bus's outcome at once.
    A row is marked published only after the bus has taken its event; the marks are
    written in batches too, beside the publishing, so a crash at any point leaves rows
    to be published again (consumers skip the duplicates) and loses none. A row the
    bus refused stays unpublished: its claim is released and the relay backs off
    before reading it again.
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
        mark_linger: float = 0.02,
        linger: float = 0.0,
        tracer: tracing.Tracer | None = None,
        messaging_system: str = "isles",
    ) -> None:
        self.service = service
        self._tracer = tracer
        self._messaging_system = messaging_system
        self._spans: dict[int, tracing.Span] = {}  # publish spans by position (tracing on)
        self._linger = linger
        self._last_publish = -math.inf
        self._mark_linger = mark_linger
        self._outbox = outbox
        self._bus = bus
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._max_in_flight = max_in_flight
        self._retention = retention
        self._prune_every = prune_every
        self._wakeup = asyncio.Event()
        self._marks_due = asyncio.Event()
        self._waiting_for_room = False
        self._in_flight: set[int] = set()  # handed to the bus, outcome not known yet
        self._done: list[int] = []  # taken by the bus, not yet marked
        self._marking: list[int] = []  # being marked now
        self._failed: list[int] = []  # refused by the bus, claims not yet released
        self._caught_up = False
        self._failures = 0
        self._task: asyncio.Task[None] | None = None
        self._marker: asyncio.Task[None] | None = None
        self._stopping = False
        self._generation = 0  # outcomes of an earlier run (before a stop) are ignored
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
        return self._caught_up and not self._in_flight and not self._done and not self._marking

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self.run(), name=f"relay:{self.service}")
            self._marker = asyncio.create_task(self._mark_loop(), name=f"relay:{self.service}:marks")

    async def stop(self) -> None:
        """Stop at once. Events whose outcome is not known stay unpublished in the outbox."""
        self._stopping = True
        self._generation += 1
        await cancel_and_wait([t for t in (self._task, self._marker) if t is not None])
        self._task = self._marker = None
        if self._spans:
            spans, self._spans = self._spans, {}
            for span in spans.values():
                span.failed("the relay stopped before the bus took the event")
                span.end()
        unfinished = [*self._in_flight, *self._failed]
        self._in_flight.clear()
        self._failed = []
        if self._done:
            # Published but not yet marked: mark them now if the database allows.
            done, self._done = self._done, []
            try:
                await self._mark(done)
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
            self._wakeup.clear()  # a wake-up from now on means: look again
            try:
                more = await self._step()
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
            if more:
                continue
            woken = False
            with contextlib.suppress(TimeoutError):
                woken = await asyncio.wait_for(self._wakeup.wait(), timeout=self._poll_interval)
            self._waiting_for_room = False
            if woken and self._linger > 0 and time.monotonic() - self._last_publish < _BUSY * self._linger:
                # Busy (it published moments ago): let the commits right behind this
                # one land, so one read, one publish and one consumer transaction carry
                # several events. A relay woken after a quiet spell publishes at once.
                await asyncio.sleep(self._linger)

    async def _step(self) -> bool:
        """Hand a new batch to the bus. True if more may be waiting."""
        if self._failed:
            failed, self._failed = self._failed, []
            try:
                await self._outbox.release(failed)
            except BaseException:
                self._failed.extend(failed)
                raise
        room = self._max_in_flight - len(self._in_flight)
        if room <= 0:
            self._waiting_for_room = True  # an outcome wakes us
            return False
        limit = min(self._batch_size, room)
        # Rows whose outcome is pending or not yet recorded are not read again.
        exclude = {*self._in_flight, *self._done, *self._marking, *self._failed}
        records = await self._outbox.fetch(limit, exclude=exclude)
        if not records:
            self._caught_up = True
            return False
        self._caught_up = False
        positions = [r.position for r in records]
        if self._publish_error is not None:
            # The bus refused an event meanwhile: hand nothing more over before backing
            # off and reading the refused rows again (they go first, in their order).
            try:
                await self._outbox.release(positions)
            except BaseException:
                self._failed.extend(positions)
                raise
            return False
        try:
            envelopes = [Envelope.from_json(r.payload) for r in records]
        except Exception:
            self._failed.extend(positions)
            raise
        self._in_flight.update(positions)
        self._last_publish = time.monotonic()
        if self._tracer is not None:
            self._start_spans(positions, envelopes)
        try:
            outcomes = await self._bus.publish_many(envelopes)
        except BaseException as exc:
            self._in_flight.difference_update(positions)
            self._failed.extend(positions)
            if self._spans:
                self._end_spans(positions, exc)
            raise
        for position, outcome in zip(positions, outcomes, strict=True):
            outcome.add_done_callback(functools.partial(self._finished, self._generation, position))
        return len(records) == limit

    def _start_spans(self, positions: Sequence[int], envelopes: Sequence[Envelope]) -> None:
        """A publish span per event, the child of its outbox write (its traceparent)."""
        assert self._tracer is not None
        for position, env in zip(positions, envelopes, strict=True):
            self._spans[position] = self._tracer.start(
                f"{env.type} publish",
                "producer",
                parent=env.traceparent,
                attributes={
                    "messaging.system": self._messaging_system,
                    "messaging.operation.type": "send",
                    "messaging.operation.name": "relay publish",
                    "messaging.destination.name": env.type,
                    "messaging.message.id": env.id,
                },
            )

    def _end_spans(self, positions: Sequence[int], error: BaseException | None) -> None:
        for position in positions:
            span = self._spans.pop(position, None)
            if span is not None:
                if error is not None:
                    span.failed(error)
                span.end()

    def _finished(self, generation: int, position: int, outcome: asyncio.Future[None]) -> None:
        if generation != self._generation:  # the relay stopped meanwhile
            if not outcome.cancelled():
                outcome.exception()  # retrieved: nobody else will
            return
        self._in_flight.discard(position)
        error = asyncio.CancelledError() if outcome.cancelled() else outcome.exception()
        if self._spans:
            self._end_spans((position,), error)
        if error is None:
            self._done.append(position)
            self._publish_failures = 0
            self._marks_due.set()
            if self._waiting_for_room:
                self._wakeup.set()
            return
        # The row stays unpublished; the loop backs off before reading it again.
        self._publish_error = error
        self._failed.append(position)
        self._wakeup.set()

    async def _mark_loop(self) -> None:
        """Mark what the bus took, as it comes: every row taken meanwhile in one UPDATE."""
        failures = 0
        while True:
            await self._marks_due.wait()
            if len(self._done) < self._batch_size:
                # Let a few more outcomes come: fewer, larger UPDATEs. Marks only tell
                # what need not be published again; delivery does not wait for them.
                await asyncio.sleep(self._mark_linger)
            self._marks_due.clear()
            if not self._done:
                continue
            self._marking, self._done = self._done, []
            try:
                await self._mark(self._marking)
            except Exception as exc:
                self._done.extend(self._marking)
                self._marking = []
                failures += 1
                self._marks_due.set()
                await self._back_off("relay.mark_failed", exc, failures)
                continue
            except BaseException:
                self._done.extend(self._marking)
                self._marking = []
                raise
            failures = 0
            self._marking = []

    async def _mark(self, positions: list[int]) -> None:
        await self._outbox.mark_published(positions)
        self.published_count += len(positions)
        for observer in self._observers:
            observer(len(positions))

    async def _back_off(self, what: str, exc: BaseException, failures: int) -> None:
        delay = Backoff(self._poll_interval * 2, min(self._poll_interval * 64, 30.0), jitter=False).delay(failures)
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
