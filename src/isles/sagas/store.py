"""Saga state in the orchestrating service's own database.

Every write is guarded: it names the version it read (and, for the process driving
the saga, itself as the lease owner); a write that finds another version changes
nothing and raises :class:`StaleState`, so two writers never both advance a saga.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import String, and_, cast, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from isles.core import failpoints, tracing
from isles.core.clock import utcnow
from isles.sagas.definition import Saga, SagaStatus, StepStatus
from isles.sagas.events import SagaFinished, ends, envelope, problem_slug, tenant_of
from isles.storage.db import ServiceDatabase
from isles.storage.schema import saga_steps_table, sagas_table
from isles.storage.uow import insert_outbox_rows, outbox_row

_s = sagas_table
_st = saga_steps_table
_IN_FLIGHT = (SagaStatus.RUNNING.value, SagaStatus.COMPENSATING.value)


class StaleState(Exception):
    """The saga changed since it was read (another writer), or the lease is gone."""


def dump(value: Any) -> str | None:
    return None if value is None else json.dumps(to_jsonable_python(value))


def _load(raw: str | None) -> Any:
    return None if raw is None else json.loads(raw)


@dataclass(frozen=True)
class StepState:
    position: int
    name: str
    status: StepStatus
    attempts: int
    result: Any
    error: dict[str, Any] | None
    compensation_attempts: int
    compensation_error: str | None
    callback_token: str | None
    started_at: datetime | None
    finished_at: datetime | None
    compensated_at: datetime | None


@dataclass(frozen=True)
class SagaState:
    id: uuid.UUID
    saga_type: str
    status: SagaStatus
    current_step: int
    data: dict[str, Any]
    error: dict[str, Any] | None
    tenant_id: str
    owner: str | None
    lease_until: datetime | None
    wake_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    steps: tuple[StepState, ...]

    @property
    def results(self) -> dict[str, Any]:
        return {s.name: s.result for s in self.steps if s.status is StepStatus.COMPLETED}

    def step(self, name: str) -> StepState:
        return next(s for s in self.steps if s.name == name)

    def as_dict(self) -> dict[str, Any]:
        """The saga as the API and the CLI show it (never a callback token)."""
        return {
            "id": str(self.id),
            "saga_type": self.saga_type,
            "status": self.status.value,
            "current_step": self.current_step,
            "data": self.data,
            "error": self.error,
            "tenant_id": self.tenant_id,
            "owner": self.owner,
            "lease_until": self.lease_until,
            "wake_at": self.wake_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "finished_at": self.finished_at,
            "steps": [
                {
                    "position": s.position,
                    "name": s.name,
                    "status": s.status.value,
                    "attempts": s.attempts,
                    "result": s.result,
                    "error": s.error,
                    "compensation_attempts": s.compensation_attempts,
                    "compensation_error": s.compensation_error,
                    "started_at": s.started_at,
                    "finished_at": s.finished_at,
                    "compensated_at": s.compensated_at,
                }
                for s in self.steps
            ],
        }


def _step(values: Mapping[Any, Any]) -> StepState:
    """A step from its row (or from the values just inserted, which lack what is empty)."""
    return StepState(
        position=values["position"],
        name=values["name"],
        status=StepStatus(values["status"]),
        attempts=values["attempts"],
        result=_load(values.get("result")),
        error=_load(values.get("error")),
        compensation_attempts=values["compensation_attempts"],
        compensation_error=values.get("compensation_error"),
        callback_token=values.get("callback_token"),
        started_at=values.get("started_at"),
        finished_at=values.get("finished_at"),
        compensated_at=values.get("compensated_at"),
    )


_JSON = ("data", "error", "result")


def _decoded(changes: dict[str, Any], kind: type[SagaStatus] | type[StepStatus]) -> dict[str, Any]:
    """Column values as the in-memory state holds them (statuses as enums, JSON parsed)."""
    out = {}
    for key, value in changes.items():
        if key == "status":
            value = kind(value)
        elif key in _JSON:
            value = _load(value)
        out[key] = value
    return out


def _applied(state: SagaState, saga: dict[str, Any], steps: Sequence[tuple[int, dict[str, Any]]]) -> SagaState:
    """``state`` with a write's changes, so the driver need not read the saga again."""
    rows = list(state.steps)
    for position, changes in steps:
        rows[position] = dataclasses.replace(rows[position], **_decoded(changes, StepStatus))
    return dataclasses.replace(state, **_decoded(saga, SagaStatus), steps=tuple(rows))


