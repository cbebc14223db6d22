"""The conversion of monolith rows into target rows as a plan says (:class:`Mapper`,
each table's :class:`TableMap`, each column's conversion decided once): used by
``isles split run`` (:mod:`isles.tools.split.run`) and by ``isles split verify``,
which recomputes what the run must have written.
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import UniqueConstraint

from isles.tools.split import SplitError
from isles.tools.split.analyse import Analysis, q
from isles.tools.split.convert import Bad, convert, converter, to_id
from isles.tools.split.ids import _uuid5, _uuid5_text, identity_of, monolith_ids, namespace, row_key_id
from isles.tools.split.plan import (
    TODO,
    UUID_TYPES,
    Plan,
    Target,
    TargetColumn,
    TargetTable,
)
from isles.tools.split.results import Reject

if TYPE_CHECKING:
    from sqlalchemy import Table

    from isles.service.declaration import System

BATCH = 5000
#: rowids in one ``IN (...)`` where rows are read in an order of their own (SQLite takes
#: 32,766 parameters at most)
ROWIDS_AT_ONCE = 500
WATERMARK_COLUMN = "updated_at"


class _Skip(Exception):
    pass


def _no_reject(column: str, value: Any, reason: str, decision: str) -> None:
    """A default's fill reports nothing."""


def _none(_row: sqlite3.Row, _reject: Callable[[str, Any, str, str], None]) -> Any:
    return None


def is_copy(tm: TableMap, column: str) -> bool:
    kind, what = tm.fills[column]
    return kind == "default" and isinstance(what, Mapping) and "copy" in what


def _in_words(value: Any, words: Mapping[str, Any] | None) -> Any:
    """A monolith value in the target's words (a plan's ``values``: a text or an
    integer matched on its text), else as it is."""
    if words is not None:
        if value.__class__ is str:
            return words.get(value, value)
        if value.__class__ is int:
            return words.get(str(value), value)
    return value


def _named(value: Any) -> int | None:
    try:
        return None if value is None else to_id(value)
    except Bad:
        return None


def _folded(value: Any) -> Any:
    """A unique key's part as the run compares it: a string ignoring case; a UUID, a
    date, an integer as their text — the text the fast path's SQL gives for them
    (:mod:`isles.tools.split.fast`), so both ways fill one set of keys."""
    cls = value.__class__
    if cls is str:
        return value.casefold()
    if cls is uuid.UUID or cls is date or cls is int:
        return str(value)
    return value.casefold() if isinstance(value, str) else value


# --- the mapping of one table ------------------------------------------------------------


def unique_keys(table: Any, filled: Iterable[str] = ()) -> list[tuple[str, tuple[str, ...]]]:
    """(name, columns) of the keys the run holds rows of ``table`` to: its unique
    constraints and unique indexes. A *partial* unique index (``WHERE ...``) binds only
    the rows its condition takes: where the condition names a column the plan fills
    (``filled``: each row's own value, ``WHERE is_default``) the run cannot tell which
    rows it takes, and leaves the key to the database (a row it refuses is a reject);
    where it names only columns the run leaves to their defaults (``WHERE deleted_at IS
    NULL``), it holds for every loaded row, and the run checks it as a full key. (A
    trial splitting a shop: every address but a user's first was refused as a duplicate
    of ``user_id``, the key of the default address only.)"""
    unique: list[tuple[str, tuple[str, ...]]] = []
    for c in table.constraints:
        if isinstance(c, UniqueConstraint):
            unique.append((str(c.name), tuple(col.name for col in c.columns)))
    given = set(filled)
    for index in table.indexes:
        cols = tuple(col.name for col in index.columns)
        if not index.unique or not cols:
            continue
        conditions = [str(v) for k, v in index.dialect_kwargs.items() if k.endswith("_where") and v is not None]
        named = {c.name for c in table.columns if any(re.search(rf"\b{re.escape(c.name)}\b", w) for w in conditions)}
        if not named & given:
            unique.append((str(index.name), cols))
    return unique


