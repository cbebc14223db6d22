"""Replicas: local copies of another service's data, kept from its events.

Two shapes, both declared on the service that keeps them:

* :class:`ReplicaTable` — a local copy table (``employee_copies``: id, name, active).
* :class:`DenormalizedColumns` — columns on a local table (``assignments.employee_name``).

Each row of a replica holds the source aggregate's version; an update applies only
when its version is newer, so duplicates and late deliveries change nothing. Events a
replica consumes must carry every replicated field (state, not a diff), else a late
event could leave a field stale.

A batch of events is applied set-wise (:meth:`ReplicaTable.apply_many`): the newest
version per key, in one statement executed for all keys at once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from isles.core.events import Envelope, Event
from isles.messaging.consumer import Handler, HandlerContext
from isles.storage.uow import UnitOfWork

Projection = Callable[[Any], Mapping[str, Any]]


class ReplicaError(ValueError):
    """A projection did not produce exactly the replicated columns."""


def _check_values(kind: str, columns: Sequence[str], values: Mapping[str, Any]) -> None:
    if set(values) != set(columns):
        raise ReplicaError(f"{kind}: projection gave {sorted(values)}, replica needs exactly {sorted(columns)}")


def _newest(
    kind: str, columns: Sequence[str], project: Projection, pairs: Sequence[tuple[Envelope, Any]]
) -> dict[str, tuple[int, Mapping[str, Any], bool]]:
    """Per aggregate id: the newest version among ``pairs``, its projected values and
    whether it is a repair (:attr:`Envelope.repair`: applied at an equal version too)."""
    newest: dict[str, tuple[int, Mapping[str, Any], bool]] = {}
    for env, event in pairs:
        held = newest.get(env.aggregateid)
        if held is None or held[0] < env.aggregateversion or (env.repair and held[0] == env.aggregateversion):
            values = project(event)
            _check_values(kind, columns, values)
            newest[env.aggregateid] = (env.aggregateversion, values, env.repair)
    return newest


def _key_type(table: Table, column: str) -> Callable[[str], Any]:
    converter: Callable[[str], Any] = table.c[column].type.python_type
    return converter


@dataclass(frozen=True)
class ReplicaTable:
    table: Table
    source: str  # "service.table" of the original
    events: Sequence[type[Event]]
    project: Projection  # event -> values of ``columns``
    columns: Sequence[str]
    key_column: str = "id"
    version_column: str = "version"
    #: Whether the copy holds every row of the source at its version (``isles audit``
    #: then reports missing and stale rows). False for a copy kept from only some of
    #: the source's events (a company's policies, from its settings changes): the
    #: source's version moves with events it never sees, and rows never changed by
    #: them are never copied; the audit then reports only extra rows.
    complete: bool = True

    @property
    def label(self) -> str:
        return f"replica {self.table.name} of {self.source}"

    def handlers(self) -> list[Handler]:
        async def apply(ctx: HandlerContext, event: Any) -> None:
            env = ctx.envelope
            await self.apply(
                ctx.uow.session, env.aggregateid, env.aggregateversion, self.project(event), repair=env.repair
            )

        async def many(uow: UnitOfWork, pairs: Sequence[tuple[Envelope, Any]]) -> None:
            await self.apply_many(uow.session, pairs)

        return [Handler(event=e, fn=apply, name=self.label, many=many) for e in self.events]

    def _upsert(self, dialect: str, repair: bool = False) -> Any:
        """INSERT the copy, or UPDATE it where the stored version is older — or, for a
        repair, not newer (made once per dialect)."""
        made: dict[tuple[str, bool], Any] = self.__dict__.setdefault("_upserts", {})  # a cache; frozen dataclass
        if (dialect, repair) not in made:
            t = self.table
            ins: Any = postgresql.insert(t) if dialect == "postgresql" else sqlite.insert(t)
            held, given = t.c[self.version_column], ins.excluded[self.version_column]
            made[dialect, repair] = ins.on_conflict_do_update(
                index_elements=[t.c[self.key_column]],
                set_={c: ins.excluded[c] for c in (self.version_column, *self.columns)},
                where=held <= given if repair else held < given,
            )
        return made[dialect, repair]

    async def apply(
        self, session: AsyncSession, key: Any, version: int, values: Mapping[str, Any], *, repair: bool = False
    ) -> bool:
        """Insert or update the copy of ``key`` if ``version`` is newer (a repair: not
        older). True if applied."""
        _check_values(self.label, self.columns, values)
        key_value = _key_type(self.table, self.key_column)(key) if isinstance(key, str) else key
        row = {self.key_column: key_value, self.version_column: version, **values}
        result = await session.execute(self._upsert(session.get_bind().dialect.name, repair), row)
        return bool(getattr(result, "rowcount", 0))

    async def apply_many(self, session: AsyncSession, pairs: Sequence[tuple[Envelope, Any]]) -> None:
        """:meth:`apply` for a batch of events: the newest version per key, one statement
        (and one more for repairs, if the batch holds any)."""
        newest = _newest(self.label, self.columns, self.project, pairs)
        convert = _key_type(self.table, self.key_column)
        rows = [
            {self.key_column: convert(key), self.version_column: version, **values}
            for key, (version, values, repair) in newest.items()
            if not repair
        ]
        dialect = session.get_bind().dialect.name
        if rows:
            await session.execute(self._upsert(dialect), rows)
        if len(rows) < len(newest):
            repairs = [
                {self.key_column: convert(key), self.version_column: version, **values}
                for key, (version, values, repair) in newest.items()
                if repair
            ]
            await session.execute(self._upsert(dialect, True), repairs)

    async def lock(self, session: AsyncSession, key: Any) -> Any:
        """Read the copy of ``key`` and hold it until commit (no concurrent update)."""
        t = self.table
        row = (await session.execute(select(t).where(t.c[self.key_column] == key).with_for_update())).first()
        return row


@dataclass(frozen=True)
class DenormalizedColumns:
    table: Table
    source: str  # "service.table" of the original
    key_column: str  # the reference column on ``table``
    version_column: str
    columns: Sequence[str]
    events: Sequence[type[Event]]
    project: Projection

    @property
    def label(self) -> str:
        return f"{self.table.name}.{{{', '.join(self.columns)}}} from {self.source}"

    def handlers(self) -> list[Handler]:
        async def apply(ctx: HandlerContext, event: Any) -> None:
            env = ctx.envelope
            await self.apply(
                ctx.uow.session, env.aggregateid, env.aggregateversion, self.project(event), repair=env.repair
            )

        async def many(uow: UnitOfWork, pairs: Sequence[tuple[Envelope, Any]]) -> None:
            await self.apply_many(uow.session, pairs)

        return [Handler(event=e, fn=apply, name=self.label, many=many) for e in self.events]

    def _statement(self, repair: bool) -> Any:
        t = self.table
        version_col = t.c[self.version_column]
        given: Any = bindparam("b_version")
        return (
            update(t)
            .where(
                t.c[self.key_column] == bindparam("b_key"),
                or_(version_col.is_(None), version_col <= given if repair else version_col < given),
            )
            .values({self.version_column: given, **{c: bindparam(f"b_{c}") for c in self.columns}})
        )

    @functools.cached_property
    def _update(self) -> Any:
        """UPDATE the copies of one key that are older; parameters ``b_key``, ``b_version``, ``b_<column>``."""
        return self._statement(False)

    @functools.cached_property
    def _repair(self) -> Any:
        """:attr:`_update` for a repair: the copies not newer."""
        return self._statement(True)

    def _params(self, key: Any, version: int, values: Mapping[str, Any]) -> dict[str, Any]:
        return {"b_key": key, "b_version": version, **{f"b_{c}": v for c, v in values.items()}}

    async def apply(
        self, session: AsyncSession, key: Any, version: int, values: Mapping[str, Any], *, repair: bool = False
    ) -> int:
        """Update every row carrying ``key`` whose copy is older (a repair: not newer).
        Returns rows changed."""
        _check_values(self.label, self.columns, values)
        key_value = _key_type(self.table, self.key_column)(key) if isinstance(key, str) else key
        result = await session.execute(
            self._repair if repair else self._update, self._params(key_value, version, values)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def apply_many(self, session: AsyncSession, pairs: Sequence[tuple[Envelope, Any]]) -> None:
        """:meth:`apply` for a batch of events: the newest version per key, one statement
        executed for all keys (and one more for repairs, if the batch holds any)."""
        newest = _newest(self.label, self.columns, self.project, pairs)
        convert = _key_type(self.table, self.key_column)
        params = [
            self._params(convert(key), version, values)
            for key, (version, values, repair) in newest.items()
            if not repair
        ]
        if params:
            await session.execute(self._update, params)
        if len(params) < len(newest):
            repairs = [
                self._params(convert(key), version, values)
                for key, (version, values, repair) in newest.items()
                if repair
            ]
            await session.execute(self._repair, repairs)


Replica = ReplicaTable | DenormalizedColumns
