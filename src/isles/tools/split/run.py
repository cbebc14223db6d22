"""``isles split run`` and ``isles split verify``: load the target services' databases
from the monolith, as a checked plan says, and compare the result with the source.

* **Ids**: every integer id becomes ``uuid5(namespace, f"{table}:{id}")``, the
  namespace made from the plan's system and monolith file name (:func:`namespace`).
  The same id gives the same UUID in every run, process and service: a reference
  (``assignments.employee_id``) gets the UUID its parent (``employees.id``) got, with no
  lookups. The mapping is also written to a SQLite file next to the plan
  (``<plan>.ids.sqlite``, table ``isles_split_ids(source_table, source_id, id)``):
  a table of the run, kept out of the services' databases (whose schema belongs to
  their migrations).
* **Rows** are converted by the target column's type (:class:`Mapper`) and written in
  batches with ``INSERT ... ON CONFLICT (pk) DO NOTHING`` (a rerun, or a resume after
  a kill, adds nothing twice), straight into the tables: no unit of work, no outbox,
  no events. ``version`` columns the plan does not fill are set to 1.
* **Rejects**: a value that does not convert, an orphan reference, a duplicate of a
  unique key (emails compared ignoring case), an empty string made NULL: each is a
  :class:`Reject` with the decision the plan's ``[rejects]`` policy took (``skip``
  the row, ``default``, ``null``, ``keep``); a table whose rows with rejects exceed
  ``threshold`` stops the run.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import UniqueConstraint

from isles.tools.split import SplitError
from isles.tools.split.analyse import Analysis, open_readonly, q
from isles.tools.split.plan import (
    DATE_TYPES,
    INT_TYPES,
    NUM_TYPES,
    TODO,
    UUID_TYPES,
    Plan,
    Target,
    TargetColumn,
    TargetTable,
)

if TYPE_CHECKING:
    from sqlalchemy import Table

    from isles.service.declaration import System
    from isles.storage.db import ServiceDatabase

BATCH = 5000
ROOT = uuid.UUID("6f1d3c2a-9b8e-4f57-a0c1-5d2e7b9a4c10")
IDS_TABLE = "isles_split_ids"
REJECT_FIELDS = ("file", "table", "rowid", "column", "value", "reason", "decision")


def namespace(plan: Plan) -> uuid.UUID:
    """The run's UUID namespace: the same plan (system, monolith file) gives the same ids."""
    return uuid.uuid5(ROOT, f"{plan.system}:{plan.monolith}")


@functools.lru_cache(maxsize=200_000)  # the ids referred to most (employees) are computed once
def uuid_of(ns: uuid.UUID, table: str, source_id: int) -> uuid.UUID:
    return uuid.uuid5(ns, f"{table}:{source_id}")


@dataclass(frozen=True)
class Reject:
    file: str
    table: str
    rowid: int
    column: str
    value: str
    reason: str
    decision: str  # skip (the row is not loaded) | default | null | keep

    def row(self) -> list[str]:
        return [self.file, self.table, str(self.rowid), self.column, self.value, self.reason, self.decision]


@dataclass
class TableResult:
    source: str
    target: str
    rows: int = 0
    loaded: int = 0  # rows written (or already there)
    skipped: int = 0
    rejected_rows: int = 0  # rows with at least one reject

    @property
    def share(self) -> float:
        return self.rejected_rows / self.rows if self.rows else 0.0


@dataclass
class RunResult:
    tables: list[TableResult] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    stopped_at: str | None = None  # the table whose rejects exceeded the threshold
    replicas: dict[str, int] = field(default_factory=dict)  # "service.copy_table" -> rows written
    replicas_left: dict[str, str] = field(default_factory=dict)  # "service.copy_table" -> why not filled


class Bad(Exception):
    """A value that does not convert to the target column's type."""


class _Skip(Exception):
    pass