@dataclass
class TableMap:
    source: str
    target: TargetTable
    table: Table  # the target's SQLAlchemy table
    pk: str  # the target's primary key column
    source_pk: str  # the monolith's one-column integer primary key ("" where ``key`` tells rows apart)
    #: target column -> ("column", monolith column) | ("default", value)
    fills: dict[str, tuple[str, Any]]
    unique: list[tuple[str, tuple[str, ...]]]
    #: what fills each target column, made once (:meth:`Mapper.compile`)
    compiled: list[tuple[str, Fill]] | None = None
    #: the NOT NULL columns filled: (column, no default either: a NULL skips the row)
    not_null: list[tuple[str, bool]] = field(default_factory=list)
    #: the monolith columns that tell rows apart where there is no one-column id
    #: (:func:`identity_of`; ``("rowid",)``); empty: ``source_pk``
    key: tuple[str, ...] = ()

    def source_id(self, row: Any) -> int:
        """The monolith id of a row (its ``source_pk``'s value, or :func:`row_key_id` of
        its ``key``)."""
        if not self.key:
            return to_id(row[self.source_pk])
        if self.key == ("rowid",):
            return int(row["isles_rowid"])
        return row_key_id([row[c] for c in self.key])

    @property
    def columns(self) -> list[str]:
        return list(self.fills)


#: a target column's value from a monolith row (``reject(column, value, reason, decision)``
#: reports what it found; :class:`_Skip` skips the row)
Fill = Callable[[sqlite3.Row, Callable[[str, Any, str, str], None]], Any]


