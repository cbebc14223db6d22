"""A service's consumer: applies others' events exactly once, in order per aggregate.

* Exactly-once effect: the event id goes into the inbox table in the same transaction
  as the handlers' changes; a redelivered event finds its id there and is skipped.
* Order: events are queued in lanes by aggregate; a lane handles one event at a time,
  so events of one aggregate are applied in the order they were published.
* Failure: an event whose handler raises is retried with jittered exponential backoff
  (its lane waits, other lanes go on), then parked in the dead-letter table with its
  error, and its lane moves on. Nothing is dropped silently.
* Batches: a worker takes the events ready in many lanes at once (several of one lane,
  in order) and applies them in *one* transaction: one multi-row inbox insert that
  skips the ids already there, then the handlers. Where every handler involved has a
  set-wise form (``Handler.many``: replicas, recounts), each runs once for the whole
  batch, in declaration order; otherwise each event's handlers run in turn. If the
  batch fails, nothing of it is kept and it is split in halves (lanes kept whole) until
  the failing event stands alone, where it is retried and parked as above: one poison
  event never holds back the others.
"""

from __future__ import annotations

import asyncio
import time
import traceback
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, ClassVar

import structlog
from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from isles.core import failpoints, tracing
from isles.core.clock import utcnow
from isles.core.events import Envelope, Event, EventError
from isles.core.settings import RetrySettings
from isles.core.tasks import cancel_and_wait
from isles.storage import history
from isles.storage.db import ServiceDatabase
from isles.storage.schema import dead_letters_table, inbox_table
from isles.storage.uow import UnitOfWork

log = structlog.get_logger("isles.consumer")


class DeliveryLimitError(Exception):
    """An event the bus delivered more often than allowed without an outcome."""


@dataclass(frozen=True)
class HandlerContext:
    """What a handler gets besides the event: the open unit of work and the envelope."""

    uow: UnitOfWork
    envelope: Envelope


HandlerFn = Callable[[HandlerContext, Any], Awaitable[None]]
#: A handler's set-wise form: every (envelope, event) of a batch it handles, in order.
ManyFn = Callable[[UnitOfWork, Sequence[tuple[Envelope, Any]]], Awaitable[None]]


@dataclass(frozen=True)
class Handler:
    """``fn`` runs for every ``event`` this service receives, inside the inbox transaction.

    ``many``, where given, does for a whole batch what ``fn`` does event by event, with
    the same end state (a replica keeps the newest version per key; a recount counts
    once). Handlers sharing one ``many`` (a replica fed by several event types) run as
    one call. A batch runs set-wise only when every handler it touches has one.
    """

    event: type[Event]
    fn: HandlerFn
    name: str = ""
    many: ManyFn | None = None

    @property
    def label(self) -> str:
        return self.name or getattr(self.fn, "__qualname__", repr(self.fn))


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
    batches: int = 0  # transactions that applied more than one event
    by_type: dict[str, int] = field(default_factory=dict)


