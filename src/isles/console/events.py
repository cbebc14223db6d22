"""Follow events: one event by its id, from the producer's outbox (written, published)
to each consumer's inbox (applied, parked as a dead letter, dropped, or not yet); or
every event of one aggregate, in order, each with where it was applied and when.

The outbox keeps a published event for ``ISLES_OUTBOX_RETENTION_SECONDS``; after that
only the consumers' inboxes remember it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from isles.console.core import Console
from isles.storage.schema import dead_letters_table, inbox_table, outbox_table

LIMIT = 500
_o, _i, _d = outbox_table, inbox_table, dead_letters_table


@dataclass
class Delivery:
    """The event at one consumer."""

    service: str
    status: str  # processed, dead_lettered, dropped, or "not yet"
    at: datetime | None = None
    error: str = ""
    letter: uuid.UUID | None = None


@dataclass
class Followed:
    event_id: uuid.UUID
    event_type: str
    aggregate_type: str = ""
    aggregate_id: str = ""
    aggregate_version: int | None = None
    producer: str | None = None  # the service whose outbox holds it (None: not found in an outbox here)
    created_at: datetime | None = None
    published_at: datetime | None = None
    tenant: str = ""
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def stage(self) -> str:
        if self.producer is not None and self.published_at is None:
            return "in the outbox"
        waiting = [d for d in self.deliveries if d.status == "not yet"]
        if any(d.status == "dead_lettered" for d in self.deliveries):
            return "dead-lettered"
        if waiting:
            return "on its way"
        return "applied" if self.deliveries else "published"


def consumers_of(console: Console, event_type: str) -> list[str]:
    return [
        name
        for name, rt in console.runtime.services.items()
        if rt.consumer is not None and event_type in rt.consumer.event_types
    ]


async def _deliveries(console: Console, events: list[Followed]) -> None:
    """Fill each event's deliveries: every local consumer of its type, what its inbox
    (and dead letters) say of it."""
    by_service: dict[str, list[Followed]] = {}
    for ev in events:
        for name in consumers_of(console, ev.event_type):
            by_service.setdefault(name, []).append(ev)
    for name, evs in by_service.items():
        ids = [e.event_id for e in evs]
        inbox: dict[uuid.UUID, Any] = {}
        letters: dict[uuid.UUID, Any] = {}
        async with console.runtime.services[name].db.read_session() as session:
            for start in range(0, len(ids), 200):
                part = ids[start : start + 200]
                for r in (await session.execute(select(_i).where(_i.c.event_id.in_(part)))).all():
                    inbox[r.event_id] = r
                for r in (await session.execute(select(_d).where(_d.c.event_id.in_(part)))).all():
                    letters[r.event_id] = r
        for ev in evs:
            row, letter = inbox.get(ev.event_id), letters.get(ev.event_id)
            d = Delivery(
                name, row.status if row is not None else "not yet", row.processed_at if row is not None else None
            )
            if letter is not None:
                d.error, d.letter = letter.error.splitlines()[0] if letter.error else "", letter.id
            ev.deliveries.append(d)


def _from_outbox(name: str, r: Any) -> Followed:
    return Followed(
        event_id=r.event_id,
        event_type=r.event_type,
        aggregate_type=r.aggregate_type,
        aggregate_id=r.aggregate_id,
        aggregate_version=r.aggregate_version,
        producer=name,
        created_at=r.created_at,
        published_at=r.published_at,
        tenant=r.tenant_id,
    )


async def follow_event(console: Console, event_id: uuid.UUID) -> Followed | None:
    found: Followed | None = None
    for name, rt in console.runtime.services.items():
        async with rt.db.read_session() as session:
            r = (await session.execute(select(_o).where(_o.c.event_id == event_id))).first()
        if r is not None:
            found = _from_outbox(name, r)
            break
    if found is None:  # gone from the outbox (or produced elsewhere): what the inboxes know
        for rt in console.runtime.services.values():
            if rt.consumer is None:
                continue
            async with rt.db.read_session() as session:
                r = (await session.execute(select(_i).where(_i.c.event_id == event_id))).first()
            if r is not None:
                found = Followed(
                    event_id=event_id,
                    event_type=r.event_type,
                    aggregate_id=r.aggregate_id,
                    aggregate_version=r.aggregate_version,
                )
                break
    if found is None:
        return None
    await _deliveries(console, [found])
    return found


async def follow_aggregate(console: Console, aggregate_id: str) -> list[Followed]:
    found: list[Followed] = []
    for name, rt in console.runtime.services.items():
        async with rt.db.read_session() as session:
            q = select(_o).where(_o.c.aggregate_id == aggregate_id).order_by(_o.c.id).limit(LIMIT)
            found += [_from_outbox(name, r) for r in (await session.execute(q)).all()]
    found.sort(key=lambda e: (e.aggregate_type, e.aggregate_version or 0, e.created_at or datetime.min))
    await _deliveries(console, found)
    return found


def add_routes(app: FastAPI, console: Console) -> None:
    @app.get("/events/", response_class=HTMLResponse)
    async def events(request: Request, event: str = "", aggregate: str = "") -> HTMLResponse:
        session = await console.guard(request)
        one: Followed | None = None
        many: list[Followed] = []
        problem = ""
        event, aggregate = event.strip(), aggregate.strip()
        if event:
            try:
                ident = uuid.UUID(event)
            except ValueError:
                problem = f"{event!r} is not an event id (a UUID)"
            else:
                one = await follow_event(console, ident)
                if one is None:
                    problem = f"no outbox or inbox {console.here} holds event {event}"
        elif aggregate:
            many = await follow_aggregate(console, aggregate)
            if not many:
                problem = f"no outbox {console.here} holds an event of aggregate {aggregate!r}"
        return console.render(
            request,
            "events.html",
            session,
            active="events",
            event=event,
            aggregate=aggregate,
            one=one,
            many=many,
            problem=problem,
        )
