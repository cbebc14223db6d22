"""The outbox as the relay sees it: unpublished rows in commit order, then marked.

Commit-order safety: rows are never skipped by position. A relay does not remember
"the highest id published so far" (a transaction holding a lower id may commit
later); it asks every time for the unpublished rows, so a late-committing row is
found on the next fetch.

Several relays on one PostgreSQL database share the outbox by *claiming* rows: a
claim leases rows to one relay (``claimed_by``, ``claimed_until``) in a short
transaction that locks them ``FOR UPDATE SKIP LOCKED``. Claimers of one outbox take
turns (a transaction-scoped advisory lock), and a row is not claimed while an earlier
row of the same aggregate is leased to another relay, so events of one aggregate
still reach the bus in version order. A relay that dies leaves its leases to expire;
another relay then publishes those rows again (JetStream drops the duplicate by
``Nats-Msg-Id``, and the consumer's inbox drops any that get through).
"""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, select, text, update

from isles.core.clock import utcnow
from isles.storage.db import ServiceDatabase
from isles.storage.schema import OUTBOX, outbox_table

_t = outbox_table
_unpublished = _t.c.published_at.is_(None)
# SQLite's statements, built once: building a statement per fetch cost as much as
# running it.
_HEAD = select(_t.c.id, _t.c.payload).where(_unpublished).order_by(_t.c.id).limit(bindparam("limit"))
_HEAD_IDS = select(_t.c.id).where(_unpublished).order_by(_t.c.id).limit(bindparam("limit"))
_BY_IDS = select(_t.c.id, _t.c.payload).where(_t.c.id.in_(bindparam("ids", expanding=True))).order_by(_t.c.id)
_MARK_SQLITE = (
    update(_t)
    .where(_t.c.id.in_(bindparam("ids", expanding=True)), _unpublished)
    .values(published_at=bindparam("now"), claimed_until=None)
)


