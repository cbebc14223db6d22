"""Event sourcing: an aggregate stored as its events (seed 003, ADR-0005's order).

A service that keeps an aggregate this way adds the platform's ``event_store`` table to
its metadata (:func:`add_event_store`), writes an :class:`EventSourced` subclass whose
methods *record* events and whose ``apply`` folds each event into its state, and
saves it with :meth:`EventStore.save` in a unit of work:

* the aggregate's new events are appended at the versions after the one it was
  loaded at: the table's unique key ``(aggregate_type, aggregate_id, version)``
  refuses a second writer that loaded the same version (optimistic concurrency: a
  409 problem, never a lost write);
* the same events go to the outbox in the same transaction (published, as any
  service's events) unless the store is told not to publish;
* the store's :class:`Projection` s (the ordinary tables the API reads: orders,
  order items) are updated from the events, again in the same transaction.

A projection can be rebuilt from the events at any time (:meth:`EventStore.rebuild`:
its tables emptied and every event replayed, in one transaction) and checked against
the live tables (:meth:`EventStore.check`: the rebuild made in a transaction that is
rolled back, the rows compared). The events are read in key order, in batches: the
memory a rebuild needs does not grow with the store.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Self, TypeVar

from sqlalchemy import (
    JSON,
    Column,
    Integer,
    MetaData,
    RowMapping,
    String,
    Table,
    UniqueConstraint,
    Uuid,
    delete,
    insert,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession

from isles.core.clock import utcnow
from isles.core.events import Envelope, Event
from isles.core.problems import conflict
from isles.storage.db import ServiceDatabase
from isles.storage.errors import UniqueViolation
from isles.storage.schema import UTCDateTime
from isles.storage.tenancy import ACROSS_TENANTS
from isles.storage.uow import UnitOfWork

EVENT_STORE = "event_store"
A = TypeVar("A", bound="EventSourced")


def add_event_store(metadata: MetaData) -> Table:
    """The ``event_store`` table, in ``metadata`` (a service's: its migrations make it)."""
    if EVENT_STORE in metadata.tables:
        return metadata.tables[EVENT_STORE]
    return Table(
        EVENT_STORE,
        metadata,
        Column("id", Uuid, primary_key=True),  # the event's id (its CloudEvents id)
        Column("aggregate_type", String(100), nullable=False),
        Column("aggregate_id", String(100), nullable=False),
        Column("version", Integer, nullable=False),
        Column("event_type", String(200), nullable=False),
        Column("schema_version", Integer, nullable=False),
        Column("data", JSON, nullable=False),
        Column("tenant_id", String(100), nullable=False, default=""),
        Column("created_at", UTCDateTime, nullable=False, default=utcnow),
        UniqueConstraint("aggregate_type", "aggregate_id", "version", name="uq_event_store_aggregate_version"),
    )


@dataclass(frozen=True)
class StoredEvent:
    """One event of the store, as written."""

    id: uuid.UUID
    aggregate_type: str
    aggregate_id: str
    version: int
    event_type: str
    schema_version: int
    data: Mapping[str, Any]
    tenant_id: str
    created_at: datetime

    def envelope(self, source: str) -> Envelope:
        return Envelope(
            id=str(self.id),
            source=source,
            type=self.event_type,
            aggregatetype=self.aggregate_type,
            aggregateid=self.aggregate_id,
            aggregateversion=self.version,
            schemaversion=self.schema_version,
            data=dict(self.data),
            time=self.created_at,
            tenantid=self.tenant_id,
        )


class EventSourced:
    """An aggregate kept as its events. Subclasses set ``aggregate_type`` and the
    event classes they are made of (``events``), and implement :meth:`apply`; their
    commands call :meth:`record`, which applies the event and keeps it for saving."""

    aggregate_type: ClassVar[str]
    events: ClassVar[Sequence[type[Event]]] = ()

    def __init__(self, id: uuid.UUID, tenant_id: str = "") -> None:
        self.id = id
        self.tenant_id = tenant_id
        self.version = 0  # of the last event applied
        self.pending: list[Event] = []

    def apply(self, event: Event) -> None:
        """Fold ``event`` into the state (no checks: a stored event happened)."""
        raise NotImplementedError

    def record(self, event: Event) -> None:
        """A new event: applied now, saved by :meth:`EventStore.save`."""
        self.apply(event)
        self.version += 1
        self.pending.append(event)

    @classmethod
    def event_class(cls, event_type: str) -> type[Event]:
        for kind in cls.events:
            if kind.event_type == event_type:
                return kind
        raise LookupError(f"{cls.__name__} has no event {event_type}")

    @classmethod
    def replay(cls, aggregate_id: uuid.UUID, stored: Iterable[StoredEvent]) -> Self | None:
        """The aggregate its events make (None without events)."""
        aggregate: Self | None = None
        for row in stored:
            if aggregate is None:
                aggregate = cls(aggregate_id, row.tenant_id)
            kind = cls.event_class(row.event_type)
            aggregate.apply(kind.model_validate(kind.upcast(row.data, row.schema_version)))
            aggregate.version = row.version
        return aggregate


#: ``handler(session, event, stored)``: bring the projection's tables up to date.
ProjectionHandler = Callable[[AsyncSession, Any, StoredEvent], Awaitable[None]]


@dataclass(frozen=True)
class Projection:
    """Tables kept from an aggregate's events (its read model), by one handler per
    event type. Rebuildable: its tables hold nothing but what the handlers write, and
    a handler writes only what the event and its stored record say (a time is the
    record's ``created_at``, never the clock's), so a replay writes the same rows."""

    name: str
    tables: Sequence[Table]
    handlers: Mapping[type[Event], ProjectionHandler]

    async def apply(self, session: AsyncSession, event: Event, stored: StoredEvent) -> None:
        handler = self.handlers.get(type(event))
        if handler is not None:
            await handler(session, event, stored)


@dataclass
class CheckResult:
    """How the live tables of a projection compare with a rebuild from the events."""

    projection: str
    events: int
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows in the rebuild
    missing: dict[str, list[str]] = field(default_factory=dict)  # rows the live table lacks (keys)
    extra: dict[str, list[str]] = field(default_factory=dict)  # live rows the rebuild has not
    different: dict[str, list[str]] = field(default_factory=dict)  # same key, other values

    @property
    def agrees(self) -> bool:
        return not any(self.missing.values()) and not any(self.extra.values()) and not any(self.different.values())


class EventStore:
    """The ``event_store`` table of one service, its aggregate types and projections."""

    def __init__(
        self,
        metadata: MetaData,
        aggregates: Sequence[type[EventSourced]],
        projections: Sequence[Projection] = (),
        *,
        publish: bool | Collection[type[Event]] = True,
        batch_size: int = 2000,
    ) -> None:
        """``publish``: every event goes to the outbox too (True), none (False), or
        those of the event types named (an aggregate's public facts; the rest of its
        stream stays inside the service)."""
        self.table = add_event_store(metadata)
        self.aggregates = {a.aggregate_type: a for a in aggregates}
        self.projections = {p.name: p for p in projections}
        self._published = publish if isinstance(publish, bool) else frozenset(publish)
        self.batch_size = batch_size

    def publishes(self, event_type: type[Event]) -> bool:
        """Whether events of ``event_type`` are published when saved."""
        if isinstance(self._published, bool):
            return self._published
        return event_type in self._published

    @property
    def publish(self) -> bool:
        """Whether any of its events is published."""
        return bool(self._published)

    # --- reading and writing one aggregate ------------------------------------------

    async def events_of(self, session: AsyncSession, aggregate_type: str, aggregate_id: uuid.UUID) -> list[StoredEvent]:
        t = self.table
        rows = await session.execute(
            select(t)
            .where(t.c.aggregate_type == aggregate_type, t.c.aggregate_id == str(aggregate_id))
            .order_by(t.c.version)
        )
        return [_stored(r) for r in rows.mappings()]

    async def load(self, session: AsyncSession, kind: type[A], aggregate_id: uuid.UUID) -> A | None:
        return kind.replay(aggregate_id, await self.events_of(session, kind.aggregate_type, aggregate_id))

    async def save(self, uow: UnitOfWork, aggregate: EventSourced) -> list[StoredEvent]:
        """Append the aggregate's recorded events after the version it was loaded at,
        publish them (outbox) and update the projections, all in ``uow``'s
        transaction. Another writer that saved first: a 409 problem."""
        if not aggregate.pending:
            return []
        loaded_at = aggregate.version - len(aggregate.pending)
        stored: list[StoredEvent] = []
        version = loaded_at
        for event in aggregate.pending:
            version += 1
            event_id = uuid.uuid4()
            if self.publishes(type(event)):
                holder = _Versioned(aggregate.id, version - 1)
                envelope = uow.emit(
                    event, aggregate=holder, aggregate_type=aggregate.aggregate_type, tenant_id=aggregate.tenant_id
                )
                event_id = uuid.UUID(envelope.id)
            stored.append(
                StoredEvent(
                    id=event_id,
                    aggregate_type=aggregate.aggregate_type,
                    aggregate_id=str(aggregate.id),
                    version=version,
                    event_type=event.event_type,
                    schema_version=event.schema_version,
                    data=event.model_dump(mode="json"),
                    tenant_id=aggregate.tenant_id,
                    created_at=utcnow(),
                )
            )
        try:
            await uow.session.execute(insert(self.table), [_row(s) for s in stored])
        except UniqueViolation as exc:
            raise conflict(
                "version",
                f"{aggregate.aggregate_type} {aggregate.id} changed meanwhile (it is past version {loaded_at}): "
                "read it again and retry",
            ) from exc
        for event, row in zip(aggregate.pending, stored, strict=True):
            for projection in self.projections.values():
                await projection.apply(uow.session, event, row)
        aggregate.pending.clear()
        return stored

    # --- every event, and the projections rebuilt from them -------------------------------

    async def stream(self, session: AsyncSession) -> AsyncIterator[StoredEvent]:
        """Every event, in key order (aggregate type, id, version), read in batches."""
        t = self.table
        key = (t.c.aggregate_type, t.c.aggregate_id, t.c.version)
        after: tuple[str, str, int] | None = None
        while True:
            q = select(t).order_by(*key).limit(self.batch_size)
            if after is not None:
                q = q.where(tuple_(*key) > tuple_(*after))
            rows = [_stored(r) for r in (await session.execute(q)).mappings()]
            for row in rows:
                yield row
            if len(rows) < self.batch_size:
                return
            last = rows[-1]
            after = (last.aggregate_type, last.aggregate_id, last.version)

    def _event(self, row: StoredEvent) -> Event:
        kind = self.aggregates[row.aggregate_type].event_class(row.event_type)
        return kind.model_validate(kind.upcast(row.data, row.schema_version))

    async def _replay(self, session: AsyncSession, projection: Projection) -> int:
        for table in reversed(projection.tables):  # children first
            await session.execute(delete(table))
        count = 0
        async for row in self.stream(session):
            await projection.apply(session, self._event(row), row)
            count += 1
        return count

    def projection(self, name: str) -> Projection:
        try:
            return self.projections[name]
        except KeyError:
            raise LookupError(f"no projection {name!r}; these exist: {', '.join(self.projections)}") from None

    async def rebuild(self, db: ServiceDatabase, name: str) -> int:
        """Empty the projection's tables and replay every event into them, in one
        transaction (readers see the old rows until it commits). Returns the events
        replayed."""
        projection = self.projection(name)
        async with db.writing(tenant=ACROSS_TENANTS) as session, session.begin():
            return await self._replay(session, projection)

    async def check(self, db: ServiceDatabase, name: str, *, samples: int = 10) -> CheckResult:
        """Compare the live tables with a rebuild (made and rolled back): rows
        missing, extra or different, by primary key (at most ``samples`` of each)."""
        projection = self.projection(name)
        async with db.writing(tenant=ACROSS_TENANTS) as session:
            await session.begin()
            try:
                live = {t.name: await _digests(session, t) for t in projection.tables}
                events = await self._replay(session, projection)
                rebuilt = {t.name: await _digests(session, t) for t in projection.tables}
            finally:
                await session.rollback()
        result = CheckResult(projection.name, events)
        for table, rows in rebuilt.items():
            have = live[table]
            result.rows[table] = len(rows)
            result.missing[table] = sorted(k for k in rows if k not in have)[:samples]
            result.extra[table] = sorted(k for k in have if k not in rows)[:samples]
            result.different[table] = sorted(k for k in rows if k in have and have[k] != rows[k])[:samples]
        return result


@dataclass
class _Versioned:
    """An aggregate as the unit of work's ``emit`` sees it (it adds one)."""

    id: uuid.UUID
    version: int


def _row(s: StoredEvent) -> dict[str, Any]:
    return {
        "id": s.id,
        "aggregate_type": s.aggregate_type,
        "aggregate_id": s.aggregate_id,
        "version": s.version,
        "event_type": s.event_type,
        "schema_version": s.schema_version,
        "data": dict(s.data),
        "tenant_id": s.tenant_id,
        "created_at": s.created_at,
    }


def _stored(r: RowMapping) -> StoredEvent:
    data = r["data"]
    return StoredEvent(
        id=r["id"] if isinstance(r["id"], uuid.UUID) else uuid.UUID(str(r["id"])),
        aggregate_type=r["aggregate_type"],
        aggregate_id=r["aggregate_id"],
        version=r["version"],
        event_type=r["event_type"],
        schema_version=r["schema_version"],
        data=json.loads(data) if isinstance(data, str) else data,
        tenant_id=r["tenant_id"],
        created_at=r["created_at"],
    )


async def _digests(session: AsyncSession, table: Table) -> dict[str, str]:
    """Primary key (as text) -> a digest of the row's values, for every row."""
    keys = list(table.primary_key.columns)
    out: dict[str, str] = {}
    for row in (await session.execute(select(table))).mappings():
        key = "/".join(str(row[c.name]) for c in keys)
        values = json.dumps({c: _plain(v) for c, v in row.items()}, sort_keys=True, default=str)
        out[key] = hashlib.sha256(values.encode()).hexdigest()
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


__all__ = [
    "EVENT_STORE",
    "CheckResult",
    "EventSourced",
    "EventStore",
    "Projection",
    "ProjectionHandler",
    "StoredEvent",
    "add_event_store",
]
