"""A service's consumer: applies others' events exactly once, in order per aggregate.

* Exactly-once effect: the event id goes into the inbox table in the same transaction
  as the handlers' changes; a redelivered event finds its id there and is skipped.
* Order: events are queued in lanes by aggregate; a lane handles one event at a time,
  so events of one aggregate are applied in the order they were published.
* Failure: an event whose handler raises is retried with jittered exponential backoff
  (its lane waits, other lanes go on), then parked in the dead-letter table with its
  error, and its lane moves on. Nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
import random
import time
import traceback
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

import structlog
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from isles import tracing
from isles.db import ServiceDatabase
from isles.events import Envelope, Event, EventError
from isles.schema import dead_letters_table, inbox_table, utcnow
from isles.tasks import cancel_and_wait
from isles.uow import UnitOfWork

log = structlog.get_logger("isles.consumer")


class DeliveryLimitError(Exception):
    """An event the bus delivered more often than allowed without an outcome."""


@dataclass(frozen=True)
class HandlerContext:
    """What a handler gets besides the event: the open unit of work and the envelope."""

    uow: UnitOfWork
    envelope: Envelope


HandlerFn = Callable[[HandlerContext, Any], Awaitable[None]]


@dataclass(frozen=True)
class Handler:
    """``fn`` runs for every ``event`` this service receives, inside the inbox transaction."""

    event: type[Event]
    fn: HandlerFn
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or getattr(self.fn, "__qualname__", repr(self.fn))


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 30.0

    def delay(self, attempt: int) -> float:
        """Backoff before retry number ``attempt`` (1-based): half fixed, half jitter."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


