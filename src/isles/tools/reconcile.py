"""Reconcile a service restored to an earlier point with its peers (issue 21), through
the outboxes and inboxes every service database keeps.

A backup of independent databases is never one instant (docs/backup.md). A service
restored from one has forgotten what happened to it since; its peers have not. Two
questions, answered from the kernel tables alone:

* **Events it should have received that are not in its inbox** (``missed``): for every
  event type the service consumes, the rows of its producer's outbox (each service
  keeps its events ``ISLES_OUTBOX_RETENTION_SECONDS`` after publishing them) whose
  event id the restored inbox does not hold. They are applied again through the
  service's own consumer — the normal path: the inbox key, the handlers, version
  guards, retries and dead letters — in each producer's outbox order, so events of one
  aggregate go in the order they were published. A concurrent delivery of the same
  event (the system running meanwhile) is skipped by the inbox, as always.
* **Events it published that its peers applied and it no longer has** (``lost``): the
  rows of the peers' inboxes from this service, processed at or after ``since``, whose
  event id its outbox does not hold. The state behind them (a rename, a new project)
  was lost by the restore and cannot be fetched from anywhere: they are reported, with
  the aggregates, for people to redo. ``since`` is the restored outbox's newest event
  by default: an event created before it is in that outbox (pruning only takes events
  published longer than the retention ago).

A **gap**: a producer whose oldest retained event of the types the service consumes
is newer than the newest event the restored inbox holds from it — events in between,
if any, are no longer in any outbox. ``isles audit --repair`` re-syncs the copies that
missed them from their owners' current state.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from isles.core.events import Envelope
from isles.messaging.consumer import Consumer
from isles.service.declaration import System, event_publishers
from isles.storage.db import ServiceDatabase
from isles.storage.schema import inbox_table, outbox_table

CHUNK = 1000
SAMPLES = 20


def source_of(service: str) -> str:
    """The CloudEvents ``source`` of a service's events."""
    return f"/isles/{service}"


@dataclass(frozen=True)
class LostEvent:
    """An event of the restored service that a peer applied and its outbox lacks."""

    peer: str
    event_id: str
    event_type: str
    aggregate_id: str
    aggregate_version: int
    processed_at: datetime


@dataclass
class ReconcileReport:
    service: str
    since: datetime | None = None
    #: (producer, event type) -> events missing from the inbox, found in the producer's outbox.
    missed: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: What became of the missed events given to the consumer (inbox status afterwards).
    applied: int = 0
    parked: int = 0
    not_applied: int = 0
    #: (peer, event type) -> events the peers applied that the outbox no longer holds.
    lost: Counter[tuple[str, str]] = field(default_factory=Counter)
    lost_samples: list[LostEvent] = field(default_factory=list)
    #: event type -> the aggregates whose lost events the peers hold.
    lost_aggregates: dict[str, set[str]] = field(default_factory=dict)
    gaps: list[str] = field(default_factory=list)
    dry_run: bool = False
    seconds: float = 0.0

    @property
    def findings(self) -> bool:
        """Something people must look at: lost state, a gap, or a missed event that
        did not apply."""
        return bool(self.lost or self.gaps or self.parked or self.not_applied)

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "since": self.since.isoformat() if self.since else None,
            "dry_run": self.dry_run,
            "missed": [{"producer": p, "event_type": t, "events": n} for (p, t), n in sorted(self.missed.items())],
            "applied": self.applied,
            "parked": self.parked,
            "not_applied": self.not_applied,
            "lost": [{"peer": p, "event_type": t, "events": n} for (p, t), n in sorted(self.lost.items())],
            "lost_aggregates": {t: sorted(ids) for t, ids in sorted(self.lost_aggregates.items())},
            "lost_samples": [
                {
                    "peer": e.peer,
                    "event_id": e.event_id,
                    "event_type": e.event_type,
                    "aggregate_id": e.aggregate_id,
                    "aggregate_version": e.aggregate_version,
                    "processed_at": e.processed_at.isoformat(),
                }
                for e in self.lost_samples
            ],
            "gaps": self.gaps,
            "seconds": round(self.seconds, 3),
        }


