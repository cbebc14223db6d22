"""The outbox as the relay sees it: unpublished rows in commit order, then marked."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select, update

from isles.db import ServiceDatabase
from isles.schema import outbox_table, utcnow

_t = outbox_table


@dataclass(frozen=True)
class OutboxRecord:
    position: int
    payload: str


class SqlOutbox:
    """Reads and marks one service's outbox table."""

    def __init__(self, db: ServiceDatabase) -> None:
        self._db = db

    async def fetch(self, limit: int, exclude: Collection[int] = ()) -> list[OutboxRecord]:
        """Up to ``limit`` unpublished rows, lowest position first, skipping ``exclude``.

        Rows are never skipped by position: a row whose transaction commits after a
        row with a higher position is still found, on the next fetch.
        """
        unpublished = _t.c.published_at.is_(None)
        async with self._db.read_session() as session:
            if not exclude:
                rows = (
                    await session.execute(
                        select(_t.c.id, _t.c.payload).where(unpublished).order_by(_t.c.id).limit(limit)
                    )
                ).all()
                return [OutboxRecord(position=r.id, payload=r.payload) for r in rows]
            # Rows in flight are skipped by id first, so their payloads are not read again.
            ids = (
                await session.scalars(select(_t.c.id).where(unpublished).order_by(_t.c.id).limit(limit + len(exclude)))
            ).all()
            wanted = [i for i in ids if i not in exclude][:limit]
            if not wanted:
                return []
            rows = (
                await session.execute(select(_t.c.id, _t.c.payload).where(_t.c.id.in_(wanted)).order_by(_t.c.id))
            ).all()
        return [OutboxRecord(position=r.id, payload=r.payload) for r in rows]

    async def mark_published(self, positions: Sequence[int]) -> None:
        if not positions:
            return
        async with self._db.writing() as session, session.begin():
            await session.execute(update(_t).where(_t.c.id.in_(positions)).values(published_at=utcnow()))

    async def backlog(self) -> int:
        async with self._db.read_session() as session:
            count = await session.scalar(select(func.count()).select_from(_t).where(_t.c.published_at.is_(None)))
        return int(count or 0)

    async def prune(self, retention: timedelta) -> int:
        """Delete rows published longer than ``retention`` ago. Returns the count."""
        cutoff = utcnow() - retention
        async with self._db.writing() as session, session.begin():
            result = await session.execute(delete(_t).where(_t.c.published_at.is_not(None), _t.c.published_at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)