class Outcome(Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"


Observer = Callable[[str, Envelope, Outcome], None]


@dataclass
class _Item:
    envelope: Envelope
    future: asyncio.Future[None]
    attempts: int = 0
    first_failed_at: datetime | None = None
    last_error: BaseException | None = None
    traceback: str = ""
    permanent: bool = False


@dataclass
class _Counters:
    applied: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    retries: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


class Consumer:
    def __init__(
        self,
        *,
        name: str,
        db: ServiceDatabase,
        handlers: Sequence[Handler],
        uow_factory: Callable[[], UnitOfWork],
        retry: RetryPolicy = RetryPolicy(),
        concurrency: int = 8,
        observers: Sequence[Observer] = (),
        max_deliveries: int = 10,
        on_handled: Callable[[str, float, str], None] | None = None,
    ) -> None:
        self.name = name
        self._db = db
        self._uow_factory = uow_factory
        self._retry = retry
        self._concurrency = concurrency
        self._observers = list(observers)
        self._max_deliveries = max_deliveries
        self._on_handled = on_handled
        self._handlers: dict[str, list[Handler]] = {}
        for handler in handlers:
            self._handlers.setdefault(handler.event.event_type, []).append(handler)
        for event_type, group in self._handlers.items():
            versions = {h.event.schema_version for h in group}
            if len(versions) > 1:
                raise ValueError(f"{name}: handlers of {event_type} disagree on its version")
        self._lanes: dict[str, deque[_Item]] = {}
        self._ready: asyncio.Queue[str] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._timers: set[asyncio.TimerHandle] = set()
        self._busy = 0
        self._stopping = False
        self.counters = _Counters()

    @property
    def event_types(self) -> tuple[str, ...]:
        return tuple(self._handlers)

    @property
    def idle(self) -> bool:
        return not self._lanes and self._busy == 0

    def add_observer(self, observer: Observer) -> None:
        self._observers.append(observer)

    @property
    def queued(self) -> int:
        """Events taken but not yet finished (applied, skipped or parked)."""
        return sum(len(lane) for lane in self._lanes.values())

    def deliver(self, envelope: Envelope, delivery: int = 1) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if envelope.type not in self._handlers:
            future.set_result(None)
            return future
        item = _Item(envelope=envelope, future=future)
        if delivery > self._max_deliveries:
            # Handed over again and again without ever being finished: whatever
            # happens while handling it kills the process or times out. Park it.
            item.permanent = True
            item.first_failed_at = utcnow()
            item.attempts = delivery - 1
            item.last_error = DeliveryLimitError(
                f"delivered {delivery} times without being acknowledged (limit {self._max_deliveries})"
            )
        lane = self._lanes.get(envelope.key)
        if lane is None:
            self._lanes[envelope.key] = deque([item])
            self._ready.put_nowait(envelope.key)
        else:
            lane.append(item)
        return future

    def start(self) -> None:
        if not self._workers:
            self._stopping = False
            self._workers = [
                asyncio.create_task(self._work(), name=f"consumer:{self.name}:{i}") for i in range(self._concurrency)
            ]

    async def stop(self) -> None:
        """Stop at once: unfinished events stay unacknowledged and come again."""
        self._stopping = True
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        await cancel_and_wait(self._workers)
        self._workers = []
        for lane in self._lanes.values():
            for item in lane:
                if not item.future.done():
                    item.future.cancel()
        self._lanes.clear()
        self._ready = asyncio.Queue()

    async def _work(self) -> None:
        while not self._stopping:
            key = await self._ready.get()
            lane = self._lanes.get(key)
            if not lane:
                continue
            item = lane[0]
            self._busy += 1
            try:
                retry_in = await self._attempt(item)
            finally:
                self._busy -= 1
            if retry_in is not None:
                self._schedule(key, retry_in)
                continue
            lane.popleft()
            if lane:
                self._ready.put_nowait(key)
            else:
                del self._lanes[key]

    def _schedule(self, key: str, delay: float) -> None:
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.discard(timer)
            self._ready.put_nowait(key)

        timer = loop.call_later(delay, fire)
        self._timers.add(timer)

    async def _attempt(self, item: _Item) -> float | None:
        """Try the item once. None when it is finished, else seconds until the retry."""
        env = item.envelope
        if not item.permanent and item.attempts < self._retry.max_attempts:
            started = time.perf_counter()
            try:
                outcome = await self._apply(env)
            except EventError as exc:
                self._report(env, started, "failed")
                self._failed(item, exc)
                item.permanent = True  # retrying cannot help: park it now
            except Exception as exc:
                if self._stopping:  # a cancellation the driver turned into an error
                    raise asyncio.CancelledError from exc
                self._report(env, started, "failed")
                self._failed(item, exc)
                if item.attempts < self._retry.max_attempts:
                    self.counters.retries += 1
                    delay = self._retry.delay(item.attempts)
                    log.warning(
                        "consumer.retry",
                        consumer=self.name,
                        event_type=env.type,
                        event_id=env.id,
                        attempt=item.attempts,
                        error=repr(exc),
                        retry_in=round(delay, 3),
                    )
                    return delay
            else:
                self._report(env, started, outcome.value)
                self._settle(item, outcome)
                return None
        try:
            await self._dead_letter(item)
        except Exception as exc:
            if self._stopping:
                raise asyncio.CancelledError from exc
            log.error("consumer.park_failed", consumer=self.name, event_id=env.id, error=repr(exc))
            return self._retry.delay(self._retry.max_attempts)
        log.error(
            "consumer.dead_lettered",
            consumer=self.name,
            event_type=env.type,
            event_id=env.id,
            attempts=item.attempts,
            error=repr(item.last_error),
        )
        self._report(env, time.perf_counter(), Outcome.DEAD_LETTERED.value)
        self._settle(item, Outcome.DEAD_LETTERED)
        return None

    def _report(self, env: Envelope, started: float, outcome: str) -> None:
        if self._on_handled is not None:
            self._on_handled(env.type, time.perf_counter() - started, outcome)

    def _failed(self, item: _Item, exc: BaseException) -> None:
        item.attempts += 1
        item.first_failed_at = item.first_failed_at or utcnow()
        item.last_error = exc
        item.traceback = "".join(traceback.format_exception(exc))

    def _settle(self, item: _Item, outcome: Outcome) -> None:
        c = self.counters
        if outcome is Outcome.APPLIED:
            c.applied += 1
            c.by_type[item.envelope.type] = c.by_type.get(item.envelope.type, 0) + 1
        elif outcome is Outcome.DUPLICATE:
            c.duplicates += 1
        else:
            c.dead_lettered += 1
        for observer in self._observers:
            observer(self.name, item.envelope, outcome)
        if not item.future.done():
            item.future.set_result(None)

    async def _apply(self, env: Envelope) -> Outcome:
        handlers = self._handlers[env.type]
        event = handlers[0].event.from_envelope(env)
        tracing.bind(tracing.new_traceparent(env.traceparent))
        async with self._uow_factory() as uow:
            session = uow.session
            try:
                # The inbox key decides: a delivery of an event already applied (or
                # parked, or being applied by a concurrent delivery) stops here.
                await session.execute(insert(inbox_table).values(**_inbox_row(env, "processed")))
            except IntegrityError:
                return Outcome.DUPLICATE
            await self._run_handlers(uow, env, event)
            await uow.commit()
        return Outcome.APPLIED

    async def _run_handlers(self, uow: UnitOfWork, env: Envelope, event: Event) -> None:
        context = HandlerContext(uow=uow, envelope=env)
        for handler in self._handlers[env.type]:
            await handler.fn(context, event)

    async def redrive(self, envelope: Envelope, dead_letter_id: uuid.UUID) -> None:
        """Apply a dead-lettered event again (an operator's retry). In one transaction:
        the event's parked mark goes, the handlers run, the dead letter is deleted.
        On failure nothing changes but the dead letter's attempt count and error."""
        handlers = self._handlers.get(envelope.type)
        if not handlers:
            raise EventError(f"{self.name} has no handler for {envelope.type}")
        try:
            event = handlers[0].event.from_envelope(envelope)
            async with self._uow_factory() as uow:
                session = uow.session
                await session.execute(
                    delete(inbox_table).where(
                        inbox_table.c.event_id == uuid.UUID(envelope.id), inbox_table.c.status == "dead_lettered"
                    )
                )
                await session.execute(insert(inbox_table).values(**_inbox_row(envelope, "processed")))
                await self._run_handlers(uow, envelope, event)
                await session.execute(delete(dead_letters_table).where(dead_letters_table.c.id == dead_letter_id))
                await uow.commit()
        except Exception as exc:
            async with self._db.writing() as session, session.begin():
                await session.execute(
                    update(dead_letters_table)
                    .where(dead_letters_table.c.id == dead_letter_id)
                    .values(
                        attempts=dead_letters_table.c.attempts + 1,
                        error=f"{type(exc).__name__}: {exc}",
                        traceback="".join(traceback.format_exception(exc)),
                    )
                )
            raise

    async def _dead_letter(self, item: _Item) -> None:
        env = item.envelope
        async with self._db.writing() as session, session.begin():
            seen = await session.scalar(select(inbox_table.c.status).where(inbox_table.c.event_id == uuid.UUID(env.id)))
            if seen is not None:
                return
            await session.execute(insert(inbox_table).values(**_inbox_row(env, "dead_lettered")))
            await session.execute(
                insert(dead_letters_table).values(
                    id=uuid.uuid4(),
                    event_id=uuid.UUID(env.id),
                    event_type=env.type,
                    aggregate_id=env.aggregateid,
                    aggregate_version=env.aggregateversion,
                    payload=env.to_json(),
                    error=f"{type(item.last_error).__name__}: {item.last_error}",
                    traceback=item.traceback,
                    attempts=item.attempts,
                    first_failed_at=item.first_failed_at or utcnow(),
                    created_at=utcnow(),
                )
            )


def _inbox_row(env: Envelope, status: str) -> dict[str, object]:
    return {
        "event_id": uuid.UUID(env.id),
        "event_type": env.type,
        "source": env.source,
        "aggregate_id": env.aggregateid,
        "aggregate_version": env.aggregateversion,
        "status": status,
        "processed_at": utcnow(),
    }
