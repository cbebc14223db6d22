"""References to other services' entities: a UUID column, indexed, never a foreign key.

Declare one with :func:`reference` (ORM) or :func:`reference_column` (Core). The column
carries its target in ``Column.info``, so the registry and ``isles lint`` find every
cross-service reference without configuration (``isles audit``, planned in issue 20,
will read it too).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, MetaData, Table, Uuid
from sqlalchemy.orm import MappedColumn, mapped_column

INFO_KEY = "isles_reference"


class BoundaryError(ValueError):
    """A service's schema reaches outside its own database."""


def _split(target: str) -> tuple[str, str]:
    service, dot, table = target.partition(".")
    if not dot or not service or not table:
        raise ValueError(f"reference target {target!r} must be 'service.table'")
    return service, table


def reference(
    target: str, *, nullable: bool = False, primary_key: bool = False, doc: str | None = None
) -> MappedColumn[Any]:
    """A column holding the id of a row owned by another service (``"service.table"``);
    ``primary_key`` for a replica's key (the copy of that row)."""
    _split(target)
    return mapped_column(
        Uuid, nullable=nullable, primary_key=primary_key, index=not primary_key, info={INFO_KEY: target}, doc=doc
    )


def reference_column(name: str, target: str, *, nullable: bool = False) -> Column[Any]:
    _split(target)
    return Column(name, Uuid, nullable=nullable, index=True, info={INFO_KEY: target})


@dataclass(frozen=True)
class Reference:
    service: str
    table: str
    column: str
    target_service: str
    target_table: str
    nullable: bool

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
                    Reference(service, table.name, column.name, target_service, target_table, bool(column.nullable))
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