def _saga(row: Row[Any], steps: Sequence[StepState]) -> SagaState:
    return SagaState(
        id=row.id,
        saga_type=row.saga_type,
        status=SagaStatus(row.status),
        current_step=row.current_step,
        data=_load(row.data),
        error=_load(row.error),
        tenant_id=row.tenant_id,
        owner=row.owner,
        lease_until=row.lease_until,
        wake_at=row.wake_at,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        steps=tuple(steps),
    )


def finished_event(state: SagaState, service: str, finished_at: datetime) -> SagaFinished:
    """The event of ``state``, a saga just written in an end state."""
    failed = next((s for s in state.steps if s.error is not None), None)
    error = problem_slug(state.error)
    if state.status is SagaStatus.FAILED and error is None:
        error = "compensation-failed"
    started = state.created_at
    return SagaFinished(
        saga_id=state.id,
        saga=state.saga_type,
        service=service,
        status=state.status.value,  # an end state: the caller checks
        tenant=tenant_of(state.tenant_id),
        started_at=started,
        finished_at=finished_at,
        duration_seconds=round(max(0.0, (finished_at - started).total_seconds()), 3),
        steps=len(state.steps),
        completed_steps=sum(1 for s in state.steps if s.finished_at is not None and s.error is None),
        compensated_steps=tuple(s.name for s in state.steps if s.status is StepStatus.COMPENSATED),
        failed_step=failed.name if failed is not None else None,
        error=error,
        attempts=sum(s.attempts + s.compensation_attempts for s in state.steps),
    )


