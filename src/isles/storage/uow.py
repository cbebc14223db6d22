"""Unit of work: one transaction of one service's database, with its outbox.

A use case changes rows and calls :meth:`UnitOfWork.emit`; the events go into the
outbox table in the same transaction, so either the change and its events are both
committed or neither is. After the commit the relay is woken at once.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self

from sqlalchemy import func, insert
from sqlalchemy.ext.asyncio import AsyncSession

from isles.core import tracing
from isles.core.clock import utcnow
from isles.core.events import Envelope, Event
from isles.storage import tenancy
from isles.storage.db import ServiceDatabase
from isles.storage.notify import outbox_channel
from isles.storage.schema import outbox_table
from isles.storage.tenancy import Tenant


class Aggregate(Protocol):
    """Anything with an id and a version that grows by one with every change."""

    @property
    def id(self) -> object: ...

    version: int


class UnitOfWork:
    """``async with UnitOfWork(...) as uow:`` — commit with ``await uow.commit()``.

    Leaving the block without committing rolls back: a use case that raises
    leaves no trace in the database and no event in the outbox. A write that a unique
    constraint refuses raises :class:`~isles.storage.errors.UniqueViolation`.
    """

    def __init__(
        self,
        db: ServiceDatabase,
        *,
        source: str,
        on_commit: Callable[[], None] | None = None,
        tenant: Tenant = None,
        tracer: tracing.Tracer | None = None,
    ) -> None:
        self._db = db
        self._tracer = tracer
        self._spans: list[tracing.Span] = []  # of the emitted events not yet in the outbox (tracing on)
        self.tenant = tenant
        self._source = source
        self._on_commit = on_commit
        self._session: AsyncSession | None = None
        self._writing: contextlib.AbstractAsyncContextManager[AsyncSession] | None = None
        self._emitted: list[Envelope] = []
        self._written = 0  # emitted events already in the outbox (a held commit writes them early)
        self._after_commit: list[Callable[[], None]] = []
        self._if_touched: list[tuple[tuple[type, ...], Callable[[], None]]] = []
        self._held = False
        self.committed = False

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("unit of work used outside its 'async with' block")
        return self._session

    @property
    def dialect(self) -> str:
        return self._db.dialect

    @property
    def emitted(self) -> tuple[Envelope, ...]:
        return tuple(self._emitted)

    async def __aenter__(self) -> Self:
        self._writing = self._db.writing(tenant=self.tenant)
        self._session = await self._writing.__aenter__()
        if self._if_touched:
            self._session.info[tenancy.TOUCHED_KEY] = set()
        try:
            await self._session.begin()
        except BaseException as exc:
            await self._writing.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self.session
        try:
            if not self.committed:
                # Detach first: what the use case read stays readable after the
                # rollback (a rollback would expire it).
                session.expunge_all()
                await session.rollback()
        finally:
            self._session = None
            writing, self._writing = self._writing, None
            if writing is not None:
                await writing.__aexit__(exc_type, exc, tb)

    def emit(
        self,
        event: Event,
        *,
        aggregate: Aggregate,
        aggregate_type: str,
        tenant_id: str = "",
    ) -> Envelope:
        """Bump the aggregate's version and write ``event`` to the outbox."""
        aggregate.version = (aggregate.version or 0) + 1
        envelope = Envelope.new(
            event,
            source=self._source,
            aggregate_type=aggregate_type,
            aggregate_id=str(aggregate.id),
            aggregate_version=aggregate.version,
            tenant_id=tenant_id,
            traceparent=self._traceparent(event),
        )
        self._emitted.append(envelope)
        if self._tracer is not None:
            self._spans[-1].set("messaging.message.id", envelope.id)
        return envelope

    def republish(
        self,
        event: Event,
        *,
        aggregate_type: str,
        aggregate_id: str,
        aggregate_version: int,
        tenant_id: str = "",
        repair: bool = False,
    ) -> Envelope:
        """Write ``event`` to the outbox at the aggregate's *current* version, without
        bumping it: the state again, which version-guarded copies at that version
        ignore and copies behind it take; with ``repair``, copies at that version take
        it too (their values differ from the owner's at the same version)."""
        envelope = Envelope.new(
            event,
            source=self._source,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            aggregate_version=aggregate_version,
            tenant_id=tenant_id,
            traceparent=self._traceparent(event),
            repair=repair,
        )
        self._emitted.append(envelope)
        if self._tracer is not None:
            self._spans[-1].set("messaging.message.id", envelope.id)
        return envelope

    def _traceparent(self, event: Event) -> str:
        """The new event's traceparent: a child of the current one; with tracing on,
        that of the event's outbox-write span (ended once the row is written)."""
        if self._tracer is None:
            return tracing.new_traceparent(tracing.current())
        span = self._tracer.start(
            f"{event.event_type} create",
            "producer",
            parent=tracing.current(),
            attributes={
                "messaging.system": "isles",
                "messaging.operation.type": "create",
                "messaging.operation.name": "outbox write",
                "messaging.destination.name": event.event_type,
            },
        )
        self._spans.append(span)
        return span.traceparent

    async def flush(self) -> None:
        await self.session.flush()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the transaction has committed (never if it rolls back)."""
        self._after_commit.append(callback)

    def after_commit_if_touched(self, classes: tuple[type, ...], callback: Callable[[], None]) -> None:
        """Call ``callback`` once the transaction has committed, if it added or changed
        (through the session) an object of one of ``classes``. Register before the
        ``async with`` block."""
        self._if_touched.append((classes, callback))

    def hold(self) -> None:
        """Make :meth:`commit` write everything but leave the transaction open until
        :meth:`release`: whoever wraps a use case (an idempotent request, a saga step)
        then writes its own record in the same transaction as the use case's change."""
        self._held = True

    async def commit(self) -> None:
        await self._write_outbox()
        if self._held:
            return
        await self._commit()

    async def release(self) -> None:
        """Commit a held unit of work (see :meth:`hold`)."""
        self._held = False
        await self._write_outbox()
        await self._commit()

    async def _write_outbox(self) -> None:
        session = self.session
        await session.flush()
        fresh = self._emitted[self._written :]
        if not fresh:
            return
        await insert_outbox_rows(session, self._db.dialect, self._db.service, [outbox_row(e) for e in fresh])
        self._written = len(self._emitted)
        if self._spans:
            spans, self._spans = self._spans, []
            for span in spans:
                span.end()

    async def _commit(self) -> None:
        session = self.session
        await session.commit()
        self.committed = True
        if self._emitted and self._on_commit is not None:
            self._on_commit()
        for callback in self._after_commit:
            callback()
        if self._if_touched:
            touched: set[type] = session.info.pop(tenancy.TOUCHED_KEY, set())
            for classes, callback in self._if_touched:
                if any(issubclass(t, classes) for t in touched):
                    callback()


async def insert_outbox_rows(session: AsyncSession, dialect: str, service: str, rows: list[dict[str, object]]) -> None:
    """``rows`` (:func:`outbox_row`) into ``service``'s outbox, in the session's
    transaction. On PostgreSQL the insert itself notifies every relay LISTENing, in
    any process, at commit: no statement of its own. Notifications alike within a
    transaction are delivered once, so a commit wakes each relay once."""
    if dialect == "postgresql":
        notify = func.pg_notify(outbox_channel(service), "")
        await session.execute(insert(outbox_table).returning(notify), rows)
    else:
        await session.execute(insert(outbox_table), rows)


def outbox_row(e: Envelope) -> dict[str, object]:
    return {
        "event_id": uuid.UUID(e.id),
        "event_type": e.type,
        "aggregate_type": e.aggregatetype,
        "aggregate_id": e.aggregateid,
        "aggregate_version": e.aggregateversion,
        "tenant_id": e.tenantid,
        "payload": e.to_json(),
        "created_at": utcnow(),
    }


__all__ = ["Aggregate", "UnitOfWork"]