def _is_int(v: Any) -> int:
    if isinstance(v, bool):
        raise Bad("a boolean, not an id")
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and v.strip().lstrip("-").isdigit():
        return int(v.strip())
    raise Bad("not an integer id")


def _folded(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def convert(value: Any, type_: str, python_type: type | None = None) -> Any:
    """``value`` (from SQLite) as the target type wants it; :class:`Bad` if it cannot be."""
    if value is None:
        return None
    if type_ in INT_TYPES:
        try:
            return _is_int(value)
        except Bad:
            raise Bad(f"not an integer ({type_})") from None
    if type_ in NUM_TYPES:
        if isinstance(value, bool):
            raise Bad(f"not a number ({type_})")
        try:
            return Decimal(str(value).strip())
        except InvalidOperation:
            raise Bad(f"not a number ({type_})") from None
    if type_ == "Boolean":
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        text = str(value).strip().lower()
        if text in ("1", "true", "t", "yes", "y"):
            return True
        if text in ("0", "false", "f", "no", "n"):
            return False
        raise Bad("not true or false")
    if type_ == "Date":
        try:
            return date.fromisoformat(str(value).strip()[:10])
        except ValueError:
            raise Bad("not a date") from None
    if type_ in DATE_TYPES:  # DateTime, UTCDateTime, Time
        try:
            stamp = datetime.fromisoformat(str(value).strip().replace(" ", "T"))
        except ValueError:
            raise Bad("not a date and time") from None
        return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
    if type_ == "Encrypted" and python_type is not None and python_type is not str:
        try:
            return python_type(value)
        except (TypeError, ValueError):
            raise Bad(f"not a {python_type.__name__}") from None
    return value if isinstance(value, str) else str(value)


def norm(value: Any) -> str:
    """A value as the checksums see it: the same whether read from the source (after
    conversion) or from either database."""
    if value is None:
        return "\x00"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        d = Decimal(str(value)).normalize()
        return "0" if d.is_zero() else format(d, "f")
    if isinstance(value, datetime):
        stamp = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return stamp.isoformat()
    if isinstance(value, date | uuid.UUID):
        return str(value) if isinstance(value, uuid.UUID) else value.isoformat()
    return str(value)


def checksum(values: Sequence[Any]) -> str:
    return hashlib.sha256("\x1f".join(norm(v) for v in values).encode()).hexdigest()


# --- the mapping of one table ------------------------------------------------------------


@dataclass
class TableMap:
    source: str
    target: TargetTable
    table: Table  # the target's SQLAlchemy table
    pk: str  # the target's primary key column
    source_pk: str
    #: target column -> ("column", monolith column) | ("default", value)
    fills: dict[str, tuple[str, Any]]
    unique: list[tuple[str, tuple[str, ...]]]

    @property
    def columns(self) -> list[str]:
        return list(self.fills)


class Mapper:
    """Converts monolith rows into target rows as ``plan`` says; used by the run and by
    verify (which recomputes what the run must have written)."""

    def __init__(self, plan: Plan, analysis: Analysis, target: Target, system: System, db: sqlite3.Connection) -> None:
        self.plan = plan
        self.analysis = analysis
        self.target = target
        self.db = db
        self.ns = namespace(plan)
        self.file = analysis.path.name
        self.services = {s.name: s for s in system.services}
        self._ids: dict[str, set[int]] = {}
        self._refers: dict[tuple[str, str], str | None] = {}
        self._rows: dict[str, dict[int, sqlite3.Row]] = {}
        self.maps: dict[str, TableMap] = {}
        by_target = {tp.target: tp.source for tp in plan.tables.values()}
        self.source_of_target = by_target
        for name, tp in plan.tables.items():
            if tp.target in ("", TODO):
                continue
            if tp.target not in target.tables:
                raise SplitError(f"tables.{name}.target: no service table {tp.target!r} (run isles split check)")
            self.maps[name] = self._table_map(name)
        self.maps = {name: self.maps[name] for name in self._order()}
        self.skipped: dict[str, set[int]] = {}  # monolith ids of the rows not loaded

    def _order(self) -> list[str]:
        """Parents first, where a foreign key inside a service needs them (a
        reference across services has none: any order will do)."""
        import graphlib

        graph: dict[str, set[str]] = {name: set() for name in self.maps}
        for name, tm in self.maps.items():
            for to, (kind, src) in tm.fills.items():
                tc = tm.target.columns[to]
                if kind == "column" and tc.foreign_key:
                    parent = self.refers_to(name, src)
                    if parent is not None and parent != name and parent in graph:
                        graph[name].add(parent)
        try:
            return list(graphlib.TopologicalSorter(graph).static_order())
        except graphlib.CycleError as exc:
            raise SplitError(f"tables {exc.args[1]}: their foreign keys form a cycle") from exc

    def _table_map(self, name: str) -> TableMap:
        tp = self.plan.tables[name]
        tt = self.target.tables[tp.target]
        sa_table = self.services[tt.service].metadata.tables[tt.name]
        pks = [c.name for c in tt.columns.values() if c.primary_key]
        source = self.analysis.tables[name]
        if len(pks) != 1 or len(source.primary_key) != 1:
            raise SplitError(f"tables.{name}: only tables with a one-column primary key are loaded")
        fills: dict[str, tuple[str, Any]] = {}
        for src, to in tp.columns.items():
            fills[to] = ("column", src)
        for to, value in tp.defaults.items():
            if to not in fills:
                if value == TODO:
                    raise SplitError(f"tables.{name}.defaults.{to}: still TODO (run isles split check)")
                fills[to] = ("default", value)
        if "version" in tt.columns and "version" not in fills:
            fills["version"] = ("default", 1)
        unique: list[tuple[str, tuple[str, ...]]] = []
        for c in sa_table.constraints:
            if isinstance(c, UniqueConstraint):
                unique.append((str(c.name), tuple(col.name for col in c.columns)))
        for index in sa_table.indexes:
            if index.unique:
                cols = tuple(col.name for col in index.columns)
                if cols:
                    unique.append((str(index.name), cols))
        unique = [(n, cols) for n, cols in unique if all(c in fills for c in cols)]
        return TableMap(name, tt, sa_table, pks[0], source.primary_key[0], fills, unique)

    # lookups in the monolith

    def ids(self, table: str) -> set[int]:
        if table not in self._ids:
            key = self.analysis.tables[table].primary_key[0]
            self._ids[table] = {int(r[0]) for r in self.db.execute(f"SELECT {q(key)} FROM {q(table)}")}
        return self._ids[table]

    def row_of(self, table: str, key: int) -> sqlite3.Row | None:
        if table not in self._rows:
            pk = self.analysis.tables[table].primary_key[0]
            self._rows[table] = {int(r[pk]): r for r in self.db.execute(f"SELECT * FROM {q(table)}")}
        return self._rows[table].get(key)

    def refers_to(self, table: str, column: str) -> str | None:
        """The monolith table ``table.column`` holds ids of."""
        key = (table, column)
        if key not in self._refers:
            if self.analysis.tables[table].primary_key == (column,):
                self._refers[key] = table
            else:
                rel = self.analysis.relation(table, column)
                self._refers[key] = rel.target if rel is not None else None
        return self._refers[key]

    def count(self, table: str) -> int:
        return self.analysis.tables[table].rows

    def rows(self, table: str, batch: int = BATCH) -> Iterator[list[sqlite3.Row]]:
        cursor = self.db.execute(f"SELECT rowid AS isles_rowid, * FROM {q(table)} ORDER BY rowid")
        while chunk := cursor.fetchmany(batch):
            yield chunk

    # converting one row

    def convert_row(
        self, tm: TableMap, row: sqlite3.Row, seen: dict[str, set[tuple[Any, ...]]]
    ) -> tuple[dict[str, Any] | None, list[Reject]]:
        """The target row (None: skipped) and the rejects found in it."""
        rejects: list[Reject] = []
        rowid = int(row["isles_rowid"])
        values: dict[str, Any] = {}

        def reject(column: str, value: Any, reason: str, decision: str) -> None:
            rejects.append(
                Reject(self.file, tm.source, rowid, column, "" if value is None else str(value), reason, decision)
            )

        try:
            for to, (kind, what) in tm.fills.items():
                tc = tm.target.columns[to]
                if kind == "column":
                    values[to] = self._column(tm, tc, row, what, reject)
                else:
                    values[to] = self._default(tm, tc, row, what)
            for to, tc in tm.target.columns.items():
                if to in values and values[to] is None and not tc.nullable and not tc.has_default:
                    reject(to, None, f"NULL in {tm.target.full}.{to} (NOT NULL, no default)", "skip")
                    raise _Skip
                if to in values and values[to] is None and tc.has_default and not tc.nullable:
                    del values[to]  # its default fills it
        except _Skip:
            self.skipped.setdefault(tm.source, set()).add(_is_int(row[tm.source_pk]))
            return None, rejects
        for name, cols in tm.unique:
            key = tuple(_folded(values.get(c)) for c in cols)
            if any(k is None for k in key):
                continue
            taken = seen.setdefault(name, set())
            if key in taken:
                shown = ", ".join(f"{c}={values.get(c)}" for c in cols)
                reject(
                    ",".join(cols),
                    shown,
                    f"duplicate of unique key {name}"
                    + (" (ignoring case)" if any(isinstance(k, str) for k in key) else ""),
                    "skip",
                )
                self.skipped.setdefault(tm.source, set()).add(_is_int(row[tm.source_pk]))
                return None, rejects
            taken.add(key)
        return values, rejects

    def _column(
        self, tm: TableMap, tc: TargetColumn, row: sqlite3.Row, src: str, reject: Callable[[str, Any, str, str], None]
    ) -> Any:
        value = row[src]
        if value is None:
            defaults = self.plan.tables[tm.source].defaults
            return self._default(tm, tc, row, defaults[tc.name]) if tc.name in defaults else None
        if isinstance(value, str) and value.strip() == "":
            if tc.type not in ("String", "Text", "Encrypted") or tc.nullable:
                reject(src, value, "empty string", "null" if tc.nullable else self._bad_decision(tm, tc))
                return self._fallback(tm, tc, row) if not tc.nullable else None
            return value
        if tc.type in UUID_TYPES:
            if value is None:
                return None
            parent = self.refers_to(tm.source, src)
            if parent is None:
                reject(src, value, "an integer id with no relation to a table", "skip")
                raise _Skip
            try:
                key = _is_int(value)
            except Bad as exc:
                reject(src, value, str(exc), "skip")
                raise _Skip from None
            if parent != tm.source or src != tm.source_pk:
                gone = bool(tc.foreign_key) and key in self.skipped.get(parent, ())
                if key not in self.ids(parent) or gone:
                    decision = self.plan.orphans
                    if gone and decision == "keep":  # a foreign key will not take it
                        decision = "null" if tc.nullable else "skip"
                    if decision == "null" and not tc.nullable:
                        decision = "skip"
                    why = f"its {parent} row {key} is a reject" if gone else f"no {parent} row with id {key}"
                    reject(src, value, f"orphan: {why}", decision)
                    if decision == "skip":
                        raise _Skip
                    if decision == "null":
                        return None
            return uuid_of(self.ns, parent, key)
        python_type = getattr(tm.table.columns[tc.name].type, "python_type_", None)
        try:
            return convert(value, tc.type, python_type)
        except Bad as exc:
            decision = self._bad_decision(tm, tc)
            reject(src, value, str(exc), decision)
            if decision == "skip":
                raise _Skip from None
            return self._fallback(tm, tc, row)

    def _bad_decision(self, tm: TableMap, tc: TargetColumn) -> str:
        if self.plan.bad_values == "skip":
            return "skip"
        if tc.name in self.plan.tables[tm.source].defaults or tc.nullable or tc.has_default:
            return "default"
        return "skip"

    def _fallback(self, tm: TableMap, tc: TargetColumn, row: sqlite3.Row) -> Any:
        defaults = self.plan.tables[tm.source].defaults
        if tc.name in defaults:
            return self._default(tm, tc, row, defaults[tc.name])
        if tc.nullable or tc.has_default:
            return None
        raise _Skip

    def _default(self, tm: TableMap, tc: TargetColumn, row: sqlite3.Row, value: Any) -> Any:
        if isinstance(value, Mapping) and "via" in value:
            via, column = str(value["via"]), str(value["column"])
            parent = self.refers_to(tm.source, via)
            if parent is None or row[via] is None:
                return None
            related = self.row_of(parent, _is_int(row[via]))
            if related is None:
                return None
            raw = related[column]
            if raw is None:  # the related row's NULL: the value the plan gives it there
                theirs = self.plan.tables.get(parent)
                mapped = theirs.columns.get(column) if theirs is not None else None
                if (
                    theirs is not None
                    and mapped in theirs.defaults
                    and not isinstance(theirs.defaults[mapped], Mapping)
                ):
                    raw = theirs.defaults[mapped]
            if tc.type in UUID_TYPES:
                grand = self.refers_to(parent, column)
                return None if grand is None or raw is None else uuid_of(self.ns, grand, _is_int(raw))
            return self._plain(tm, tc, raw)
        if isinstance(value, Mapping) and "copy" in value:
            return self._copy(tm, tc, row, str(value["copy"]))
        return self._plain(tm, tc, value)

    def _plain(self, tm: TableMap, tc: TargetColumn, value: Any) -> Any:
        python_type = getattr(tm.table.columns[tc.name].type, "python_type_", None)
        try:
            return convert(value, tc.type, python_type)
        except Bad:
            return None

    def _copy(self, tm: TableMap, tc: TargetColumn, row: sqlite3.Row, owner: str) -> Any:
        """A denormalized column, from the owner's monolith row as its events would fill
        it: ``*_name`` is "first last" (or the owner's name), ``*_active`` its active
        flag, ``*_version`` 1 (the version the run gives the owner's row)."""
        ref = next((c for c in tm.target.columns.values() if c.reference == owner), None)
        src = next((s for s, t in self.plan.tables[tm.source].columns.items() if ref and t == ref.name), None)
        owner_table = self.source_of_target.get(owner)
        if src is None or owner_table is None or row[src] is None:
            return None
        related = self.row_of(owner_table, _is_int(row[src]))
        if related is None:
            return None
        keys = related.keys()
        if tc.name.endswith("_name"):
            if "first_name" in keys and "last_name" in keys:
                return f"{related['first_name']} {related['last_name']}"
            return related["name"] if "name" in keys else None
        if tc.name.endswith("_active"):
            owner_plan = self.plan.tables[owner_table]
            col = next((s for s, t in owner_plan.columns.items() if t == "is_active"), None)
            return bool(convert(related[col], "Boolean")) if col else True
        if tc.name.endswith("_version"):
            return 1
        stem = tc.name.split("_", 1)[-1]
        return self._plain(tm, tc, related[stem]) if stem in keys else None


def write_rejects(path: Path, rejects: Sequence[Reject]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(REJECT_FIELDS)
        for r in rejects:
            writer.writerow(r.row())


def write_ids(path: Path, ns: uuid.UUID, tables: Mapping[str, set[int]]) -> None:
    """The id mapping of the run, in a SQLite file of its own (rewritten each run)."""
    db = sqlite3.connect(path)
    try:
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {IDS_TABLE} (source_table TEXT NOT NULL, source_id INTEGER NOT NULL, "
            "id TEXT NOT NULL, PRIMARY KEY (source_table, source_id))"
        )
        for table, ids in tables.items():
            db.executemany(
                f"INSERT OR IGNORE INTO {IDS_TABLE} VALUES (?, ?, ?)",
                ((table, i, str(uuid_of(ns, table, i))) for i in sorted(ids)),
            )
        db.commit()
    finally:
        db.close()


Progress = Callable[[str, int, int], None]  # table, rows done, rows in all


async def run(
    plan: Plan,
    analysis: Analysis,
    target: Target,
    system: System,
    dbs: Mapping[str, ServiceDatabase],
    *,
    batch: int = BATCH,
    progress: Progress | None = None,
) -> RunResult:
    """Load every mapped table into its service's database (which must be migrated)."""
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.dialects import sqlite as sqlite_dialect

    result = RunResult()
    with open_readonly(analysis.path) as db:
        db.row_factory = sqlite3.Row
        mapper = Mapper(plan, analysis, target, system, db)
        for name, tm in mapper.maps.items():
            target_db = dbs[tm.target.service]
            insert = postgresql.insert if not target_db.is_sqlite else sqlite_dialect.insert
            stmt = insert(tm.table).on_conflict_do_nothing(index_elements=[tm.pk])
            replicas, left = replicas_of(plan, system, tm.target.full)
            result.replicas_left.update(left)
            copies = [
                (
                    r,
                    (postgresql.insert if not dbs[r.service].is_sqlite else sqlite_dialect.insert)(
                        r.table
                    ).on_conflict_do_nothing(index_elements=[r.columns[0]]),
                )
                for r in replicas
            ]
            tr = TableResult(name, tm.target.full, rows=mapper.count(name))
            seen: dict[str, set[tuple[Any, ...]]] = {}
            done = 0
            for chunk in mapper.rows(name, batch):
                rows = []
                for row in chunk:
                    values, rejects = mapper.convert_row(tm, row, seen)
                    if rejects:
                        tr.rejected_rows += 1
                        result.rejects += rejects
                    if values is None:
                        tr.skipped += 1
                    else:
                        rows.append((int(row["isles_rowid"]), _is_int(row[tm.source_pk]), values))
                refused = await _write(target_db, stmt, rows)
                for rowid, source_id, why in refused:
                    tr.skipped += 1
                    tr.rejected_rows += 1
                    mapper.skipped.setdefault(name, set()).add(source_id)
                    result.rejects.append(
                        Reject(mapper.file, name, rowid, "", "", f"refused by the database: {why}", "skip")
                    )
                tr.loaded += len(rows) - len(refused)
                gone = {rowid for rowid, _, _ in refused}
                for replica, copy_stmt in copies:
                    copied = [
                        (rowid, source_id, replica_row(replica, tm.table, values))
                        for rowid, source_id, values in rows
                        if rowid not in gone
                    ]
                    failed = await _write(dbs[replica.service], copy_stmt, copied)
                    result.replicas[replica.full] = result.replicas.get(replica.full, 0) + len(copied) - len(failed)
                    result.rejects += [
                        Reject(
                            mapper.file, name, rowid, replica.full, "", f"copy refused by the database: {why}", "copy"
                        )
                        for rowid, _, why in failed
                    ]
                done += len(chunk)
                if progress is not None:
                    progress(name, done, tr.rows)
            result.tables.append(tr)
            if tr.share > plan.threshold:
                result.stopped_at = name
                break
    return result


async def _write(
    db: ServiceDatabase, stmt: Any, rows: list[tuple[int, int, dict[str, Any]]]
) -> list[tuple[int, int, str]]:
    """Insert a batch (one transaction); if the database refuses it (a CHECK, a foreign
    key), row by row, returning the rows it refused (rowid, id, why)."""
    from sqlalchemy.exc import IntegrityError

    from isles.storage.tenancy import ACROSS_TENANTS

    if not rows:
        return []

    async def put(part: list[tuple[int, int, dict[str, Any]]]) -> None:
        by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for _, _, values in part:
            by_keys.setdefault(tuple(values), []).append(values)
        async with db.writing(tenant=ACROSS_TENANTS) as session:
            for group in by_keys.values():
                await session.execute(stmt, group)
            await session.commit()

    try:
        await put(rows)
        return []
    except IntegrityError:
        pass
    refused = []
    for one in rows:
        try:
            await put([one])
        except IntegrityError as exc:
            refused.append((one[0], one[1], str(exc.orig).splitlines()[0]))
    return refused


@dataclass
class Replica:
    """A copy another service keeps of an owner's table (the data map's copy of kind
    ``table``), filled from the owner's loaded rows as its events would: the same id,
    the copied columns, ``full_name`` as "first last", the owner's version."""

    full: str  # "service.table"
    service: str
    table: Table
    columns: tuple[str, ...]


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
    for smap in build_map(system).services:
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


def replica_row(replica: Replica, owner: Table, values: Mapping[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for column in replica.table.columns:
        name = column.name
        if name in values:
            row[name] = values[name]
        elif name == "full_name" and "first_name" in values and "last_name" in values:
            row[name] = f"{values['first_name']} {values['last_name']}"
        elif name == "version":
            row[name] = values.get("version", 1)
        elif name in owner.columns and owner.columns[name].default is not None:
            default = owner.columns[name].default
            if getattr(default, "is_scalar", False):
                row[name] = getattr(default, "arg", None)
    return row


# --- verify ----------------------------------------------------------------------------------


@dataclass
class TableCheck:
    source: str
    target: str
    expected: int  # source rows minus the skipped
    found: int  # target rows
    missing: int = 0
    differing: int = 0
    samples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.expected == self.found and not self.missing and not self.differing


@dataclass
class VerifyResult:
    tables: list[TableCheck] = field(default_factory=list)
    references: int = 0  # reference values checked
    unresolved: list[str] = field(default_factory=list)  # not found, not reported either
    reported: int = 0  # not found, but their parent row is a reject

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables) and not self.unresolved


def read_rejects(path: Path) -> list[Reject]:
    """A rejects file the run wrote (:class:`SplitError` if it is not one)."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except OSError as exc:
        raise SplitError(f"{path}: cannot read the rejects: {exc.strerror}") from exc
    if not rows or tuple(rows[0]) != REJECT_FIELDS:
        raise SplitError(f"{path}: not a rejects file of isles split run (its header is not {','.join(REJECT_FIELDS)})")
    try:
        return [Reject(r[0], r[1], int(r[2]), r[3], r[4], r[5], r[6]) for r in rows[1:]]
    except (IndexError, ValueError) as exc:
        raise SplitError(f"{path}: not a rejects file of isles split run: {exc}") from exc


async def verify(
    plan: Plan,
    analysis: Analysis,
    target: Target,
    system: System,
    dbs: Mapping[str, ServiceDatabase],
    rejects: Sequence[Reject] = (),
) -> VerifyResult:
    """Per table: the rows the run must have written (recomputed from the monolith)
    against the target's, by count and by a checksum of every filled column; every
    reference's value found in its owner's table, or its parent row a reject."""
    from sqlalchemy import select

    from isles.storage.tenancy import ACROSS_TENANTS

    result = VerifyResult()
    loaded_ids: dict[str, set[uuid.UUID]] = {}  # "service.table" -> ids found
    skipped: set[uuid.UUID] = set()
    known: set[uuid.UUID] = set()  # the UUIDs of every monolith row of a mapped table
    refs: list[tuple[str, str, str, uuid.UUID]] = []  # table, column, owner, value
    with open_readonly(analysis.path) as db:
        db.row_factory = sqlite3.Row
        mapper = Mapper(plan, analysis, target, system, db)
        refused = {(r.table, r.rowid) for r in rejects if r.decision == "skip" and r.reason.startswith("refused")}
        for name, tm in mapper.maps.items():
            expected: dict[uuid.UUID, tuple[list[str], str]] = {}
            seen: dict[str, set[tuple[Any, ...]]] = {}
            columns = [c for c in tm.columns if c in tm.table.columns]
            for chunk in mapper.rows(name):
                for row in chunk:
                    values, _ = mapper.convert_row(tm, row, seen)
                    if values is not None and (name, int(row["isles_rowid"])) in refused:
                        mapper.skipped.setdefault(name, set()).add(_is_int(row[tm.source_pk]))
                        values = None
                    if values is None:
                        skipped.add(uuid_of(mapper.ns, name, int(row[tm.source_pk])))
                        continue
                    used = [c for c in columns if c in values]  # the rest: the target's default
                    expected[values[tm.pk]] = (used, checksum([values[c] for c in used]))
            known.update(uuid_of(mapper.ns, name, i) for i in mapper.ids(name))
            target_db = dbs[tm.target.service]
            found: dict[uuid.UUID, str] = {}
            kept = {c: tm.target.columns[c] for c in columns}
            reference_cols = {
                c: (tc.reference or f"{tm.target.service}.{(tc.foreign_key or '').split('.')[0]}")
                for c, tc in tm.target.columns.items()
                if tc.type in UUID_TYPES and (tc.reference or tc.foreign_key) and c in kept
            }
            found_rows = 0
            async with target_db.read_session(tenant=ACROSS_TENANTS) as session:
                sel = select(*(tm.table.columns[c] for c in columns))
                for record in (await session.execute(sel)).all():
                    found_rows += 1
                    values = dict(zip(columns, record, strict=True))
                    ident = values[tm.pk]
                    if ident in expected:
                        found[ident] = checksum([values[c] for c in expected[ident][0]])
                    for c, owner in reference_cols.items():
                        if values[c] is not None:
                            refs.append((tm.target.full, c, owner, values[c]))
            check = TableCheck(name, tm.target.full, len(expected), found_rows)
            for ident, (_, digest) in expected.items():
                if ident not in found:
                    check.missing += 1
                    if len(check.samples) < 5:
                        check.samples.append(f"{ident} missing")
                elif found[ident] != digest:
                    check.differing += 1
                    if len(check.samples) < 5:
                        check.samples.append(f"{ident} differs")
            result.tables.append(check)
            for replica in replicas_of(plan, system, tm.target.full)[0]:
                if replica.service not in dbs:
                    continue
                async with dbs[replica.service].read_session(tenant=ACROSS_TENANTS) as session:
                    copied = set((await session.execute(select(replica.table.columns[replica.columns[0]]))).scalars())
                copy_check = TableCheck(f"{name} (copy)", replica.full, len(expected), len(copied & set(expected)))
                copy_check.missing = len(set(expected) - copied)
                result.tables.append(copy_check)
        for service in {tm.target.service for tm in mapper.maps.values()} | {o.split(".")[0] for *_, o, _ in refs}:
            if service not in dbs:
                continue
            for tt in target.tables.values():
                if tt.service != service:
                    continue
                pk = next((c for c in tt.columns.values() if c.primary_key), None)
                if pk is None or pk.type not in UUID_TYPES:
                    continue
                sa_table = mapper.services[service].metadata.tables[tt.name]
                async with dbs[service].read_session(tenant=ACROSS_TENANTS) as session:
                    loaded_ids[tt.full] = set((await session.execute(select(sa_table.columns[pk.name]))).scalars())
    for table, column, owner, value in refs:
        result.references += 1
        if value in loaded_ids.get(owner, set()):
            continue
        if value in skipped or value not in known or owner not in loaded_ids:  # a reject: reported
            result.reported += 1
            continue
        result.unresolved.append(f"{table}.{column} = {value}: not in {owner}")
    return result
