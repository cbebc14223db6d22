"""Replicas: local copies of another service's data, kept from its events.

Two shapes, both declared on the service that keeps them:

* :class:`ReplicaTable` — a local copy table (``employee_copies``: id, name, active).
* :class:`DenormalizedColumns` — columns on a local table (``assignments.employee_name``).

Each row of a replica holds the source aggregate's version; an update applies only
when its version is newer, so duplicates and late deliveries change nothing. Events a
replica consumes must carry every replicated field (state, not a diff), else a late
event could leave a field stale.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from isles.consumer import Handler, HandlerContext
from isles.events import Event

Projection = Callable[[Any], Mapping[str, Any]]


class ReplicaError(ValueError):
    """A projection did not produce exactly the replicated columns."""


def _check_values(kind: str, columns: Sequence[str], values: Mapping[str, Any]) -> None:
    if set(values) != set(columns):
        raise ReplicaError(f"{kind}: projection gave {sorted(values)}, replica needs exactly {sorted(columns)}")


@dataclass(frozen=True)
class ReplicaTable:
    table: Table
    source: str  # "service.table" of the original
    events: Sequence[type[Event]]
    project: Projection  # event -> values of ``columns``
    columns: Sequence[str]
    key_column: str = "id"
    version_column: str = "version"

    @property
    def label(self) -> str:
        return f"replica {self.table.name} of {self.source}"

    def handlers(self) -> list[Handler]:
        async def apply(ctx: HandlerContext, event: Any) -> None:
            env = ctx.envelope
            await self.apply(ctx.uow.session, env.aggregateid, env.aggregateversion, self.project(event))

        return [Handler(event=e, fn=apply, name=self.label) for e in self.events]

    async def apply(self, session: AsyncSession, key: Any, version: int, values: Mapping[str, Any]) -> bool:
        """Insert or update the copy of ``key`` if ``version`` is newer. True if applied."""
        _check_values(self.label, self.columns, values)
        t = self.table
        key_value = t.c[self.key_column].type.python_type(key) if isinstance(key, str) else key
        row = {self.key_column: key_value, self.version_column: version, **values}
        dialect = session.get_bind().dialect.name
        ins: Any = (postgresql.insert(t) if dialect == "postgresql" else sqlite.insert(t)).values(**row)
        stmt = ins.on_conflict_do_update(
            index_elements=[t.c[self.key_column]],
            set_={c: ins.excluded[c] for c in (self.version_column, *self.columns)},
            where=t.c[self.version_column] < ins.excluded[self.version_column],
        )
        result = await session.execute(stmt)
        return bool(getattr(result, "rowcount", 0))

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
            await self.apply(ctx.uow.session, env.aggregateid, env.aggregateversion, self.project(event))

        return [Handler(event=e, fn=apply, name=self.label) for e in self.events]

    async def apply(self, session: AsyncSession, key: Any, version: int, values: Mapping[str, Any]) -> int:
        """Update every row carrying ``key`` whose copy is older. Returns rows changed."""
        _check_values(self.label, self.columns, values)
        t = self.table
        key_value = t.c[self.key_column].type.python_type(key) if isinstance(key, str) else key
        version_col = t.c[self.version_column]
        result = await session.execute(
            update(t)
            .where(t.c[self.key_column] == key_value, or_(version_col.is_(None), version_col < version))
            .values({self.version_column: version, **values})
        )
        return int(getattr(result, "rowcount", 0) or 0)


Replica = ReplicaTable | DenormalizedColumns