class SagaStore:
    """Reads and writes the sagas of one service's database, as process ``owner``.

    With ``publish`` (the service's name), a write that ends a saga (completed,
    compensated, failed) also writes an ``isles.SagaFinished`` event to the service's
    outbox, in the same transaction (see :mod:`isles.sagas.events`)."""

    def __init__(self, db: ServiceDatabase, *, owner: str, lease: timedelta, publish: str | None = None) -> None:
        self.db = db
        self.owner = owner
        self.lease = lease
        self.publish = publish

    async def create(
        self,
        session: AsyncSession,
        *,
        saga_id: uuid.UUID,
        saga: Saga,
        data: dict[str, Any],
        tenant_id: str,
        first: dict[str, Any],
    ) -> SagaState | None:
        """Write a new running saga, leased to this process, its first step marked with
        ``first`` (its first attempt counted). None if ``saga_id`` exists (on PostgreSQL a
        concurrent creator of the same id makes this wait, then None)."""
        now = utcnow()
        lease_until = now + self.lease
        dialect = session.get_bind().dialect.name
        ins: Any = postgresql.insert(_s) if dialect == "postgresql" else sqlite.insert(_s)
        row: dict[str, Any] = {
            "id": saga_id,
            "saga_type": saga.name,
            "status": SagaStatus.RUNNING.value,
            "current_step": 0,
            "data": dump(data),
            "tenant_id": tenant_id,
            "owner": self.owner,
            "lease_until": lease_until,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        result = await session.execute(ins.values(**row).on_conflict_do_nothing(index_elements=[_s.c.id]))
        if not getattr(result, "rowcount", 0):
            return None
        steps = [
            {
                "saga_id": saga_id,
                "position": i,
                "name": step.name,
                "status": StepStatus.PENDING.value,
                "attempts": 0,
                "compensation_attempts": 0,
                "started_at": None,
                "callback_token": None,
                **(first if i == 0 else {}),
            }
            for i, step in enumerate(saga.steps)
        ]
        await session.execute(insert(_st), steps)
        return SagaState(
            id=saga_id,
            saga_type=saga.name,
            status=SagaStatus.RUNNING,
            current_step=0,
            data=_load(dump(data)),
            error=None,
            tenant_id=tenant_id,
            owner=self.owner,
            lease_until=lease_until,
            wake_at=None,
            version=1,
            created_at=now,
            updated_at=now,
            finished_at=None,
            steps=tuple(_step(s) for s in steps),
        )

    async def load(self, saga_id: uuid.UUID, session: AsyncSession | None = None) -> SagaState | None:
        if session is None:
            async with self.db.read_session() as own:
                return await self.load(saga_id, own)
        row = (await session.execute(select(_s).where(_s.c.id == saga_id))).first()
        if row is None:
            return None
        steps = (await session.execute(select(_st).where(_st.c.saga_id == saga_id).order_by(_st.c.position))).all()
        return _saga(row, [_step(s._mapping) for s in steps])

    async def write(
        self,
        session: AsyncSession,
        state: SagaState,
        saga: dict[str, Any],
        steps: Sequence[tuple[int, dict[str, Any]]] = (),
        *,
        owned: bool = True,
    ) -> SagaState:
        """Change the saga (and some of its steps) if it is still at ``state.version`` and,
        when ``owned``, still leased to this process (the lease is renewed unless the
        change gives it up). Returns the saga as it now is."""
        now = utcnow()
        values = {**saga, "version": state.version + 1, "updated_at": now}
        q = update(_s).where(_s.c.id == state.id, _s.c.version == state.version)
        if owned:
            q = q.where(_s.c.owner == self.owner)
            if saga.get("owner", self.owner) is not None:
                values["lease_until"] = now + self.lease
        result = await session.execute(q.values(**values))
        if getattr(result, "rowcount", 0) != 1:
            raise StaleState(f"saga {state.id} changed since version {state.version}")
        for position, changes in steps:
            await session.execute(
                update(_st).where(_st.c.saga_id == state.id, _st.c.position == position).values(**changes)
            )
        written = _applied(state, values, steps)
        if "status" in saga and ends(written.status):
            if self.publish is not None:
                await self._announce(session, written, now)
            # failpoint: the saga's end (and its event) written, not yet committed
            await failpoints.hit(f"saga.{state.saga_type}.ending")
        return written

    async def _announce(self, session: AsyncSession, state: SagaState, now: datetime) -> None:
        """The saga's ``SagaFinished`` into the outbox, in the caller's transaction. Its
        aggregate version is the saga's own (it grows with every state write), so a
        retried failed saga that ends again is announced at a higher version."""
        assert self.publish is not None
        event = finished_event(state, self.publish, state.finished_at or now)
        written = envelope(
            event, service=self.publish, version=state.version, tenant_id=state.tenant_id, traceparent=tracing.current()
        )
        await insert_outbox_rows(session, session.get_bind().dialect.name, self.publish, [outbox_row(written)])

    async def acquire(self, saga_id: uuid.UUID) -> bool:
        """Lease an in-flight saga to this process, unless another process holds it."""
        now = utcnow()
        async with self.db.writing() as session, session.begin():
            result = await session.execute(
                update(_s)
                .where(
                    _s.c.id == saga_id,
                    _s.c.status.in_(_IN_FLIGHT),
                    or_(_s.c.owner.is_(None), _s.c.owner == self.owner, _s.c.lease_until < now),
                )
                .values(owner=self.owner, lease_until=now + self.lease)
            )
        return getattr(result, "rowcount", 0) == 1

    async def renew(self, saga_id: uuid.UUID) -> bool:
        async with self.db.writing() as session, session.begin():
            result = await session.execute(
                update(_s).where(_s.c.id == saga_id, _s.c.owner == self.owner).values(lease_until=utcnow() + self.lease)
            )
        return getattr(result, "rowcount", 0) == 1

    async def release(self, saga_id: uuid.UUID) -> None:
        async with self.db.writing() as session, session.begin():
            await session.execute(
                update(_s).where(_s.c.id == saga_id, _s.c.owner == self.owner).values(owner=None, lease_until=None)
            )

    async def release_all(self) -> int:
        """Drop every lease (SQLite at start: one process drives a SQLite database's sagas,
        so leases left by a killed process need not be waited out)."""
        async with self.db.writing() as session, session.begin():
            result = await session.execute(
                update(_s).where(_s.c.owner.is_not(None)).values(owner=None, lease_until=None)
            )
        return int(getattr(result, "rowcount", 0) or 0)

    async def reopen(self, saga_id: uuid.UUID) -> tuple[SagaState, str]:
        """An operator's retry. A failed saga goes back to compensating from its parked
        step, with that step's attempts counted anew; an in-flight saga loses its lease,
        so the next sweep of any process takes it up at once. Returns the saga as it was
        and what was done."""
        async with self.db.writing() as session, session.begin():
            state = await self.load(saga_id, session)
            if state is None:
                raise KeyError(f"no saga {saga_id}")
            free = {"owner": None, "lease_until": None}
            if state.status is SagaStatus.FAILED:
                step = (state.current_step, {"status": StepStatus.COMPENSATING.value, "compensation_attempts": 0})
                await self.write(session, state, {"status": SagaStatus.COMPENSATING.value, **free}, [step], owned=False)
                return state, "compensation resumes"
            if state.status.in_flight:
                await self.write(session, state, free, owned=False)
                return state, "resumes"
        return state, "finished: nothing to retry"

    async def due(self, limit: int = 100) -> list[uuid.UUID]:
        """In-flight sagas nobody drives (or whose driver's lease ran out) that are not
        waiting for a deferred step's answer before its deadline."""
        now = utcnow()
        q = (
            select(_s.c.id)
            .where(
                _s.c.status.in_(_IN_FLIGHT),
                or_(_s.c.owner.is_(None), _s.c.lease_until < now),
                or_(_s.c.wake_at.is_(None), _s.c.wake_at <= now),
            )
            .order_by(_s.c.updated_at)
            .limit(limit)
        )
        async with self.db.read_session() as session:
            return list((await session.scalars(q)).all())

    async def ids_starting(self, prefix: str, limit: int = 10) -> list[uuid.UUID]:
        """Ids of sagas whose id starts with ``prefix`` (hex digits, dashes ignored)."""
        digits = prefix.replace("-", "").lower()
        if not digits or any(c not in "0123456789abcdef" for c in digits):
            return []
        if self.db.is_sqlite:  # a UUID is stored as 32 hex digits
            text_id: ColumnElement[str] = cast(_s.c.id, String)
        else:
            text_id = func.replace(cast(_s.c.id, String), "-", "")
        q = select(_s.c.id).where(text_id.like(f"{digits}%")).order_by(_s.c.id).limit(limit)
        async with self.db.read_session() as session:
            return list((await session.scalars(q)).all())

    async def find(
        self,
        *,
        status: Sequence[str] = (),
        saga_type: str | None = None,
        tenant_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[SagaState], int]:
        """Sagas newest first, with their steps; and how many match in all."""
        where: list[ColumnElement[bool]] = []
        if tenant_id is not None:
            where.append(_s.c.tenant_id == tenant_id)
        if status:
            where.append(_s.c.status.in_(list(status)))
        if saga_type:
            where.append(_s.c.saga_type == saga_type)
        cond = and_(*where) if where else None
        q = select(_s).order_by(_s.c.created_at.desc(), _s.c.id).limit(limit).offset(offset)
        count = select(func.count()).select_from(_s)
        if cond is not None:
            q, count = q.where(cond), count.where(cond)
        async with self.db.read_session() as session:
            rows = (await session.execute(q)).all()
            total = int(await session.scalar(count) or 0)
            ids = [r.id for r in rows]
            steps: dict[uuid.UUID, list[StepState]] = {i: [] for i in ids}
            if ids:
                for s in (
                    await session.execute(select(_st).where(_st.c.saga_id.in_(ids)).order_by(_st.c.position))
                ).all():
                    steps[s.saga_id].append(_step(s._mapping))
        return [_saga(r, steps[r.id]) for r in rows], total

    async def counts(self) -> dict[tuple[str, str], int]:
        """(saga type, status) -> how many sagas, for the in-flight gauge."""
        async with self.db.read_session() as session:
            rows = (
                await session.execute(
                    select(_s.c.saga_type, _s.c.status, func.count()).group_by(_s.c.saga_type, _s.c.status)
                )
            ).all()
        return {(t, s): int(n) for t, s, n in rows}

    async def prune(self, retention: timedelta) -> int:
        """Delete sagas that finished (completed or compensated) over ``retention`` ago."""
        cutoff = utcnow() - retention
        finished = [SagaStatus.COMPLETED.value, SagaStatus.COMPENSATED.value]
        async with self.db.writing() as session, session.begin():
            old = select(_s.c.id).where(_s.c.status.in_(finished), _s.c.finished_at < cutoff)
            await session.execute(delete(_st).where(_st.c.saga_id.in_(old)))
            result = await session.execute(delete(_s).where(_s.c.status.in_(finished), _s.c.finished_at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)