class Mapper:
    """Converts monolith rows into target rows as ``plan`` says; used by the run and by
    verify (which recomputes what the run must have written)."""

    def __init__(
        self,
        plan: Plan,
        analysis: Analysis,
        target: Target,
        system: System,
        db: sqlite3.Connection,
        *,
        check_keys: bool = True,
    ) -> None:
        self.plan = plan
        self.analysis = analysis
        self.target = target
        self.db = db
        self.ns = namespace(plan)
        self.file = analysis.path.name
        # for the fast path (isles.tools.split.fast): the module it imports only for types
        self.converter = converter
        self.uuid_text = _uuid5_text
        self.services = {s.name: s for s in system.services}
        self._ids: dict[str, set[int]] = {}
        self._refers: dict[tuple[str, str], str | None] = {}
        self._rows: dict[str, dict[int, sqlite3.Row]] = {}
        self._orders: dict[str, list[int] | None] = {}
        self._positions: dict[str, dict[int, int]] = {}
        self._uuids: dict[str, dict[int, uuid.UUID]] = {}  # table -> id -> its UUID
        self.maps: dict[str, TableMap] = {}
        self.skipped: dict[str, set[int]] = {}  # monolith ids of the rows not loaded
        #: table -> the tables loaded before it whose skipped rows make its references
        #: orphans (a foreign key's parent; a reference across services' where no cycle)
        self.before: dict[str, frozenset[str]] = {}
        by_target = {tp.target: tp.source for tp in plan.tables.values()}
        self.source_of_target = by_target
        for name, tp in plan.tables.items():
            if tp.target in ("", TODO):
                continue
            if tp.target not in target.tables:
                raise SplitError(f"tables.{name}.target: no service table {tp.target!r} (run isles split check)")
            self.maps[name] = self._table_map(name)
        self.maps = {name: self.maps[name] for name in self._order()}
        for name, tm in self.maps.items():
            if check_keys and tm.key and tm.key != ("rowid",):
                self.ids(name)  # a key that does not tell two rows apart: refused before anything is written

    def _order(self) -> list[str]:
        """Parents first, where a foreign key inside a service needs them; then, where
        no cycle forbids it, the tables a reference across services names before the
        tables naming them, so that a row naming a skipped row is known as an orphan
        (:attr:`before`: the parents each table's rows are checked against)."""
        import graphlib

        graph: dict[str, set[str]] = {name: set() for name in self.maps}
        soft: list[tuple[str, str]] = []
        for name, tm in self.maps.items():
            for to, (kind, src) in tm.fills.items():
                tc = tm.target.columns[to]
                if kind != "column" or not (tc.foreign_key or tc.type in UUID_TYPES):
                    continue
                parent = self.refers_to(name, src)
                if parent is None or parent == name or parent not in graph:
                    continue
                if tc.foreign_key:
                    graph[name].add(parent)
                else:
                    soft.append((name, parent))
        try:
            graphlib.TopologicalSorter(graph).prepare()
        except graphlib.CycleError as exc:
            raise SplitError(f"tables {exc.args[1]}: their foreign keys form a cycle") from exc
        for name, parent in soft:  # a reference across services: where no cycle forbids it
            if parent in graph[name]:
                continue
            graph[name].add(parent)
            try:
                graphlib.TopologicalSorter(graph).prepare()
            except graphlib.CycleError:
                graph[name].discard(parent)
        self.before = {name: frozenset(parents) for name, parents in graph.items()}
        return list(graphlib.TopologicalSorter(graph).static_order())

    def _table_map(self, name: str) -> TableMap:
        tp = self.plan.tables[name]
        tt = self.target.tables[tp.target]
        sa_table = self.services[tt.service].metadata.tables[tt.name]
        pks = [c.name for c in tt.columns.values() if c.primary_key]
        source = self.analysis.tables[name]
        if len(pks) != 1:
            raise SplitError(f"tables.{name}: only target tables with a one-column primary key are loaded")
        key = identity_of(self.plan, self.analysis, name)
        if not key and len(source.primary_key) != 1:
            raise SplitError(
                f"tables.{name}: its rows have no one-column id: give the target's {pks[0]} as "
                '{ key = [...] } (the columns that tell them apart) or { key = "rowid" } '
                f"in [tables.{name}.defaults]"
            )
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
        unique = [(n, cols) for n, cols in unique_keys(sa_table, fills) if all(c in fills for c in cols)]
        source_pk = "" if key else source.primary_key[0]
        return TableMap(name, tt, sa_table, pks[0], source_pk, fills, unique, key=key)

    # lookups in the monolith

    def identity(self, table: str) -> tuple[str, ...]:
        """:func:`identity_of` the table (``()``: its one-column id)."""
        tm = self.maps.get(table)
        return tm.key if tm is not None else identity_of(self.plan, self.analysis, table)

    def ids(self, table: str) -> set[int]:
        if table not in self._ids:
            self._ids[table] = monolith_ids(self.db, self.analysis, table, self.identity(table))
        return self._ids[table]

    def row_of(self, table: str, key: int) -> sqlite3.Row | None:
        if table not in self._rows:
            identity = self.identity(table)
            if not identity:
                pk = self.analysis.tables[table].primary_key[0]
                self._rows[table] = {int(r[pk]): r for r in self.db.execute(f"SELECT * FROM {q(table)}")}
            else:
                rows = self.db.execute(f"SELECT rowid AS isles_rowid, * FROM {q(table)}")
                if tuple(identity) == ("rowid",):
                    self._rows[table] = {int(r[0]): r for r in rows}
                else:
                    self._rows[table] = {row_key_id([r[c] for c in identity]): r for r in rows}
        return self._rows[table].get(key)

    def related(self, table: str, via: str) -> tuple[str, str] | None:
        """The monolith table and its id column a default ``{ via = ... }`` finds its
        related row by: the relation of ``table.via`` (declared, found or the plan's),
        even where ``via`` is the table's own key (``products.id -> stock.product_id``:
        a product's stock row), else the row itself where ``via`` is its own key."""
        rel = self.analysis.relation(table, via)
        parent = rel.target if rel is not None else self.refers_to(table, via)
        if parent is None:
            return None
        # by the parent's key, as :meth:`row_of` finds the row (a plan's relation names it)
        key = self.analysis.tables[parent].primary_key
        return parent, key[0] if len(key) == 1 else ""  # "": no one-column key (rows found in Python)

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

    def self_references(self, table: str) -> list[str]:
        """The monolith columns of ``table`` that the target keeps as a foreign key to
        the table's own rows (an employee's manager)."""
        tm = self.maps.get(table)
        if tm is None or tm.key:
            return []
        return [
            src
            for to, (kind, src) in tm.fills.items()
            if kind == "column"
            and src != tm.source_pk
            and tm.target.columns[to].foreign_key
            and self.refers_to(table, src) == table
        ]

    def load_order(self, table: str) -> list[int] | None:
        """The rowids of ``table`` in the order the run writes (and verify reads) them,
        where that is not rowid order (None: it is). A row that names another row of
        its table by a foreign key (a manager hired after the people who report to
        them) comes after that row, so the database never refuses it for a row not
        written yet; otherwise rows keep their rowid order (the smallest rowid whose
        rows are all written first). Rows in a cycle (two employees naming each other),
        and the rows under them, come last, in rowid order: the database refuses the
        first of a cycle, the run reports it."""
        if table in self._orders:
            return self._orders[table]
        order: list[int] | None = None
        columns = self.self_references(table)
        if columns:
            pk = q(self.analysis.tables[table].primary_key[0])
            later = " OR ".join(f"p.{pk} = c.{q(c)}" for c in columns)
            found = self.db.execute(
                f"SELECT 1 FROM {q(table)} c JOIN {q(table)} p ON ({later}) AND p.rowid > c.rowid LIMIT 1"
            ).fetchone()
            if found is not None:
                order = self._parents_first(table, columns)
        self._orders[table] = order
        return order

    def in_load_order(self, table: str, rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """``rows`` (tuples that begin with a rowid) sorted as :meth:`load_order` says."""
        order = self.load_order(table)
        if order is None:
            return sorted(rows, key=lambda r: r[0])
        if table not in self._positions:
            self._positions[table] = {rowid: at for at, rowid in enumerate(order)}
        at = self._positions[table]
        return sorted(rows, key=lambda r: at[r[0]])

    def _parents_first(self, table: str, columns: Sequence[str]) -> list[int]:
        import heapq

        pk = q(self.analysis.tables[table].primary_key[0])
        rows = self.db.execute(
            f"SELECT rowid, {pk}, {', '.join(q(c) for c in columns)} FROM {q(table)} ORDER BY rowid"
        ).fetchall()
        rowid_of: dict[int, int] = {}
        for rowid, key, *_ in rows:
            named = _named(key)
            if named is not None:
                rowid_of.setdefault(named, rowid)
        waiting: dict[int, list[int]] = {}  # rowid -> the rows that wait for it
        blocked: dict[int, int] = {}  # rowid -> how many of its rows are not placed yet
        ready: list[int] = []
        for rowid, _, *refs in rows:
            ids = [n for n in map(_named, refs) if n is not None]
            parents = {p for n in ids if (p := rowid_of.get(n)) is not None and p != rowid}
            if not parents:
                ready.append(rowid)  # in rowid order: a heap already
                continue
            blocked[rowid] = len(parents)
            for parent in parents:
                waiting.setdefault(parent, []).append(rowid)
        order: list[int] = []
        while ready:
            rowid = heapq.heappop(ready)
            order.append(rowid)
            for child in waiting.pop(rowid, ()):
                blocked[child] -= 1
                if not blocked[child]:
                    del blocked[child]
                    heapq.heappush(ready, child)
        order.extend(sorted(blocked))
        return order

    def rows(
        self,
        table: str,
        batch: int = BATCH,
        after: tuple[str, Any] | None = None,
        naming: Sequence[tuple[str, set[int]]] = (),
    ) -> Iterator[list[sqlite3.Row]]:
        """The table's rows in the order of :meth:`load_order` (rowid order, save for the
        rows naming a later row of their table), in chunks; with ``after`` (a
        watermark), only those past it, and those whose column names one of the ids
        ``naming`` gives it."""
        args: tuple[Any, ...] = ()
        past = "1"
        if after is not None:
            column, value = after
            past, args = f"{'rowid' if column == 'rowid' else q(column)} > ?", (value,)
        naming = [(c, ids) for c, ids in naming if ids]
        order = self.load_order(table)
        if order is not None:
            yield from self._rows_in(table, order, batch, past, args, naming)
            return
        if not naming:
            where = "" if after is None else f" WHERE {past}"
            cursor = self.db.execute(f"SELECT rowid AS isles_rowid, * FROM {q(table)}{where} ORDER BY rowid", args)
            while chunk := cursor.fetchmany(batch):
                yield chunk
            return
        cursor = self.db.execute(
            f"SELECT rowid AS isles_rowid, *, {past} AS isles_past FROM {q(table)} ORDER BY rowid", args
        )
        while chunk := cursor.fetchmany(batch):
            kept = [r for r in chunk if r["isles_past"] or any(_named(r[c]) in ids for c, ids in naming)]
            if kept:
                yield kept

    def _rows_in(
        self,
        table: str,
        order: Sequence[int],
        batch: int,
        past: str,
        args: tuple[Any, ...],
        naming: Sequence[tuple[str, set[int]]],
    ) -> Iterator[list[sqlite3.Row]]:
        """:meth:`rows` in a given order of rowids: each chunk read by its rowids."""
        for start in range(0, len(order), batch):
            wanted = order[start : start + batch]
            found: dict[int, sqlite3.Row] = {}
            for at in range(0, len(wanted), ROWIDS_AT_ONCE):
                part = wanted[at : at + ROWIDS_AT_ONCE]
                marks = ", ".join("?" * len(part))
                for r in self.db.execute(
                    f"SELECT rowid AS isles_rowid, *, {past} AS isles_past FROM {q(table)} WHERE rowid IN ({marks})",
                    (*args, *part),
                ):
                    found[r[0]] = r
            kept = [
                r
                for r in (found[i] for i in wanted if i in found)
                if r["isles_past"] or any(_named(r[c]) in ids for c, ids in naming)
            ]
            if kept:
                yield kept

    def copies_of(self, tm: TableMap) -> list[tuple[str, str, str]]:
        """The columns of ``tm`` filled from another monolith row (a ``copy`` kept of
        its owner, a ``via`` default): (target column, the monolith column naming that
        row, its monolith table)."""
        found = []
        for to, (kind, what) in tm.fills.items():
            if kind != "default" or not isinstance(what, Mapping):
                continue
            if "via" in what:
                related = self.related(tm.source, str(what["via"]))
                if related is not None:
                    found.append((to, str(what["via"]), related[0]))
                continue
            if "copy" not in what:
                continue
            owner = str(what["copy"])
            ref = next((c for c in tm.target.columns.values() if c.reference == owner), None)
            src = next((s for s, t in self.plan.tables[tm.source].columns.items() if ref and t == ref.name), None)
            owner_table = self.source_of_target.get(owner)
            if src is not None and owner_table is not None:
                found.append((to, src, owner_table))
        return found

    def ids_past(self, table: str, after: tuple[str, Any] | None) -> set[int]:
        """The monolith ids of the rows past ``after`` (all of them without one)."""
        if after is None:
            return set(self.ids(table))
        column, value = after
        mark = "rowid" if column == "rowid" else q(column)
        return monolith_ids(self.db, self.analysis, table, self.identity(table), f" WHERE {mark} > ?", (value,))

    def source_ids(self, table: str, rowids: Iterable[int]) -> set[int]:
        """The monolith ids (as :attr:`skipped` holds them) of the rows of ``table`` with
        these rowids (those still there)."""
        tm = self.maps[table]
        wanted = sorted(set(rowids))
        found: set[int] = set()
        for at in range(0, len(wanted), ROWIDS_AT_ONCE):
            part = wanted[at : at + ROWIDS_AT_ONCE]
            marks = ", ".join("?" * len(part))
            sql = f"SELECT rowid AS isles_rowid, * FROM {q(table)} WHERE rowid IN ({marks})"
            found.update(tm.source_id(r) for r in self.db.execute(sql, part))
        return found

    def changed_order(self) -> list[str]:
        """The load order for ``--changed``: the usual one (parents first where a foreign
        key inside a service needs them), but also each owner before the tables that
        keep a copy of its columns (their copies take its new version); where the two
        cannot both hold, the usual one."""
        usual = list(self.maps)
        needs: dict[str, set[str]] = {name: set() for name in usual}
        for name, tm in self.maps.items():
            for to, (kind, src) in tm.fills.items():
                if kind == "column" and tm.target.columns[to].foreign_key:
                    parent = self.refers_to(name, src)
                    if parent is not None and parent != name and parent in needs:
                        needs[name].add(parent)
            needs[name].update(owner for _, _, owner in self.copies_of(tm) if owner in needs and owner != name)
            needs[name].update(p for p in self.before.get(name, ()) if p in needs)  # references across services
        order: list[str] = []
        while len(order) < len(usual):
            ready = next((n for n in usual if n not in order and needs[n] <= set(order)), None)
            if ready is None:  # a cycle
                return usual
            order.append(ready)
        return order

    def watermark_column(self, table: str) -> str:
        """What the table's watermark is of: ``updated_at`` where it has one, else rowid."""
        return WATERMARK_COLUMN if self.analysis.tables[table].column(WATERMARK_COLUMN) else "rowid"

    def watermark(self, table: str) -> tuple[str, Any]:
        """Where the table's rows end now: its greatest ``updated_at`` where it has one,
        else its greatest rowid."""
        column = self.watermark_column(table)
        found = self.db.execute(f"SELECT max({'rowid' if column == 'rowid' else q(column)}) FROM {q(table)}")
        value = found.fetchone()[0]
        return column, (0 if value is None and column == "rowid" else value)

    # converting one row

    def uuid(self, table: str, key: int) -> uuid.UUID:
        """:func:`uuid_of` in this run's namespace, each made once."""
        made = self._uuids.setdefault(table, {})
        found = made.get(key)
        if found is None:
            found = made[key] = _uuid5(self.ns.bytes, f"{table}:{key}")
        return found

    def convert_row(
        self, tm: TableMap, row: sqlite3.Row, seen: dict[str, set[tuple[Any, ...]]]
    ) -> tuple[dict[str, Any] | None, list[Reject]]:
        """The target row (None: skipped) and the rejects found in it."""
        compiled = tm.compiled if tm.compiled is not None else self.compile(tm)
        rejects: list[Reject] = []
        rowid = int(row["isles_rowid"])
        values: dict[str, Any] = {}

        def reject(column: str, value: Any, reason: str, decision: str) -> None:
            rejects.append(
                Reject(self.file, tm.source, rowid, column, "" if value is None else str(value), reason, decision)
            )

        try:
            for to, fill in compiled:
                values[to] = fill(row, reject)
            for to, required in tm.not_null:
                if values[to] is None:
                    if required:
                        reject(to, None, f"NULL in {tm.target.full}.{to} (NOT NULL, no default)", "skip")
                        raise _Skip
                    del values[to]  # its default fills it
        except _Skip:
            self.skipped.setdefault(tm.source, set()).add(tm.source_id(row))
            return None, rejects
        for name, cols in tm.unique:
            key = tuple([_folded(values.get(c)) for c in cols])
            if None in key:
                continue
            taken = seen.setdefault(name, set())
            if key in taken:
                shown = ", ".join(f"{c}={values.get(c)}" for c in cols)
                reject(
                    ",".join(cols),
                    shown,
                    f"duplicate of unique key {name}"
                    + (" (ignoring case)" if any(isinstance(values.get(c), str) for c in cols) else ""),
                    "skip",
                )
                self.skipped.setdefault(tm.source, set()).add(tm.source_id(row))
                return None, rejects
            taken.add(key)
        return values, rejects

    def compile(self, tm: TableMap) -> list[tuple[str, Fill]]:
        """What fills each target column of ``tm``, decided once for the table (the
        plan's decisions, the column's type and relation) instead of for every row."""
        compiled: list[tuple[str, Fill]] = []
        for to, (kind, what) in tm.fills.items():
            tc = tm.target.columns[to]
            fill = self._compile_column(tm, tc, what) if kind == "column" else self._compile_default(tm, tc, what)
            compiled.append((to, fill))
        tm.not_null = [
            (to, not tc.has_default) for to, tc in tm.target.columns.items() if to in tm.fills and not tc.nullable
        ]
        tm.compiled = compiled
        return compiled

    def _compile_column(self, tm: TableMap, tc: TargetColumn, src: str) -> Fill:
        """The fill of ``tc`` from the monolith column ``src`` (as :meth:`_column`)."""
        defaults = self.plan.tables[tm.source].defaults
        null_fill = self._compile_default(tm, tc, defaults[tc.name]) if tc.name in defaults else None
        nullable, has_default = tc.nullable, tc.has_default
        empty_is_null = tc.type not in ("String", "Text", "LowerCase", "Encrypted") or nullable
        bad_decision = self._bad_decision(tm, tc, src)
        empty_decision = "null" if nullable else bad_decision

        def fallback(row: sqlite3.Row) -> Any:
            if null_fill is not None:
                return null_fill(row, _no_reject)
            if nullable or has_default:
                return None
            raise _Skip

        as_stored = converter(tc.type) if tc.type == "LowerCase" else None  # '  ' is stored ''

        def empty(row: sqlite3.Row, value: str, reject: Callable[[str, Any, str, str], None]) -> Any:
            if empty_is_null:
                reject(src, value, "empty string", empty_decision)
                return fallback(row) if not nullable else None
            return value if as_stored is None else as_stored(value)

        if tc.type in UUID_TYPES:
            parent = self.refers_to(tm.source, src)
            own_key = parent == tm.source and src == tm.source_pk
            # its skipped rows known before this table's: a foreign key's parent (or
            # the table itself), a reference's loaded before it
            is_fk = bool(tc.foreign_key) or parent in self.before.get(tm.source, ())
            orphans = self.plan.tables[tm.source].orphans.get(src, self.plan.orphans)  # the column's own, or the plan's
            skipped = self.skipped
            made = self._uuids.setdefault(parent or "", {})
            ns = self.ns.bytes

            def to_uuid(row: sqlite3.Row, reject: Callable[[str, Any, str, str], None]) -> Any:
                value = row[src]
                if value is None:
                    return null_fill(row, reject) if null_fill is not None else None
                if value.__class__ is str and not value.strip():
                    return empty(row, value, reject)
                if parent is None:
                    reject(src, value, "an integer id with no relation to a table", "skip")
                    raise _Skip
                try:
                    key = value if value.__class__ is int else to_id(value)
                except Bad as exc:
                    reject(src, value, str(exc), "skip")
                    raise _Skip from None
                if not own_key:
                    gone = is_fk and key in skipped.get(parent, ())
                    if gone or key not in self.ids(parent):
                        decision = orphans
                        if gone and decision == "keep" and tc.foreign_key:  # a foreign key will not take it
                            decision = "null" if nullable else "skip"
                        if decision == "null" and not nullable:
                            decision = "skip"
                        why = f"its {parent} row {key} is a reject" if gone else f"no {parent} row with id {key}"
                        reject(src, value, f"orphan: {why}", decision)
                        if decision == "skip":
                            raise _Skip
                        if decision == "null":
                            return None
                found = made.get(key)
                if found is None:
                    found = made[key] = _uuid5(ns, f"{parent}:{key}")
                return found

            return to_uuid

        conv = converter(tc.type, getattr(tm.table.columns[tc.name].type, "python_type_", None))
        words = self.plan.tables[tm.source].values.get(src)

        def to_value(row: sqlite3.Row, reject: Callable[[str, Any, str, str], None]) -> Any:
            value = row[src]
            if words is not None:  # the target's word for the monolith's (its text, exactly)
                value = _in_words(value, words)
            if value is None:
                return null_fill(row, reject) if null_fill is not None else None
            if value.__class__ is str and not value.strip():
                return empty(row, value, reject)
            try:
                return conv(value)
            except Bad as exc:
                reject(src, value, str(exc), bad_decision)
                if bad_decision == "skip":
                    raise _Skip from None
                return fallback(row)

        return to_value

    def _compile_default(self, tm: TableMap, tc: TargetColumn, value: Any) -> Fill:
        """The fill of ``tc`` from the plan's default ``value`` (a constant, ``via`` a relation, ``copy``)."""
        if isinstance(value, Mapping) and "via" in value:
            via, column = str(value["via"]), str(value["column"])
            found = self.related(tm.source, via)
            if found is None:
                return _none
            parent = found[0]
            theirs = self.plan.tables.get(parent)
            mapped = theirs.columns.get(column) if theirs is not None else None
            instead: Any = None  # the related row's NULL: the value the plan gives it there
            if theirs is not None and mapped in theirs.defaults and not isinstance(theirs.defaults[mapped], Mapping):
                instead = theirs.defaults[mapped]
            grand = self.refers_to(parent, column) if tc.type in UUID_TYPES else None
            is_uuid = tc.type in UUID_TYPES
            # the related row's column in the target's words, as its own row has it
            words = theirs.values.get(column) if theirs is not None and not is_uuid else None
            plain = self._plainer(tm, tc)

            def via_fill(row: sqlite3.Row, _reject: Callable[[str, Any, str, str], None]) -> Any:
                key = row[via]
                if key is None:
                    return None
                related = self.row_of(parent, to_id(key))
                if related is None:
                    return None
                raw = related[column]
                if words is not None:
                    raw = _in_words(raw, words)
                if raw is None:
                    raw = instead
                if is_uuid:
                    return None if grand is None or raw is None else self.uuid(grand, to_id(raw))
                return plain(raw)

            return via_fill
        if isinstance(value, Mapping) and "copy" in value:
            owner = str(value["copy"])
            return lambda row, _reject: self._copy(tm, tc, row, owner)
        if isinstance(value, Mapping) and "key" in value:  # the row's own UUID, from its key
            source, uuid_of_id, source_id = tm.source, self.uuid, tm.source_id
            return lambda row, _reject: uuid_of_id(source, source_id(row))
        constant = self._plain(tm, tc, value)
        return lambda _row, _reject: constant

    def _bad_decision(self, tm: TableMap, tc: TargetColumn, src: str | None = None) -> str:
        policy = self.plan.bad_values
        if src is not None:  # the column's own decision
            policy = self.plan.tables[tm.source].bad_values.get(src, policy)
        if policy == "skip":
            return "skip"
        if tc.name in self.plan.tables[tm.source].defaults or tc.nullable or tc.has_default:
            return "default"
        return "skip"

    def _plainer(self, tm: TableMap, tc: TargetColumn) -> Callable[[Any], Any]:
        """:meth:`_plain` for ``tc``, its converter chosen once."""
        conv = converter(tc.type, getattr(tm.table.columns[tc.name].type, "python_type_", None))

        def plain(value: Any) -> Any:
            if value is None:
                return None
            try:
                return conv(value)
            except Bad:
                return None

        return plain

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
        related = self.row_of(owner_table, to_id(row[src]))
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
            if col is None:
                return True
            raw = _in_words(related[col], owner_plan.values.get(col))  # as the owner's row has it
            try:
                return bool(convert(raw, "Boolean"))
            except Bad:  # the owner's row took its default for it: the plan's, else active
                default = owner_plan.defaults.get("is_active")
                return default if isinstance(default, bool) else True
        if tc.name.endswith("_version"):
            return 1
        stem = tc.name.split("_", 1)[-1]
        return self._plain(tm, tc, related[stem]) if stem in keys else None
