"""References to other services' entities: a UUID column, indexed, never a foreign key.

Declare one with :func:`reference` (ORM) or :func:`reference_column` (Core). The column
carries its target in ``Column.info``, so the registry, ``isles lint``, ``isles map``
and ``isles audit`` find every cross-service reference without configuration.

Two more things a reference may declare, for ``isles audit``:

* ``live`` — a column of the *target* table that says whether its row still counts:
  a date-time (``deleted_at``: the row is gone once it is set) or a boolean
  (``is_active``: gone once false). A reference to a row that exists but is gone is
  then an orphan too (kind ``inactive``); without ``live``, only a missing row is.
* ``on_orphan`` — what ``isles audit --repair`` does with the rows that hold an
  orphaned id (:class:`Orphans`): report them only (the default), set the reference to
  NULL (``Orphans.nullify()``; the column must be nullable), or mark them
  (``Orphans.mark("reference_lost_at")``: a nullable date-time column set to the time
  of the repair, or a boolean set to true).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, MetaData, Table, Uuid
from sqlalchemy.orm import MappedColumn, mapped_column

INFO_KEY = "isles_reference"
#: ``Column.info`` keys of a reference's orphan policy and liveness column.
ORPHANS_KEY = "isles_on_orphan"
LIVE_KEY = "isles_live"


@dataclass(frozen=True)
class Orphans:
    """What ``isles audit --repair`` does with rows holding an orphaned reference."""

    policy: str = "report"  # "report", "nullify" or "mark"
    column: str | None = None  # the column "mark" sets

    def __post_init__(self) -> None:
        if self.policy not in ("report", "nullify", "mark"):
            raise ValueError(f"orphan policy {self.policy!r}: report, nullify or mark")
        if (self.policy == "mark") != (self.column is not None):
            raise ValueError("Orphans.mark(column) names the column it sets; the other policies none")

    @classmethod
    def report(cls) -> Orphans:
        return cls("report")

    @classmethod
    def nullify(cls) -> Orphans:
        return cls("nullify")

    @classmethod
    def mark(cls, column: str) -> Orphans:
        return cls("mark", column)

    def __str__(self) -> str:
        return f"mark {self.column}" if self.policy == "mark" else self.policy


def _info(target: str, nullable: bool, on_orphan: Orphans | None, live: str | None) -> dict[str, Any]:
    _split(target)
    info: dict[str, Any] = {INFO_KEY: target}
    if on_orphan is not None and on_orphan.policy != "report":
        if on_orphan.policy == "nullify" and not nullable:
            raise ValueError(f"reference to {target}: Orphans.nullify() needs a nullable column")
        info[ORPHANS_KEY] = on_orphan
    if live:
        info[LIVE_KEY] = live
    return info


class BoundaryError(ValueError):
    """A service's schema reaches outside its own database."""


def _split(target: str) -> tuple[str, str]:
    service, dot, table = target.partition(".")
    if not dot or not service or not table:
        raise ValueError(f"reference target {target!r} must be 'service.table'")
    return service, table


def reference(
    target: str,
    *,
    nullable: bool = False,
    primary_key: bool = False,
    doc: str | None = None,
    on_orphan: Orphans | None = None,
    live: str | None = None,
) -> MappedColumn[Any]:
    """A column holding the id of a row owned by another service (``"service.table"``);
    ``primary_key`` for a replica's key (the copy of that row). ``live`` and
    ``on_orphan``: see the module's doc."""
    return mapped_column(
        Uuid,
        nullable=nullable,
        primary_key=primary_key,
        index=not primary_key,
        info=_info(target, nullable, on_orphan, live),
        doc=doc,
    )


def reference_column(
    name: str, target: str, *, nullable: bool = False, on_orphan: Orphans | None = None, live: str | None = None
) -> Column[Any]:
    return Column(name, Uuid, nullable=nullable, index=True, info=_info(target, nullable, on_orphan, live))


@dataclass(frozen=True)
class Reference:
    service: str
    table: str
    column: str
    target_service: str
    target_table: str
    nullable: bool
    on_orphan: Orphans = Orphans()
    live: str | None = None

    def __str__(self) -> str:
        return f"{self.service}.{self.table}.{self.column} -> {self.target_service}.{self.target_table}"


def collect(service: str, metadata: MetaData) -> list[Reference]:
    refs = []
    for table in metadata.tables.values():
        for column in table.columns:
            target = column.info.get(INFO_KEY)
            if target:
                target_service, target_table = _split(target)
                refs.append(
                    Reference(
                        service,
                        table.name,
                        column.name,
                        target_service,
                        target_table,
                        bool(column.nullable),
                        column.info.get(ORPHANS_KEY, Orphans()),
                        column.info.get(LIVE_KEY),
                    )
                )
    return refs


def _is_indexed(table: Table, column: str) -> bool:
    leading = {next(iter(i.columns)).name for i in table.indexes if i.columns}
    for constraint in table.constraints:
        columns = list(getattr(constraint, "columns", ()))
        if columns:
            leading.add(columns[0].name)
    return column in leading


def check_boundaries(service: str, metadata: MetaData) -> None:
    """Raise :class:`BoundaryError` if a foreign key leaves the service's own tables,
    or a reference column is a foreign key or is not indexed."""
    own = set(metadata.tables)
    problems = []
    for table in metadata.tables.values():
        for fk in table.foreign_keys:
            target = fk.target_fullname.rsplit(".", 1)[0]
            if target not in own:
                problems.append(
                    f"{table.name}.{fk.parent.name} has a foreign key to {target}, not a table of {service}"
                )
        for column in table.columns:
            if INFO_KEY not in column.info:
                continue
            if column.foreign_keys:
                problems.append(f"{table.name}.{column.name} is a reference and must not be a foreign key")
            if not _is_indexed(table, column.name):
                problems.append(f"{table.name}.{column.name} is a reference and must be indexed")
            policy = column.info.get(ORPHANS_KEY)
            if policy is not None and policy.column is not None:
                marked = table.c.get(policy.column)
                kind = type(marked.type).__name__ if marked is not None else ""
                if marked is None or (not marked.nullable and kind != "Boolean"):
                    problems.append(
                        f"{table.name}.{column.name}: Orphans.mark({policy.column!r}) needs a nullable date-time "
                        f"or a boolean column {policy.column} in {table.name}"
                    )
    if problems:
        raise BoundaryError(f"service {service}: " + "; ".join(problems))


class ReferenceRegistry:
    """Every declared reference of a system, for validation and tooling."""

    def __init__(self) -> None:
        self._refs: list[Reference] = []

    def add(self, refs: Iterable[Reference]) -> None:
        self._refs.extend(refs)

    def all(self) -> tuple[Reference, ...]:
        return tuple(self._refs)

    def pointing_to(self, service: str, table: str | None = None) -> tuple[Reference, ...]:
        return tuple(
            r for r in self._refs if r.target_service == service and (table is None or r.target_table == table)
        )