def relay_identity() -> str:
    """host:pid:random — unique per relay instance, readable in the table."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


# Claimers take turns (the claim that follows then sees every claim made before it).
# The head below must be read in position order from the index of unpublished rows;
# statistics taken while that index was nearly empty make the planner prefer a bitmap
# scan of every unpublished row and a sort, so this transaction does without bitmap
# scans. Nor does it wait for its commit to reach the disk (see _NO_FLUSH_WAIT).
_TAKE_TURN = text(
    "SELECT pg_advisory_xact_lock(:k), set_config('enable_bitmapscan', 'off', true),"
    " set_config('synchronous_commit', 'off', true)"
)

# The relay's own bookkeeping (claims, marks) commits without waiting for the WAL
# flush: a claim or a mark lost in a database crash only makes a row published again,
# which the at-least-once design absorbs (JetStream and the inboxes drop duplicates).
# The events themselves are written by the unit of work, which does wait.
_NO_FLUSH_WAIT = text("SET LOCAL synchronous_commit = off")

# The claim reads a head of the unpublished rows in position order (at most ``head``
# rows) and takes from it, in position order, up to ``limit`` rows nobody holds and
# whose aggregate has no earlier row leased to another relay. Every unpublished row
# before a head row is in the head, so that is decided within the head. A row the
# head saw free is locked (SKIP LOCKED) and checked again as it is now before it is
# leased. ``exclude`` (this relay's own rows in hand) is a hashed NOT IN.
_CLAIM = text(
    f"""
    WITH head AS MATERIALIZED (
        SELECT id, claimed_until,
               bool_or(claimed_until >= now() AND claimed_by <> :me) OVER (
                   PARTITION BY aggregate_type, aggregate_id ORDER BY id
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
               ) AS blocked
        FROM (
            SELECT id, aggregate_type, aggregate_id, claimed_by, claimed_until
            FROM {OUTBOX} WHERE published_at IS NULL ORDER BY id LIMIT :head
        ) AS unpublished
    ),
    picked AS (
        SELECT o.id FROM {OUTBOX} o
        JOIN head h ON h.id = o.id
        WHERE (h.claimed_until IS NULL OR h.claimed_until < now())
          AND h.blocked IS NOT TRUE
          AND h.id NOT IN (SELECT unnest(CAST(:exclude AS BIGINT[])))
          AND o.published_at IS NULL
          AND (o.claimed_until IS NULL OR o.claimed_until < now())
        ORDER BY o.id
        LIMIT :limit
        FOR UPDATE OF o SKIP LOCKED
    )
    UPDATE {OUTBOX} t SET claimed_by = :me, claimed_until = now() + CAST(:lease AS INTERVAL)
    FROM picked WHERE t.id = picked.id
    RETURNING t.id, t.payload
    """
)

_MARK = text(
    f"UPDATE {OUTBOX} SET published_at = :now, claimed_until = NULL "
    "WHERE id = ANY(CAST(:ids AS BIGINT[])) AND published_at IS NULL"
)


def _lock_key(service: str) -> int:
    digest = hashlib.blake2b(f"isles-outbox:{service}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass(frozen=True)
class OutboxRecord:
    position: int
    payload: str


class SqlOutbox:
    """Reads and marks one service's outbox table."""

    def __init__(self, db: ServiceDatabase, *, claimer: str | None = None, lease: timedelta = timedelta(seconds=30)):
        self._db = db
        self.claimer = claimer or relay_identity()
        self._lease = lease

    @property
    def claims(self) -> bool:
        """Rows are leased (PostgreSQL, where several relays may share an outbox)."""
        return not self._db.is_sqlite

    async def fetch(self, limit: int, exclude: Collection[int] = ()) -> list[OutboxRecord]:
        """Up to ``limit`` unpublished rows, lowest position first, skipping ``exclude``.

        On PostgreSQL the rows are claimed for this relay (see the module docstring).
        """
        if self.claims:
            return await self._claim(limit, exclude)
        async with self._db.reading() as conn:
            if not exclude:
                rows = (await conn.execute(_HEAD, {"limit": limit})).all()
                return [OutboxRecord(position=r.id, payload=r.payload) for r in rows]
            # Rows in flight are skipped by id first, so their payloads are not read again.
            ids = (await conn.execute(_HEAD_IDS, {"limit": limit + len(exclude)})).scalars().all()
            wanted = [i for i in ids if i not in exclude][:limit]
            if not wanted:
                return []
            rows = (await conn.execute(_BY_IDS, {"ids": wanted})).all()
        return [OutboxRecord(position=r.id, payload=r.payload) for r in rows]

    async def _claim(self, limit: int, exclude: Collection[int]) -> list[OutboxRecord]:
        async with self._db.writing() as session, session.begin():
            # Claimers take turns; the claim below then sees every claim made before it.
            await session.execute(_TAKE_TURN, {"k": _lock_key(self._db.service)})
            rows = (
                await session.execute(
                    _CLAIM,
                    {
                        "me": self.claimer,
                        "lease": self._lease,
                        "limit": limit,
                        # Rows ahead of the batch: our own in flight, others' leases.
                        "head": 2 * limit + len(exclude),
                        "exclude": list(exclude),
                    },
                )
            ).all()
        return sorted((OutboxRecord(position=r.id, payload=r.payload) for r in rows), key=lambda r: r.position)

    async def release(self, positions: Sequence[int]) -> None:
        """Give up this relay's claim on rows it could not publish."""
        if not positions or not self.claims:
            return
        async with self._db.writing() as session, session.begin():
            await session.execute(
                update(_t)
                .where(_t.c.id.in_(positions), _t.c.claimed_by == self.claimer, _t.c.published_at.is_(None))
                .values(claimed_until=None)
            )

    async def oldest_unpublished_age(self) -> float:
        """Seconds since the oldest unpublished row was written (0 when none)."""
        async with self._db.read_session() as session:
            oldest: datetime | None = await session.scalar(
                select(func.min(_t.c.created_at)).where(_t.c.published_at.is_(None))
            )
        if oldest is None:
            return 0.0
        return max(0.0, (utcnow() - oldest).total_seconds())

    async def mark_published(self, positions: Sequence[int]) -> None:
        if not positions:
            return
        async with self._db.writing() as session, session.begin():
            if self.claims:  # one array parameter, one statement shape for any batch size
                await session.execute(_NO_FLUSH_WAIT)
                await session.execute(_MARK, {"ids": list(positions), "now": utcnow()})
                return
            await session.execute(_MARK_SQLITE, {"ids": list(positions), "now": utcnow()})

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