async def _held(db: ServiceDatabase, column: Any, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of ``ids`` are in ``column`` (an outbox's or inbox's event id)."""
    if not ids:
        return set()
    async with db.reading() as session:
        return set((await session.scalars(select(column).where(column.in_(ids)))).all())


async def _outbox_rows(
    db: ServiceDatabase, types: Sequence[str], chunk: int
) -> AsyncIterator[list[tuple[int, uuid.UUID, str]]]:
    """The outbox's events of ``types`` in outbox order, ``chunk`` at a time: (position,
    event id, payload)."""
    o = outbox_table.c
    after = 0
    while True:
        async with db.reading() as session:
            rows = (
                await session.execute(
                    select(o.id, o.event_id, o.payload)
                    .where(o.event_type.in_(types), o.id > after)
                    .order_by(o.id)
                    .limit(chunk)
                )
            ).all()
        if not rows:
            return
        yield [(int(r[0]), r[1], r[2]) for r in rows]
        after = int(rows[-1][0])


async def _newest(db: ServiceDatabase, column: Any, *where: Any) -> datetime | None:
    async with db.reading() as session:
        value: datetime | None = await session.scalar(select(func.max(column)).where(*where))
        return value


async def _oldest(db: ServiceDatabase, column: Any, *where: Any) -> datetime | None:
    async with db.reading() as session:
        value: datetime | None = await session.scalar(select(func.min(column)).where(*where))
        return value


def consumed(system: System, service: str) -> dict[str, list[str]]:
    """Producer -> the event types ``service`` handles that it publishes (a type several
    services publish, ``isles.SagaFinished``, under each of them)."""
    publishers = event_publishers(system)
    declared = next(s for s in system.services if s.name == service)
    by_producer: dict[str, list[str]] = {}
    for handler in declared.all_handlers():
        event_type = handler.event.event_type
        for producer in publishers.get(event_type, ()):
            if producer == service:
                continue
            types = by_producer.setdefault(producer, [])
            if event_type not in types:
                types.append(event_type)
    return by_producer


async def find_lost(
    system: System,
    dbs: Mapping[str, ServiceDatabase],
    service: str,
    report: ReconcileReport,
    *,
    since: datetime | None,
    samples: int = SAMPLES,
    chunk: int = CHUNK,
) -> None:
    """Fill ``report.lost``: the peers' inbox rows from ``service``, processed at or
    after ``since`` (default: the newest event of its outbox), that its outbox lacks."""
    db = dbs[service]
    if since is None:
        since = await _newest(db, outbox_table.c.created_at)
    report.since = since
    i = inbox_table.c
    for peer in system.services:
        if peer.name == service or peer.name not in dbs:
            continue
        where = [i.source == source_of(service), i.status == "processed"]
        if since is not None:
            where.append(i.processed_at >= since)
        after: uuid.UUID | None = None
        while True:
            page = [*where, i.event_id > after] if after is not None else where
            async with dbs[peer.name].reading() as session:
                rows = (
                    await session.execute(
                        select(i.event_id, i.event_type, i.aggregate_id, i.aggregate_version, i.processed_at)
                        .where(*page)
                        .order_by(i.event_id)
                        .limit(chunk)
                    )
                ).all()
            if not rows:
                break
            after = rows[-1][0]
            held = await _held(db, outbox_table.c.event_id, [r[0] for r in rows])
            for event_id, event_type, aggregate_id, version, processed_at in rows:
                if event_id in held:
                    continue
                report.lost[(peer.name, event_type)] += 1
                report.lost_aggregates.setdefault(event_type, set()).add(str(aggregate_id))
                if len(report.lost_samples) < samples:
                    report.lost_samples.append(
                        LostEvent(peer.name, str(event_id), event_type, str(aggregate_id), int(version), processed_at)
                    )


async def _outcomes(db: ServiceDatabase, given: Sequence[uuid.UUID], report: ReconcileReport) -> None:
    """Count what became of the events given to the consumer: the inbox says."""
    i = inbox_table.c
    async with db.reading() as conn:
        status = dict((await conn.execute(select(i.event_id, i.status).where(i.event_id.in_(given)))).all())
    for event_id in given:
        outcome = status.get(event_id)
        if outcome == "processed":
            report.applied += 1
        elif outcome == "dead_lettered":
            report.parked += 1
        else:
            report.not_applied += 1


async def reconcile(
    system: System,
    dbs: Mapping[str, ServiceDatabase],
    service: str,
    *,
    consumer: Consumer | None = None,
    since: datetime | None = None,
    samples: int = SAMPLES,
    chunk: int = CHUNK,
    progress: Callable[[str], None] | None = None,
) -> ReconcileReport:
    """Reconcile ``service`` (its database restored to an earlier point) with its peers:
    the events it missed are given to ``consumer`` (the service's own; ``None``: a dry
    run, only counted) and the events it lost are reported. ``dbs`` holds every
    service's database that can be read (a peer not in it is left out)."""
    if service not in dbs:
        raise KeyError(service)
    started = asyncio.get_running_loop().time()
    say = progress or (lambda _m: None)
    report = ReconcileReport(service, dry_run=consumer is None)
    db = dbs[service]
    i = inbox_table.c
    # A consumer already running (the library used inside a live process) is left so.
    started_here = consumer is not None and not consumer.running
    if consumer is not None and started_here:
        consumer.start()
    try:
        for producer, types in consumed(system, service).items():
            if producer not in dbs:
                report.gaps.append(f"{producer}'s database is not open here: its events were not looked at")
                continue
            pdb = dbs[producer]
            o = outbox_table.c
            oldest = await _oldest(pdb, o.created_at, o.event_type.in_(types))
            newest_held = await _newest(db, i.processed_at, i.source == source_of(producer))
            if oldest is not None and newest_held is not None and oldest > newest_held:
                report.gaps.append(
                    f"{producer}'s outbox starts at {oldest.isoformat()}, after the newest of its events "
                    f"{service} holds ({newest_held.isoformat()}): events published in between, if any, "
                    "are gone; isles audit --repair re-syncs the copies"
                )
            say(f"{service}: looking for events of {producer} not in its inbox ({', '.join(types)})")
            async for rows in _outbox_rows(pdb, types, chunk):
                held = await _held(db, i.event_id, [r[1] for r in rows])
                given: list[uuid.UUID] = []
                futures: list[asyncio.Future[None]] = []
                for _position, event_id, payload in rows:
                    if event_id in held:
                        continue
                    envelope = Envelope.from_json(payload)
                    report.missed[(producer, envelope.type)] += 1
                    if consumer is not None:
                        given.append(event_id)
                        futures.append(consumer.deliver(envelope))
                if futures:
                    # One chunk at a time, in outbox order: memory stays bounded, and
                    # an aggregate's events are applied in the order they were published.
                    say(f"{service}: applying {len(futures)} event(s) of {producer} through its consumer")
                    await asyncio.gather(*futures, return_exceptions=True)
                    await _outcomes(db, given, report)
    finally:
        if consumer is not None and started_here:
            await consumer.stop()
    say(f"{service}: looking for its events that peers applied and it no longer has")
    await find_lost(system, dbs, service, report, since=since, samples=samples, chunk=chunk)
    report.seconds = asyncio.get_running_loop().time() - started
    return report
