"""The copies other services keep of an owner's table (:class:`Replica`: the data map's
copies of kind ``table``), which ``isles split run`` (:mod:`isles.tools.split.run`)
fills from the owner's loaded rows (:func:`replicas_of`, :func:`replica_filler`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from isles.tools.split.plan import Plan

if TYPE_CHECKING:
    from sqlalchemy import Table

    from isles.service.declaration import System
    from isles.tools.split.writer import Writer

Copies = list[tuple["Replica", "Writer", Callable[[Mapping[str, Any]], dict[str, Any]]]]


@dataclass
class Replica:
    """A copy another service keeps of an owner's table (the data map's copy of kind
    ``table``), filled from the owner's loaded rows as its events would: the same id,
    the copied columns, ``full_name`` as "first last", the owner's version."""

    full: str  # "service.table"
    service: str
    table: Table
    columns: tuple[str, ...]


#: the data map of each system the run reads (id -> the system, its map): made once,
#: not once per table
_DATA_MAPS: dict[int, tuple[Any, Any]] = {}


def replicas_of(plan: Plan, system: System, owner: str) -> tuple[list[Replica], dict[str, str]]:
    """The plan's replicas of ``owner`` that can be filled, and why the others cannot."""
    from isles.service.datamap import build_map

    wanted = {str(r.get("table")) for r in plan.replicas if r.get("source") == owner}
    if not wanted:
        return [], {}
    owner_service, owner_table = owner.split(".", 1)
    services = {s.name: s for s in system.services}
    owner_columns = services[owner_service].metadata.tables[owner_table].columns
    found: list[Replica] = []
    left: dict[str, str] = {}
    made = _DATA_MAPS.get(id(system))
    if made is None or made[0] is not system:
        _DATA_MAPS.clear()  # the last system's only: a process builds one system at a time
        made = _DATA_MAPS[id(system)] = (system, build_map(system))
    for smap in made[1].services:
        for copy in smap.copies:
            full = f"{smap.name}.{copy.table}"
            if copy.kind != "table" or full not in wanted:
                continue
            table = services[smap.name].metadata.tables[copy.table]
            missing = [
                c.name
                for c in table.columns
                if c.name not in owner_columns
                and c.name not in ("full_name", "version")
                and not c.nullable
                and c.default is None
                and c.server_default is None
            ]
            if missing:
                left[full] = f"{', '.join(missing)}: not in {owner} (left to its events)"
                continue
            found.append(Replica(full, smap.name, table, (copy.key_column, *copy.columns)))
    return found, left


def replica_filler(replica: Replica, owner: Table) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """The copy's row from the owner's loaded row: its columns the owner has, ``full_name``
    as "first last", the owner's ``version``; the owner's scalar default for the rest."""
    missing = object()
    spec: list[tuple[str, Any]] = []
    for column in replica.table.columns:
        name = column.name
        default = owner.columns[name].default if name in owner.columns else None
        scalar = getattr(default, "arg", None) if getattr(default, "is_scalar", False) else missing
        spec.append((name, scalar))

    def fill(values: Mapping[str, Any]) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for name, scalar in spec:
            if name in values:
                row[name] = values[name]
            elif name == "full_name" and "first_name" in values and "last_name" in values:
                row[name] = f"{values['first_name']} {values['last_name']}"
            elif name == "version":
                row[name] = values.get("version", 1)
            elif scalar is not missing:
                row[name] = scalar
        return row

    return fill


def replica_row(replica: Replica, owner: Table, values: Mapping[str, Any]) -> dict[str, Any]:
    return replica_filler(replica, owner)(values)