class Consumer:
    def __init__(
        self,
        *,
        name: str,
        db: ServiceDatabase,
        handlers: Sequence[Handler],
        uow_factory: Callable[[], UnitOfWork],
        retry: RetrySettings = RetrySettings(),
        concurrency: int = 8,
        batch_size: int = 200,
        observers: Sequence[Observer] = (),
        max_deliveries: int = 10,
        on_handled: Callable[[str, float, str], None] | None = None,
        owners: Mapping[str, str | Sequence[str]] | None = None,
        tracer: tracing.Tracer | None = None,
        messaging_system: str = "isles",
    ) -> None:
        """``tracer``: a consumer span per event applied, the child of the event's
        traceparent (None: tracing is off)."""
        self.name = name
        self._tracer = tracer
        self._messaging_system = messaging_system
        #: The sources each event type may come from (``/isles/<the service that
        #: declares it in publishes>``; several for ``isles.SagaFinished``, which every
        #: service with sagas publishes): an event claiming another is parked, not applied.
        self._sources = {
            t: frozenset(f"/isles/{s}" for s in ((services,) if isinstance(services, str) else services))
            for t, services in (owners or {}).items()
        }
        self._commit_point = f"consumer.{name}.commit"  # failpoint: handlers ran, commit not yet
        self._db = db
        self._uow_factory = uow_factory
        self._retry = retry
        self._concurrency = concurrency
        self._batch_size = max(1, batch_size)
        self._observers = list(observers)
        self._max_deliveries = max_deliveries
        self._on_handled = on_handled
        self._handlers: dict[str, list[Handler]] = {}
        self._many_order: list[ManyFn] = []
        #: Per event type: its handlers' set-wise forms; empty when one of them has none.
        self._many_of: dict[str, frozenset[ManyFn]] = {}
        for handler in handlers:
            if handler.many is not None and all(m is not handler.many for m in self._many_order):
                self._many_order.append(handler.many)
        for handler in handlers:
            self._handlers.setdefault(handler.event.event_type, []).append(handler)
        for event_type, group in self._handlers.items():
            forms = {h.many for h in group}
            self._many_of[event_type] = frozenset() if None in forms else frozenset(f for f in forms if f)
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

    @property
    def running(self) -> bool:
        """Started (its workers take events) and not stopped since."""
        return bool(self._workers)

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
            batch: list[tuple[str, list[_Item]]] = []
            room = self._batch_size
            while True:
                lane = self._lanes.get(key)
                if lane:
                    items = _fresh_prefix(lane, room)
                    if items:
                        batch.append((key, items))
                        room -= len(items)
                    elif await self._one(key):  # a retried or parked event goes alone
                        self._requeue(key)
                if room <= 0 or self._ready.empty():
                    break
                key = self._ready.get_nowait()
            if batch:
                await self._run(batch)

    async def _one(self, key: str) -> bool:
        """Try the head of ``key``'s lane alone. True when it is finished (applied,
        a duplicate or parked) and gone from the lane; False when a retry is due."""
        lane = self._lanes[key]
        self._busy += 1
        try:
            retry_in = await self._attempt(lane[0])
        finally:
            self._busy -= 1
        if retry_in is not None:
            self._schedule(key, retry_in)
            return False
        lane.popleft()
        return True

    async def _run(self, batch: list[tuple[str, list[_Item]]]) -> None:
        """Apply a batch in one transaction; if it fails, split it until the failing
        event stands alone (a lane is never split, so each keeps its order)."""
        items = [item for _, lane_items in batch for item in lane_items]
        outcomes = None
        if len(items) > 1:
            self._busy += 1
            started = time.perf_counter()
            try:
                outcomes = await self._apply_batch(items)
            except Exception as exc:
                if self._stopping:  # a cancellation the driver turned into an error
                    raise asyncio.CancelledError from exc
                log.info("consumer.batch_split", consumer=self.name, events=len(items), error=repr(exc))
            finally:
                self._busy -= 1
        if outcomes is None:
            if len(batch) > 1:
                half = len(batch) // 2
                await self._run(batch[:half])
                await self._run(batch[half:])
                return
            key, lane_items = batch[0]
            for _ in lane_items:  # one by one, in order, until one must wait for a retry
                if not await self._one(key):
                    return
            self._requeue(key)
            return
        self.counters.batches += 1
        for item in items:
            outcome = outcomes[id(item)]
            self._report(item.envelope, started, outcome.value)
            self._settle(item, outcome)
        for key, lane_items in batch:
            lane = self._lanes[key]
            for _ in lane_items:
                lane.popleft()
            self._requeue(key)

    def _requeue(self, key: str) -> None:
        """After a lane's head went: queue the lane again, or drop it when empty."""
        if self._lanes.get(key):
            self._ready.put_nowait(key)
        else:
            self._lanes.pop(key, None)

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

    def _admit(self, env: Envelope) -> None:
        """Refuse an event that does not come from a service that publishes its type."""
        expected = self._sources.get(env.type)
        if expected is not None and env.source not in expected:
            raise EventError(
                f"{env.type} from {env.source or 'no source'}: only {', '.join(sorted(expected))} publishes it"
            )

    async def _apply(self, env: Envelope) -> Outcome:
        self._admit(env)
        handlers = self._handlers[env.type]
        event = handlers[0].event.from_envelope(env)
        span = None
        if self._tracer is None:
            tracing.bind(tracing.new_traceparent(env.traceparent))
        else:
            span = self._span(env)
            tracing.bind(span.traceparent)
        history.set_changes_by_event(env.source, env.id)
        try:
            async with self._uow_factory() as uow:
                session = uow.session
                # The inbox key decides: a delivery of an event already applied (or
                # parked, or being applied by a concurrent delivery) stops here.
                inserted = (await session.execute(self._insert_new[uow.dialect], _inbox_row(env, "processed"))).first()
                if inserted is None:
                    if span is not None:
                        span.set("isles.outcome", Outcome.DUPLICATE.value)
                    return Outcome.DUPLICATE
                await self._run_handlers(uow, env, event)
                await failpoints.hit(self._commit_point)
                await uow.commit()
        except BaseException as exc:
            if span is not None:
                span.failed(exc)
            raise
        finally:
            if span is not None:
                span.end()
        return Outcome.APPLIED

    def _span(self, env: Envelope) -> tracing.Span:
        """The consumer span of applying ``env``: the child of the event's traceparent
        (its outbox write), in the producer's trace."""
        assert self._tracer is not None
        return self._tracer.start(
            f"{env.type} process",
            "consumer",
            parent=env.traceparent,
            attributes={
                "messaging.system": self._messaging_system,
                "messaging.operation.type": "process",
                "messaging.operation.name": "consumer apply",
                "messaging.destination.name": env.type,
                "messaging.consumer.group.name": self.name,
                "messaging.message.id": env.id,
            },
        )

    async def _run_handlers(self, uow: UnitOfWork, env: Envelope, event: Event) -> None:
        context = HandlerContext(uow=uow, envelope=env)
        for handler in self._handlers[env.type]:
            await handler.fn(context, event)

    async def _apply_batch(self, items: Sequence[_Item]) -> dict[int, Outcome]:
        """Apply ``items`` in one transaction; their outcomes by ``id(item)``."""
        outcomes: dict[int, Outcome] = {}
        first: dict[str, _Item] = {}
        for item in items:  # the same event twice in one batch: the later one is a duplicate
            if item.envelope.id in first:
                outcomes[id(item)] = Outcome.DUPLICATE
            else:
                first[item.envelope.id] = item
        fresh = list(first.values())
        for item in fresh:
            self._admit(item.envelope)
        pairs = [(i.envelope, self._handlers[i.envelope.type][0].event.from_envelope(i.envelope)) for i in fresh]
        if fresh:  # one transaction for the batch: its history rows name its first event
            history.set_changes_by_event(fresh[0].envelope.source, fresh[0].envelope.id)
        if self._tracer is None:
            return await self._apply_batch_in(outcomes, fresh, pairs, None)
        # Tracing: a span per event, each in its own event's trace, over the batch's transaction.
        spans = {i.envelope.id: self._span(i.envelope) for i in fresh}
        for span in spans.values():
            span.set("messaging.batch.message_count", len(fresh))
        try:
            done = await self._apply_batch_in(outcomes, fresh, pairs, spans)
            for item in fresh:
                if done[id(item)] is Outcome.DUPLICATE:
                    spans[item.envelope.id].set("isles.outcome", Outcome.DUPLICATE.value)
        except BaseException as exc:
            for span in spans.values():
                span.failed(exc)
            raise
        finally:
            for span in spans.values():
                span.end()
        return done

    async def _apply_batch_in(
        self,
        outcomes: dict[int, Outcome],
        fresh: Sequence[_Item],
        pairs: Sequence[tuple[Envelope, Event]],
        spans: Mapping[str, tracing.Span] | None,
    ) -> dict[int, Outcome]:
        async with self._uow_factory() as uow:
            session = uow.session
            now = utcnow()
            rows = [_inbox_row(i.envelope, "processed", now) for i in fresh]
            # The inbox key decides, as for one event: ids already there (applied,
            # parked, or committed meanwhile by a concurrent delivery) are skipped.
            inserted = set((await session.execute(self._insert_new[uow.dialect], rows)).scalars())
            todo = []
            for row, item, pair in zip(rows, fresh, pairs, strict=True):
                new = row["event_id"] in inserted
                outcomes[id(item)] = Outcome.APPLIED if new else Outcome.DUPLICATE
                if new:
                    todo.append(pair)
            if todo:
                await self._run_batch_handlers(uow, todo, spans)
            await failpoints.hit(self._commit_point)
            await uow.commit()
        return outcomes

    #: Per dialect: INSERT inbox rows, skipping ids already present, RETURNING those inserted.
    _insert_new: ClassVar[dict[str, Any]] = {
        name: dialect.insert(inbox_table)
        .on_conflict_do_nothing(index_elements=[inbox_table.c.event_id])
        .returning(inbox_table.c.event_id)
        for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
    }

    async def _run_batch_handlers(
        self,
        uow: UnitOfWork,
        pairs: Sequence[tuple[Envelope, Event]],
        spans: Mapping[str, tracing.Span] | None = None,
    ) -> None:
        if not all(self._many_of[env.type] for env, _ in pairs):
            for env, event in pairs:  # event by event, in one transaction
                if spans is not None:  # what its handlers write is in its trace
                    tracing.bind(spans[env.id].traceparent)
                await self._run_handlers(uow, env, event)
            return
        # Set-wise: each distinct ``many`` once, in declaration order, with its events;
        # what they write continues the batch's first event's trace (its history rows
        # name that event too).
        if spans is not None and pairs:
            tracing.bind(spans[pairs[0][0].id].traceparent)
        for many in self._many_order:
            group = [(env, ev) for env, ev in pairs if many in self._many_of[env.type]]
            if group:
                await many(uow, group)

    async def redrive(self, envelope: Envelope, dead_letter_id: uuid.UUID) -> None:
        """Apply a dead-lettered event again (an operator's retry). In one transaction:
        the event's parked mark goes, the handlers run, the dead letter is deleted.
        On failure nothing changes but the dead letter's attempt count and error."""
        handlers = self._handlers.get(envelope.type)
        if not handlers:
            raise EventError(f"{self.name} has no handler for {envelope.type}")
        self._admit(envelope)
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


def _inbox_row(env: Envelope, status: str, at: datetime | None = None) -> dict[str, object]:
    return {
        "event_id": uuid.UUID(env.id),
        "event_type": env.type,
        "source": env.source,
        "aggregate_id": env.aggregateid,
        "aggregate_version": env.aggregateversion,
        "status": status,
        "processed_at": at or utcnow(),
    }


def _fresh_prefix(lane: deque[_Item], limit: int) -> list[_Item]:
    """The lane's first events (up to ``limit``) that have not failed yet."""
    items: list[_Item] = []
    for item in lane:
        if len(items) >= limit or item.attempts or item.permanent:
            break
        items.append(item)
    return items
