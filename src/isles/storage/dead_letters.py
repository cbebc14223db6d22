"""Dead letters of one service: list, show, retry (apply again), drop."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, or_, select, update

from isles.core.events import Envelope
from isles.storage.db import ServiceDatabase
from isles.storage.schema import dead_letters_table, inbox_table

_d = dead_letters_table


@dataclass(frozen=True)
class DeadLetter:
    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    aggregate_id: str
    aggregate_version: int
    error: str
    traceback: str
    attempts: int
    first_failed_at: datetime
    created_at: datetime
    payload: str

    @property
    def envelope(self) -> Envelope:
        return Envelope.from_json(self.payload)


def _row(r: object) -> DeadLetter:
    return DeadLetter(**{f: getattr(r, f) for f in DeadLetter.__dataclass_fields__})


async def list_letters(db: ServiceDatabase, *, event_type: str | None = None, limit: int = 100) -> list[DeadLetter]:
    q = select(_d).order_by(_d.c.created_at, _d.c.id).limit(limit)
    if event_type:
        q = q.where(_d.c.event_type == event_type)
    async with db.read_session() as session:
        return [_row(r) for r in (await session.execute(q)).all()]


async def find(db: ServiceDatabase, ident: uuid.UUID) -> DeadLetter | None:
    """By dead-letter id or by event id."""
    async with db.read_session() as session:
        r = (await session.execute(select(_d).where(or_(_d.c.id == ident, _d.c.event_id == ident)))).first()
    return _row(r) if r is not None else None


async def drop(db: ServiceDatabase, letter: DeadLetter) -> None:
    """Delete the dead letter. The event stays marked in the inbox (as dropped), so a
    later redelivery of it is still skipped."""
    async with db.writing() as session, session.begin():
        await session.execute(delete(_d).where(_d.c.id == letter.id))
        await session.execute(
            update(inbox_table).where(inbox_table.c.event_id == letter.event_id).values(status="dropped")
        )
