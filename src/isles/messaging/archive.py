"""An archive of events, and read models kept from it (CQRS), rebuildable while the
system runs.

:class:`EventArchive` — a service keeps every event of the types it names, as
published (the CloudEvents envelope, its time, type, source, tenant), in one
append-only table, written in the inbox transaction that takes the event (so the
archive holds an event exactly when the inbox does). ``isles audit`` checks it against
the producers' outboxes (``archive <service>``); ``isles reconcile`` fetches what it
missed from them.

:class:`ReadModel` — tables kept from the archived events by one function per event
type, each row tagged with a *generation*. Live events go to the active generation,
in the same transaction as their archive row. ``rebuild`` replays the archive into a
new generation while events keep arriving and swaps it in:

1. Under the model's state row locked for update (``FOR UPDATE``: every transaction
   applying live events holds it ``FOR SHARE``, so none is in flight), the archive's
   newest position ``W`` is read and the new generation named. Every archive row up
   to ``W`` is committed then (a live transaction takes the lock before it gets a
   position).
2. The rows up to ``W`` of the event types the model keeps anything from are
   replayed into the new generation in position order (one aggregate's events in the
   order they were applied), batch by batch, without holding the lock.
3. Again under the lock: the rows that arrived meanwhile are replayed too, and, once
   few enough are left to replay under the lock, the new generation becomes the
   active one in that transaction. Nothing is missed: an event is either in the
   archive before the last locked read, or applied after the swap to the new
   generation.
4. The old generation's rows are deleted.

A model's functions write rows from the event and its envelope only (a time is the
envelope's ``time``, never the clock's), so a replay writes what live events wrote.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from isles.core.clock import utcnow
from isles.core.events import Envelope, Event
from isles.messaging.consumer import Handler, HandlerContext
from isles.storage.db import ServiceDatabase
from isles.storage.schema import UTCDateTime
from isles.storage.tenancy import ACROSS_TENANTS
from isles.storage.uow import UnitOfWork

_Position = BigInteger().with_variant(Integer(), "sqlite")

#: What a read model does with one event: ``(session, event, envelope, generation)``.
ModelFn = Callable[[AsyncSession, Any, Envelope, int], Awaitable[None]]
#: What a set-wise read model does with a batch: ``(session, [(envelope, event)], generation)``,
#: the batch's events of the model's types in the order they were taken.
BatchFn = Callable[[AsyncSession, Sequence[tuple[Envelope, Any]], int], Awaitable[None]]

READ_MODELS = "isles_read_models"
READ_MODEL_STAMPS = "isles_read_model_stamps"
#: ``Table.info`` key marking a table whose shape is the platform's (the archive, the
#: read models' states): ``isles lint`` reviews it with the platform, not the service.
PLATFORM_TABLE = "isles.platform_table"


@dataclass(frozen=True)
class ReadModel:
    """Tables kept from archived events. ``version``: raise it when the functions
    change what they write; a model whose stored version differs needs a rebuild
    (``isles readmodels list`` says so). Every table has an integer ``generation``
    column, part of its key; the functions write the generation they are given.

    Either ``handlers`` (one function per event type, called per event) or ``apply``
    with ``events`` (one function given every event of those types in a batch, in
    order, to write them set-wise: a batch of the consumer's live events, or of a
    rebuild's replay — the same function both ways)."""

    name: str
    version: int
    tables: Sequence[Table]
    handlers: Mapping[type[Event], ModelFn] = field(default_factory=dict)
    apply: BatchFn | None = None
    events: Sequence[type[Event]] = ()

    @property
    def event_types(self) -> frozenset[str]:
        """The types of the events it keeps anything from (a rebuild reads only these)."""
        return frozenset(e.event_type for e in (*self.handlers, *self.events))

    def __post_init__(self) -> None:
        if (self.apply is None) == (not self.handlers) or (self.apply is not None and not self.events):
            raise ValueError(f"read model {self.name}: give either handlers, or apply with its events")
        for table in self.tables:
            if "generation" not in table.c or not table.c.generation.primary_key:
                raise ValueError(f"read model {self.name}: table {table.name} needs a generation column in its key")


@dataclass
class ModelState:
    name: str
    version: int  # the version its active generation was built by
    active: int
    building: int | None
    events: int  # archive rows applied to the active generation when it was built
    rebuilt_at: datetime | None
    code_version: int = 0

    @property
    def stale(self) -> bool:
        return self.version != self.code_version


def add_read_model_state(metadata: MetaData) -> Table:
    existing = metadata.tables.get(READ_MODELS)
    if existing is not None:
        return existing
    return Table(
        READ_MODELS,
        metadata,
        Column("name", String(100), primary_key=True),
        Column("version", Integer, nullable=False),
        Column("active", Integer, nullable=False),
        Column("building", Integer, nullable=True),
        Column("events", BigInteger, nullable=False),
        Column("rebuilt_at", UTCDateTime, nullable=True),
        info={PLATFORM_TABLE: "read model states"},
    )


def add_read_model_stamps(metadata: MetaData) -> Table:
    existing = metadata.tables.get(READ_MODEL_STAMPS)
    if existing is not None:
        return existing
    return Table(
        READ_MODEL_STAMPS,
        metadata,
        Column("model", String(100), primary_key=True),
        Column("tenant_id", String(100), primary_key=True),
        # random, new in every transaction that changes the company's rows of the model:
        # never the same twice (not after a restore either, not in another deployment)
        Column("stamp", String(32), nullable=False),
        info={PLATFORM_TABLE: "read model stamps"},
    )


@dataclass
class RebuildResult:
    model: str
    generation: int
    events: int  # archive rows replayed
    passes: int  # replays outside the lock (the last one ran under it)


class EventArchive:
    """The append-only archive of the events of ``events``' types, in the table
    ``name`` of ``metadata``, and the read models kept from it."""

    def __init__(
        self,
        metadata: MetaData,
        events: Sequence[type[Event]],
        *,
        name: str = "analytics_events",
        read_models: Sequence[ReadModel] = (),
        batch_size: int = 2000,
    ) -> None:
        self.events = tuple(dict.fromkeys(events))
        self.types = {e.event_type: e for e in self.events}
        self.read_models = {m.name: m for m in read_models}
        self.batch_size = batch_size
        self.table = Table(
            name,
            metadata,
            # the order the service took the events in (one aggregate's in version order)
            Column("position", _Position, primary_key=True, autoincrement=True),
            Column("event_id", String(36), nullable=False, unique=True),
            Column("event_type", String(200), nullable=False),
            Column("source", String(200), nullable=False),
            Column("aggregate_type", String(100), nullable=False),
            Column("aggregate_id", String(100), nullable=False),
            Column("aggregate_version", Integer, nullable=False),
            Column("schema_version", Integer, nullable=False),
            Column("tenant_id", String(100), nullable=False, default=""),
            Column("occurred_at", UTCDateTime, nullable=False),  # the event's time
            Column("archived_at", UTCDateTime, nullable=False, default=utcnow),
            Column("envelope", Text, nullable=False),  # the CloudEvent as published (JSON)
            Index(f"idx_{name}_event_type_occurred_at", "event_type", "occurred_at"),
            Index(f"idx_{name}_tenant_id_occurred_at", "tenant_id", "occurred_at"),
            info={PLATFORM_TABLE: "event archive"},
        )
        self.state = add_read_model_state(metadata) if read_models else None
        self.stamps = add_read_model_stamps(metadata) if read_models else None
        self._bumps = (
            {
                name: d.insert(self.stamps).on_conflict_do_update(
                    index_elements=["model", "tenant_id"], set_={"stamp": d.insert(self.stamps).excluded.stamp}
                )
                for name, d in (("postgresql", postgresql), ("sqlite", sqlite))
            }
            if self.stamps is not None
            else {}
        )
        self._inserts = {
            "postgresql": postgresql.insert(self.table).on_conflict_do_nothing(index_elements=["event_id"]),
            "sqlite": sqlite.insert(self.table).on_conflict_do_nothing(index_elements=["event_id"]),
        }

    # --- taking events --------------------------------------------------------------------

    def handlers(self) -> list[Handler]:
        async def one(ctx: HandlerContext, event: Any) -> None:
            await self.take(ctx.uow.session, [(ctx.envelope, event)])

        async def many(uow: UnitOfWork, pairs: Sequence[tuple[Envelope, Any]]) -> None:
            await self.take(uow.session, pairs)

        return [Handler(event=e, fn=one, name=f"archive {self.table.name}", many=many) for e in self.events]

    @staticmethod
    def row(envelope: Envelope) -> dict[str, Any]:
        return {
            "event_id": envelope.id,
            "event_type": envelope.type,
            "source": envelope.source,
            "aggregate_type": envelope.aggregatetype,
            "aggregate_id": envelope.aggregateid,
            "aggregate_version": envelope.aggregateversion,
            "schema_version": envelope.schemaversion,
            "tenant_id": envelope.tenantid,
            "occurred_at": envelope.time,
            "archived_at": utcnow(),
            "envelope": envelope.to_json(),
        }

    async def take(self, session: AsyncSession, pairs: Sequence[tuple[Envelope, Any]]) -> None:
        """Archive ``pairs`` and apply them to each read model's active generation, in
        the caller's transaction (the inbox's)."""
        if not pairs:
            return
        generations = await self._active(session) if self.read_models else {}
        dialect = session.get_bind().dialect.name
        await session.execute(self._inserts[dialect], [self.row(env) for env, _ in pairs])
        for name, generation in generations.items():
            model = self.read_models[name]
            touched = await self._apply(session, model, generation, pairs)
            if touched:  # the figures of these companies changed: their cached ones are old
                rows = [{"model": name, "tenant_id": t, "stamp": uuid.uuid4().hex} for t in sorted(touched)]
                await session.execute(self._bumps[dialect], rows)

    async def _active(self, session: AsyncSession, *, lock: bool = True) -> dict[str, int]:
        """Each read model's active generation, its state row locked FOR SHARE (on
        PostgreSQL) until the transaction ends: a rebuild's swap waits for it. A model
        never built yet gets its first generation now."""
        assert self.state is not None
        s = self.state
        q = select(s.c.name, s.c.active).where(s.c.name.in_(list(self.read_models)))
        if lock and session.get_bind().dialect.name == "postgresql":
            q = q.with_for_update(read=True)
        found = dict((await session.execute(q)).all())
        missing = [name for name in self.read_models if name not in found]
        if missing:
            await self._create_states(session, missing)
            found.update(dict((await session.execute(q)).all()))
        return found

    async def _create_states(self, session: AsyncSession, names: Sequence[str]) -> None:
        assert self.state is not None
        dialect = session.get_bind().dialect.name
        ins: Any = postgresql.insert(self.state) if dialect == "postgresql" else sqlite.insert(self.state)
        rows = [
            {
                "name": n,
                "version": self.read_models[n].version,
                "active": 1,
                "building": None,
                "events": 0,
                "rebuilt_at": None,
            }
            for n in names
        ]
        await session.execute(ins.on_conflict_do_nothing(index_elements=["name"]), rows)

    # --- reading ----------------------------------------------------------------------------

    async def generation(self, session: AsyncSession, model: str) -> int:
        """The generation of ``model`` readers read (its active one)."""
        assert self.state is not None
        s = self.state
        found = await session.scalar(select(s.c.active).where(s.c.name == model))
        return int(found) if found is not None else 1

    async def stamp(self, session: AsyncSession, model: str, tenant: str) -> str:
        """What a cached figure of ``model`` for the company ``tenant`` is keyed by: the
        active generation, when it was built, and a random token replaced in every
        transaction that applies an event of the company to the model."""
        assert self.stamps is not None
        assert self.state is not None
        t, s = self.stamps, self.state
        token = await session.scalar(select(t.c.stamp).where(t.c.model == model, t.c.tenant_id == tenant))
        state = (await session.execute(select(s.c.active, s.c.rebuilt_at).where(s.c.name == model))).first()
        generation, built = (state[0], state[1]) if state is not None else (1, None)
        return f"{generation}.{built.timestamp() if built else 0}.{token or '-'}"

    async def states(self, db: ServiceDatabase) -> list[ModelState]:
        assert self.state is not None
        s = self.state
        async with db.read_session(tenant=ACROSS_TENANTS) as session:
            rows = {r.name: r for r in (await session.execute(select(s))).all()}
        result = []
        for name, model in self.read_models.items():
            r = rows.get(name)
            if r is None:
                result.append(ModelState(name, model.version, 1, None, 0, None, model.version))
            else:
                result.append(
                    ModelState(
                        name, r.version, r.active, r.building, r.events, r.rebuilt_at, code_version=model.version
                    )
                )
        return result

    async def count(self, db: ServiceDatabase) -> int:
        async with db.read_session(tenant=ACROSS_TENANTS) as session:
            return int(await session.scalar(select(func.count()).select_from(self.table)) or 0)

    async def replay(
        self,
        session: AsyncSession,
        *,
        after: int = 0,
        upto: int | None = None,
        batch: int | None = None,
        types: Collection[str] | None = None,
    ) -> AsyncIterator[list[tuple[int, Envelope, Event]]]:
        """The archived events after position ``after`` (up to ``upto``; of ``types``
        only, when given: the others are not even read), decoded and upcast to their
        contract's current version, in position order, a batch at a time."""
        t = self.table
        size = batch or self.batch_size
        while True:
            q = select(t.c.position, t.c.envelope).where(t.c.position > after)
            if upto is not None:
                q = q.where(t.c.position <= upto)
            if types is not None:
                q = q.where(t.c.event_type.in_(sorted(types)))
            rows = (await session.execute(q.order_by(t.c.position).limit(size))).all()
            if not rows:
                return
            out = []
            for position, raw in rows:
                env = Envelope.from_json(raw)
                kind = self.types.get(env.type)
                if kind is not None:
                    out.append((int(position), env, kind.from_envelope(env)))
            yield out
            after = int(rows[-1][0])
            if len(rows) < size:
                return

    # --- rebuilding -------------------------------------------------------------------------

    async def rebuild(
        self, db: ServiceDatabase, name: str, *, progress: Callable[[int], None] | None = None
    ) -> RebuildResult:
        """Replay the archive into a new generation of ``name`` while events arrive,
        swap it in, and delete the old one (see the module's doc)."""
        model = self.read_models[name]
        assert self.state is not None
        s = self.state
        async with db.writing(tenant=ACROSS_TENANTS) as session, session.begin():
            await self._active(session, lock=False)
            state = (await session.execute(_locked(select(s).where(s.c.name == name), session))).one()
            generation = max(state.active, state.building or 0) + 1
            upto = await self._newest(session)
            await session.execute(update(s).where(s.c.name == name).values(building=generation))
            for table in model.tables:  # a rebuild that died before may have left rows
                await session.execute(delete(table).where(table.c.generation == generation))
        done, passes, applied = 0, 0, 0
        while True:
            applied += await self._replay_into(db, model, generation, done, upto, progress, applied)
            done = upto
            passes += 1
            async with db.writing(tenant=ACROSS_TENANTS) as session, session.begin():
                state = (await session.execute(_locked(select(s).where(s.c.name == name), session))).one()
                if state.building != generation:
                    raise RuntimeError(f"read model {name}: another rebuild took over (generation {state.building})")
                upto = await self._newest(session)
                if upto - done <= self.batch_size:
                    async for chunk in self.replay(session, after=done, upto=upto, types=model.event_types):
                        await self._apply(session, model, generation, [(env, event) for _, env, event in chunk])
                        applied += len(chunk)
                    old = state.active
                    await session.execute(
                        update(s)
                        .where(s.c.name == name)
                        .values(
                            active=generation, building=None, version=model.version, events=applied, rebuilt_at=utcnow()
                        )
                    )
                    break
        for table in model.tables:
            async with db.writing(tenant=ACROSS_TENANTS) as session, session.begin():
                await session.execute(delete(table).where(table.c.generation == old))
        return RebuildResult(name, generation, applied, passes)

    async def _newest(self, session: AsyncSession) -> int:
        return int(await session.scalar(select(func.max(self.table.c.position))) or 0)

    async def _replay_into(
        self,
        db: ServiceDatabase,
        model: ReadModel,
        generation: int,
        after: int,
        upto: int,
        progress: Callable[[int], None] | None,
        applied: int,
    ) -> int:
        count = 0
        while after < upto:
            async with db.writing(tenant=ACROSS_TENANTS) as session, session.begin():
                chunk: list[tuple[int, Envelope, Event]] = []
                async for part in self.replay(session, after=after, upto=upto, types=model.event_types):
                    chunk = part
                    break
                if not chunk:
                    return count
                await self._apply(session, model, generation, [(env, event) for _, env, event in chunk])
            after = chunk[-1][0]
            count += len(chunk)
            if progress is not None:
                progress(applied + count)
        return count

    @staticmethod
    async def _apply(
        session: AsyncSession, model: ReadModel, generation: int, pairs: Sequence[tuple[Envelope, Any]]
    ) -> set[str]:
        """Apply ``pairs`` to ``generation`` of ``model``; the tenants of the events it took."""
        touched: set[str] = set()
        if model.apply is not None:
            kinds = set(model.events)
            mine = [(env, event) for env, event in pairs if type(event) in kinds]
            if mine:
                await model.apply(session, mine, generation)
                touched.update(env.tenantid for env, _ in mine)
            return touched
        for env, event in pairs:
            fn = model.handlers.get(type(event))
            if fn is not None:
                await fn(session, event, env, generation)
                touched.add(env.tenantid)
        return touched


def _locked(q: Any, session: AsyncSession) -> Any:
    return q.with_for_update() if session.get_bind().dialect.name == "postgresql" else q
