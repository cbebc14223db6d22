"""``isles split run``: load the target services' databases from the monolith, as a
checked plan says (``isles split verify``, which compares them: :mod:`isles.tools.split.verify`).

* **Ids**: every integer id becomes ``uuid5(namespace, f"{table}:{id}")``, the
  namespace made from the plan's system and monolith file name (:func:`namespace`).
  The same id gives the same UUID in every run, process and service: a reference
  (``assignments.employee_id``) gets the UUID its parent (``employees.id``) got, with no
  lookups. The mapping is also written to a SQLite file next to the plan
  (``<plan>.ids.sqlite``, table ``isles_split_ids(source_table, source_id, id)``):
  a table of the run, kept out of the services' databases (whose schema belongs to
  their migrations).
* **Rows** are converted by the target column's type (:class:`Mapper`, each column's
  conversion decided once) and written in batches (:class:`Writer`: on PostgreSQL
  ``COPY`` straight into the table, or into a staging table then ``INSERT ... SELECT
  ... ON CONFLICT (pk) DO NOTHING`` where some rows are there; a prepared ``INSERT ...
  ON CONFLICT (pk) DO NOTHING`` on SQLite; a batch all there is not written: a rerun,
  or a resume after a kill, adds nothing twice), straight into the tables: no unit of
  work, no outbox, no events. ``version`` columns the plan does not fill are set
  to 1. The next batches are converted while the databases write the previous ones
  (:func:`_load`), with at most four PostgreSQL connections (:class:`_Connections`).
* **Rejects**: a value that does not convert, an orphan reference, a duplicate of a
  unique key (emails compared ignoring case), an empty string made NULL: each is a
  :class:`Reject` with the decision the plan's ``[rejects]`` policy took (``skip``
  the row, ``default``, ``null``, ``keep``); a table whose rows with rejects exceed
  ``threshold`` stops the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import functools
import hashlib
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import UniqueConstraint

from isles.tools.split import SplitError
from isles.tools.split.analyse import Analysis, open_readonly, q
from isles.tools.split.fast import FastPlanner, FastTable, texts
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
#: rowids in one ``IN (...)`` where rows are read in an order of their own (SQLite takes
#: 32,766 parameters at most)
ROWIDS_AT_ONCE = 500
ROOT = uuid.UUID("6f1d3c2a-9b8e-4f57-a0c1-5d2e7b9a4c10")
IDS_TABLE = "isles_split_ids"
#: the ids ``--delete-gone`` deleted from the target (taken out of :data:`IDS_TABLE`):
#: ``isles split rollback`` still removes what the runs wrote of them (their history)
GONE_TABLE = "isles_split_gone"
WATERMARKS_TABLE = "isles_split_watermarks"
WATERMARK_COLUMN = "updated_at"
REJECT_FIELDS = ("file", "table", "rowid", "column", "value", "reason", "decision")


def namespace(plan: Plan) -> uuid.UUID:
    """The run's UUID namespace: the same plan (system, monolith file) gives the same ids."""
    return uuid.uuid5(ROOT, f"{plan.system}:{plan.monolith}")


@functools.lru_cache(maxsize=200_000)  # the ids referred to most (employees) are computed once
def uuid_of(ns: uuid.UUID, table: str, source_id: int) -> uuid.UUID:
    return uuid.uuid5(ns, f"{table}:{source_id}")


_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))  # the variant and version bits
_SET = (0x8000 << 48) | (5 << 76)  # RFC 4122, version 5
_safe = uuid.SafeUUID.unknown


def _uuid5(ns: bytes, name: str) -> uuid.UUID:
    """``uuid.uuid5`` (the same value) without ``UUID.__init__``'s checks, which cost
    more than the hash: the run makes one for every row and reference."""
    digest = hashlib.sha1(ns + name.encode(), usedforsecurity=False).digest()
    made = object.__new__(uuid.UUID)
    object.__setattr__(made, "int", (int.from_bytes(digest[:16]) & _CLEAR) | _SET)
    object.__setattr__(made, "is_safe", _safe)
    return made


def _uuid5_text(ns: bytes, name: str) -> str:
    """``str(uuid.uuid5(...))`` (the same text) without making the UUID."""
    made = bytearray(hashlib.sha1(ns + name.encode(), usedforsecurity=False).digest()[:16])
    made[6] = (made[6] & 0x0F) | 0x50  # version 5
    made[8] = (made[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = made.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


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
    fast: int = 0  # of them: converted by SQL and written as COPY text (isles.tools.split.fast)
    skipped: int = 0
    rejected_rows: int = 0  # rows with at least one reject
    read: int = 0  # --changed: the rows read (past the watermark)
    inserted: int = 0  # --changed: new rows written
    updated: int = 0  # --changed: rows updated (their version bumped)
    deleted: list[int] = field(default_factory=list)  # --changed: ids of the last run no longer in the monolith
    removed: int = 0  # --delete-gone: rows of ``deleted`` deleted from the target now
    kept: list[int] = field(default_factory=list)  # --delete-gone: ids whose delete the database refused

    @property
    def share(self) -> float:
        return self.rejected_rows / self.rows if self.rows else 0.0


@dataclass(repr=False)
class RunResult:
    tables: list[TableResult] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    stopped_at: str | None = None  # the table whose rejects exceeded the threshold
    replicas: dict[str, int] = field(default_factory=dict)  # "service.copy_table" -> rows written
    replicas_left: dict[str, str] = field(default_factory=dict)  # "service.copy_table" -> why not filled
    #: per monolith table read: (column, value) past which the next --changed reads
    watermarks: dict[str, tuple[str, Any]] = field(default_factory=dict)
    changed: bool = False  # a --changed run
    read_rows: set[tuple[str, int]] = field(default_factory=set)  # --changed: (table, rowid) read
    order: list[str] = field(default_factory=list)  # the monolith tables in the (full) run's order
    #: the UUIDs' texts the fast path made (its id maps): table -> id -> text
    id_texts: dict[str, dict[int, str]] = field(default_factory=dict)
    #: --delete-gone: the ids deleted from the target (or found gone there), per table:
    #: the id file forgets them (:func:`forget_ids`)
    forgotten: dict[str, list[int]] = field(default_factory=dict)
    deleting: bool = False  # --delete-gone ran: the findings about gone ids are its
    #: the ids recorded in the id file before their rows were written (:class:`IdRecorder`)
    recorded: dict[str, set[int]] = field(default_factory=dict)

    def __repr__(self) -> str:
        # short: asyncio.run reprs its main task, and with it the result, when it looks
        # at its SIGINT handler (CPython 3.11's signal.getsignal): a run's ids and
        # rejects written out took 0.15 s of the example's run
        return f"RunResult({len(self.tables)} tables, {len(self.rejects)} rejects, stopped at {self.stopped_at})"


#: the reason of a reject about an id gone from the monolith (``--delete-gone``: its
#: ``rowid`` is the monolith id, the row being gone); each such run finds them again
GONE = "gone from the monolith"


def merge_rejects(before: Sequence[Reject], result: RunResult) -> list[Reject]:
    """The rejects file after a ``--changed`` run: the earlier findings of the rows it
    did not read, and its own, in the run's table order then rowid."""
    kept = [
        r
        for r in before
        if (r.table, r.rowid) not in result.read_rows and not (result.deleting and r.reason.startswith(GONE))
    ]
    if not result.rejects and len(kept) == len(before):
        return list(before)  # as it was, in the first run's order
    order = {name: n for n, name in enumerate(result.order)}
    return sorted([*kept, *result.rejects], key=lambda r: (order.get(r.table, len(order)), r.rowid))


class Bad(Exception):
    """A value that does not convert to the target column's type."""


class _Skip(Exception):
    pass


async def _chunks(chunks: Iterator[list[sqlite3.Row]]) -> AsyncIterator[list[Any]]:
    for chunk in chunks:
        yield chunk


def clean_first(
    take: Callable[[tuple[Any, ...]], None],
    fast: FastTable,
    chunk: list[tuple[Any, ...]],
    seen: dict[str, set[tuple[Any, ...]]],
    planner: FastPlanner,
) -> Iterator[sqlite3.Row]:
    """The fast path's reading of a chunk: its clean rows whose unique keys are new go to
    ``take`` (their keys taken) at their place in rowid order, the others are given to
    the mapper (a clean row with a key taken before too: the mapper reports the
    duplicate)."""
    dirty = planner.full_rows(fast.tm.source, [r[0] for r in chunk if not r[2]])
    uniques = fast.uniques
    selfrefs = fast.selfrefs
    gone = planner.mapper.skipped.setdefault(fast.tm.source, set())  # grows as the mapper skips rows
    for r in chunk:
        if r[2] and not (selfrefs and any(r[i] in gone for i in selfrefs)):
            keys = [
                (name, tuple([r[i].casefold() if fold and r[i] is not None else r[i] for i, fold in parts]))
                for name, parts in uniques
            ]
            if not any(None not in key and key in seen.get(name, ()) for name, key in keys):
                for name, key in keys:
                    if None not in key:
                        seen.setdefault(name, set()).add(key)
                take(r)
                continue
            yield planner.full_rows(fast.tm.source, [r[0]])[r[0]]
        else:
            yield dirty[r[0]] if r[0] in dirty else planner.full_rows(fast.tm.source, [r[0]])[r[0]]


def _refused(exc: Exception) -> bool:
    """Whether the database refused a row for its values (SQLSTATE class 23, a
    constraint; 22, a value the column cannot hold), not for something else."""
    from sqlalchemy.exc import IntegrityError

    if isinstance(exc, IntegrityError):
        return True
    orig = getattr(exc, "orig", exc)
    code = str(getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "")
    return code.startswith(("22", "23"))


def _no_reject(column: str, value: Any, reason: str, decision: str) -> None:
    """A default's fill reports nothing."""


def _none(_row: sqlite3.Row, _reject: Callable[[str, Any, str, str], None]) -> Any:
    return None


def to_id(v: Any) -> int:
    if isinstance(v, bool):
        raise Bad("a boolean, not an id")
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and v.strip().lstrip("-").isdigit():
        return int(v.strip())
    raise Bad("not an integer id")


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


def convert(value: Any, type_: str, python_type: type | None = None) -> Any:
    """``value`` (from SQLite) as the target type wants it; :class:`Bad` if it cannot be."""
    if value is None:
        return None
    return converter(type_, python_type)(value)


@functools.lru_cache(maxsize=256)
def converter(type_: str, python_type: type | None = None) -> Callable[[Any], Any]:
    """The conversion of a non-NULL value to ``type_`` (see :func:`convert`), chosen once
    per column: the run converts every value of a column with the same function."""
    if type_ in INT_TYPES:

        def to_int(value: Any) -> int:
            if value.__class__ is int:
                return value
            try:
                return to_id(value)
            except Bad:
                raise Bad(f"not an integer ({type_})") from None

        return to_int
    if type_ in NUM_TYPES:

        def to_number(value: Any) -> Decimal:
            if isinstance(value, bool):
                raise Bad(f"not a number ({type_})")
            try:
                return Decimal(str(value).strip())
            except InvalidOperation:
                raise Bad(f"not a number ({type_})") from None

        return to_number
    if type_ == "Boolean":
        return _to_bool
    if type_ == "Date":
        return _to_date
    if type_ in DATE_TYPES:  # DateTime, UTCDateTime, Time
        return _to_stamp
    if type_ == "Encrypted" and python_type is not None and python_type is not str:
        # as the plain column of its Python type converts (a REAL's Decimal from its
        # text, not from the float's binary expansion; 1.5 is not an int)
        for kinds, plain in (
            ((bool,), "Boolean"),
            ((int,), "Integer"),
            ((Decimal,), "Numeric"),
            ((datetime,), "DateTime"),
            ((date,), "Date"),
        ):
            if issubclass(python_type, kinds):
                return converter(plain)
        kind = python_type

        def to_python(value: Any) -> Any:
            try:
                return kind(value)
            except (TypeError, ValueError, ArithmeticError):
                raise Bad(f"not a {kind.__name__}") from None

        return to_python
    return _to_str


def _to_bool(value: Any) -> bool:
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("1", "true", "t", "yes", "y"):
        return True
    if text in ("0", "false", "f", "no", "n"):
        return False
    raise Bad("not true or false")


def _to_date(value: Any) -> date:
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise Bad("not a date") from None


def _to_stamp(value: Any) -> datetime:
    try:
        stamp = datetime.fromisoformat(str(value).strip().replace(" ", "T"))
    except ValueError:
        raise Bad("not a date and time") from None
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def _to_str(value: Any) -> str:
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


def _number(value: Any) -> str:
    d = Decimal(str(value)).normalize()
    return "0" if d.is_zero() else format(d, "f")


def _stamp(value: datetime) -> str:
    return (value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)).isoformat()


#: :func:`norm` by the value's exact class (the common ones; others go through norm)
_NORMS: dict[type, Callable[[Any], str]] = {
    type(None): lambda _v: "\x00",
    bool: lambda v: "true" if v else "false",
    int: _number,
    float: _number,
    Decimal: _number,
    datetime: _stamp,
    date: date.isoformat,
    uuid.UUID: str,
}


def checksum(values: Sequence[Any]) -> str:
    """sha256 of the values as :func:`norm` writes them."""
    norms = _NORMS
    return hashlib.sha256(
        "\x1f".join([v if v.__class__ is str else norms.get(v.__class__, norm)(v) for v in values]).encode()
    ).hexdigest()


# --- a row's identity ---------------------------------------------------------------------


def row_key_id(parts: Sequence[Any]) -> int:
    """The monolith id of a row identified by several columns (a primary key of two
    columns, or the ones a plan's ``{ key = [...] }`` names): a 63-bit integer of their
    values' texts (blake2b), the same in every run and process — the id its UUID is
    made of (:func:`uuid_of`) and the id file keeps. A run refuses a monolith where two
    keys give one id (:class:`SplitError`): it never merges rows."""
    text = "\x1f".join("\x00" if p is None else str(p) for p in parts)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") >> 1


def identity_of(plan: Plan, analysis: Analysis, table: str) -> tuple[str, ...]:
    """How the rows of monolith ``table`` are told apart: ``()`` by their one-column
    integer primary key (the usual case); else the columns a ``{ key = [...] }``
    default of the plan names (``("rowid",)`` for ``{ key = "rowid" }``), or the
    table's primary key of several columns."""
    tp = plan.tables.get(table)
    if tp is not None:
        for value in tp.defaults.values():
            if isinstance(value, Mapping) and "key" in value:
                key = value["key"]
                return ("rowid",) if key == "rowid" else tuple(str(c) for c in key)
    pk = analysis.tables[table].primary_key
    return () if len(pk) == 1 else pk


def monolith_ids(
    db: sqlite3.Connection,
    analysis: Analysis,
    table: str,
    identity: Sequence[str],
    where: str = "",
    args: Sequence[Any] = (),
) -> set[int]:
    """The monolith ids of ``table``'s rows (``where`` them), as :func:`identity_of`
    says; :class:`SplitError` where two rows have one key, or an id is not an integer."""
    if not identity:
        key = analysis.tables[table].primary_key[0]
        rows = db.execute(f"SELECT {q(key)} FROM {q(table)}{where}", tuple(args))
        try:
            return {int(r[0]) for r in rows}
        except (TypeError, ValueError):
            raise SplitError(
                f"tables.{table}: its primary key {key} holds values that are not integer ids: give the target's "
                f"key as {{ key = [{key!r}] }} in [tables.{table}.defaults]"
            ) from None
    if tuple(identity) == ("rowid",):
        return {int(r[0]) for r in db.execute(f"SELECT rowid FROM {q(table)}{where}", tuple(args))}
    columns = ", ".join(q(c) for c in identity)
    found: dict[int, int] = {}
    for r in db.execute(f"SELECT rowid, {columns} FROM {q(table)}{where}", tuple(args)):
        ident = row_key_id(tuple(r)[1:])
        if ident in found:
            raise SplitError(
                f"tables.{table}: rows {found[ident]} and {r[0]} have one key ({', '.join(identity)}): "
                "a key must tell every row apart (name other columns in { key = [...] })"
            )
        found[ident] = int(r[0])
    return set(found)


# --- the mapping of one table ------------------------------------------------------------


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
        # for the fast path (isles.tools.split.fast), which cannot import this module
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
                related = self.refers_to(tm.source, str(what["via"]))
                if related is not None:
                    found.append((to, str(what["via"]), related))
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
        empty_is_null = tc.type not in ("String", "Text", "Encrypted") or nullable
        bad_decision = self._bad_decision(tm, tc)
        empty_decision = "null" if nullable else bad_decision

        def fallback(row: sqlite3.Row) -> Any:
            if null_fill is not None:
                return null_fill(row, _no_reject)
            if nullable or has_default:
                return None
            raise _Skip

        def empty(row: sqlite3.Row, value: str, reject: Callable[[str, Any, str, str], None]) -> Any:
            if empty_is_null:
                reject(src, value, "empty string", empty_decision)
                return fallback(row) if not nullable else None
            return value

        if tc.type in UUID_TYPES:
            parent = self.refers_to(tm.source, src)
            own_key = parent == tm.source and src == tm.source_pk
            is_fk = bool(tc.foreign_key)
            orphans = self.plan.orphans
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
                        if gone and decision == "keep":  # a foreign key will not take it
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
            parent = self.refers_to(tm.source, via)
            if parent is None:
                return _none
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

    def _bad_decision(self, tm: TableMap, tc: TargetColumn) -> str:
        if self.plan.bad_values == "skip":
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


def write_rejects(path: Path, rejects: Sequence[Reject]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(REJECT_FIELDS)
        for r in rejects:
            writer.writerow(r.row())


_IDS_DDL = (
    f"CREATE TABLE IF NOT EXISTS {IDS_TABLE} (source_table TEXT NOT NULL, source_id INTEGER NOT NULL, "
    "id TEXT NOT NULL, PRIMARY KEY (source_table, source_id))"
)


def write_ids(
    path: Path,
    ns: uuid.UUID,
    tables: Mapping[str, set[int]],
    known: Mapping[str, Mapping[int, str]] | None = None,
    recorded: Mapping[str, set[int]] | None = None,
) -> None:
    """The id mapping of the run, in a SQLite file of its own (rewritten each run);
    ``known``: UUIDs' texts the run made already (the fast path's id maps);
    ``recorded``: ids the run wrote there already (:class:`IdRecorder`), not again."""
    db = sqlite3.connect(path)
    try:
        db.execute(_IDS_DDL)
        for table, ids in tables.items():
            made = (known or {}).get(table, {})
            there = (recorded or {}).get(table)
            db.executemany(
                f"INSERT OR IGNORE INTO {IDS_TABLE} VALUES (?, ?, ?)",
                (
                    (table, i, made.get(i) or _uuid5_text(ns.bytes, f"{table}:{i}"))
                    for i in sorted(ids if there is None else ids - there)
                ),
            )
        db.commit()
    finally:
        db.close()


class IdRecorder:
    """The ids of the rows a run writes, added to its id file (:data:`IDS_TABLE`) before
    they go to a target — a table's ids before its first batch, a batch's rows the
    monolith gained since before that batch — so that a run that dies part-way
    (``kill -9``, a crash, a database error) leaves the mapping ``isles split
    rollback`` undoes it with. The file is in WAL mode while the run records (commits
    without an fsync: a process that dies loses nothing committed; a machine that does
    may lose the last ids, never the file) and back in its one-file mode when closed."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.execute(_IDS_DDL)
        self.db.commit()
        #: the ids in the file, per table (the earlier runs' too: a rerun records none)
        self.recorded: dict[str, set[int]] = {}
        for table, ident in self.db.execute(f"SELECT source_table, source_id FROM {IDS_TABLE}"):
            self.recorded.setdefault(table, set()).add(ident)

    def record(self, table: str, pairs: Sequence[tuple[int, str]]) -> None:
        """``(monolith id, UUID text)`` of rows about to be written, none of them in
        :attr:`recorded` (the caller leaves those out)."""
        if pairs:
            # one statement (json_each), not one step per row (executemany): 152,000
            # ids took 0.30 s so against 0.47 s, alone on this machine
            self.db.execute(
                f"INSERT OR IGNORE INTO {IDS_TABLE} SELECT ?, CAST(key AS INTEGER), value FROM json_each(?)",
                (table, json.dumps(dict(pairs))),
            )
            self.db.commit()
            self.recorded.setdefault(table, set()).update(i for i, _ in pairs)

    def record_table(self, table: str, ids: set[int], ns: uuid.UUID, texts: Mapping[int, str] | None) -> None:
        """Every id of a monolith table, before its first batch is written: one
        transaction per table, not one per batch (each batch then records only the ids
        of rows the monolith gained since, if any). ``texts``: UUID texts made
        already (the fast path's id map)."""
        known = self.recorded.get(table, set())
        made = texts or {}
        self.record(table, [(i, made.get(i) or _uuid5_text(ns.bytes, f"{table}:{i}")) for i in ids if i not in known])

    def close(self) -> None:
        with contextlib.suppress(sqlite3.OperationalError):  # another connection has it: it stays WAL
            self.db.execute("PRAGMA journal_mode = DELETE")
        self.db.close()


def foreign_keys_to(table: Table, pk: str) -> list[tuple[Table, Any]]:
    """The (table, column) pairs of the service that name ``table``'s rows by a foreign
    key to ``pk`` (the table itself included: a manager)."""
    return [
        (fk.parent.table, fk.parent)
        for other in table.metadata.tables.values()
        for fk in other.foreign_keys
        if fk.column.table is table and fk.column.name == pk
    ]


def forget_ids(path: Path, tables: Mapping[str, Sequence[int]]) -> None:
    """Take the ids of rows deleted from the target (gone from the monolith, deleted by
    ``--delete-gone``) out of the run's id file: later runs no longer report them. They
    are kept apart (:data:`GONE_TABLE`): a rollback removes their history."""
    db = sqlite3.connect(path)
    try:
        db.execute(_IDS_DDL.replace(IDS_TABLE, GONE_TABLE))
        for table, ids in tables.items():
            pairs = [(table, i) for i in ids]
            db.executemany(
                f"INSERT OR IGNORE INTO {GONE_TABLE} "
                f"SELECT * FROM {IDS_TABLE} WHERE source_table = ? AND source_id = ?",
                pairs,
            )
            db.executemany(f"DELETE FROM {IDS_TABLE} WHERE source_table = ? AND source_id = ?", pairs)
        db.commit()
    finally:
        db.close()


def write_watermarks(path: Path, marks: Mapping[str, tuple[str, Any]]) -> None:
    """Each table's watermark (where the run's reading ended) in the run's id file."""
    db = sqlite3.connect(path)
    try:
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {WATERMARKS_TABLE} (source_table TEXT PRIMARY KEY, "
            "column_name TEXT NOT NULL, value)"
        )
        db.executemany(
            f"INSERT OR REPLACE INTO {WATERMARKS_TABLE} VALUES (?, ?, ?)",
            [(table, column, value) for table, (column, value) in sorted(marks.items())],
        )
        db.commit()
    finally:
        db.close()


def read_watermarks(path: Path) -> dict[str, tuple[str, Any]]:
    """The watermarks the last runs left (:class:`SplitError` if there are none)."""
    if not path.is_file():
        raise SplitError(f"{path}: no id mapping of a run: run isles split run without --changed first")
    try:
        with open_readonly(path) as db:
            rows = db.execute(f"SELECT source_table, column_name, value FROM {WATERMARKS_TABLE}").fetchall()
    except (sqlite3.Error, SplitError) as exc:
        raise SplitError(f"{path}: no watermarks ({exc}): run isles split run without --changed first") from exc
    return {str(table): (str(column), value) for table, column, value in rows}


TARGETS_TABLE = "isles_split_targets"


def check_targets(path: Path, targets: Mapping[str, str]) -> None:
    """The databases (service -> URL, passwords hidden) the runs of this id file wrote
    to: recorded by the first, and every later run, ``--changed`` or rollback must
    name the same (:class:`SplitError` otherwise: its ids would be taken for another
    system's rows, and the same monolith's UUIDs are the same everywhere). A service
    new to the plan is recorded."""
    db = sqlite3.connect(path)
    try:
        db.execute(f"CREATE TABLE IF NOT EXISTS {TARGETS_TABLE} (service TEXT PRIMARY KEY, url TEXT NOT NULL)")
        recorded = dict(db.execute(f"SELECT service, url FROM {TARGETS_TABLE}").fetchall())
        other = sorted(s for s, url in targets.items() if recorded.get(s, url) != url)
        if other:
            s = other[0]
            raise SplitError(
                f"{path}: the runs of this id mapping wrote {s} to {recorded[s]}, not {targets[s]}: give the "
                "same --data-dir or --database-url (or a plan and id mapping of their own)"
            )
        db.executemany(f"INSERT OR IGNORE INTO {TARGETS_TABLE} VALUES (?, ?)", sorted(targets.items()))
        db.commit()
    finally:
        db.close()


def read_loaded_ids(path: Path) -> dict[str, set[int]]:
    """The monolith ids the runs loaded, per table (from the id file; empty if none)."""
    if not path.is_file():
        return {}
    with open_readonly(path) as db:
        found: dict[str, set[int]] = {}
        for table, ident in db.execute(f"SELECT source_table, source_id FROM {IDS_TABLE}"):
            found.setdefault(str(table), set()).add(int(ident))
    return found


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
    changed: Mapping[str, tuple[str, Any]] | None = None,
    loaded_ids: Mapping[str, set[int]] | None = None,
    fast: bool = True,
    delete_gone: bool = False,
    ids_file: Path | None = None,
) -> RunResult:
    """Load every mapped table into its service's database (which must be migrated).
    With ``ids_file``, each batch's ids are added to it before the batch is written
    (:class:`IdRecorder`; ``result.recorded``).

    With ``changed`` (the watermarks of the last runs, :func:`read_watermarks`), only
    the rows past each table's watermark are read (a table without one: all of them):
    rows not in the target are inserted, rows whose converted values differ from the
    target's are updated, their ``version`` bumped, and their replicas updated with the
    new version; the others are left alone. The ids of ``loaded_ids`` no longer in the
    monolith are reported; with ``delete_gone``, their rows are deleted from the target
    and its copies too (:func:`_delete_gone`), unless the run stopped."""
    result = RunResult(changed=changed is not None)
    recorder = IdRecorder(ids_file) if ids_file is not None else None
    try:
        return await _run(
            result,
            plan,
            analysis,
            target,
            system,
            dbs,
            batch,
            progress,
            changed,
            loaded_ids,
            fast,
            delete_gone,
            recorder,
        )
    finally:
        if recorder is not None:
            result.recorded = recorder.recorded
            recorder.close()


async def _run(
    result: RunResult,
    plan: Plan,
    analysis: Analysis,
    target: Target,
    system: System,
    dbs: Mapping[str, ServiceDatabase],
    batch: int,
    progress: Progress | None,
    changed: Mapping[str, tuple[str, Any]] | None,
    loaded_ids: Mapping[str, set[int]] | None,
    fast: bool,
    delete_gone: bool,
    recorder: IdRecorder | None,
) -> RunResult:
    with open_readonly(analysis.path) as db:
        db.row_factory = sqlite3.Row
        mapper = Mapper(plan, analysis, target, system, db)
        order = result.order = list(mapper.maps)
        past: dict[str, set[int]] = {}
        bumped: dict[str, dict[int, int]] = {}  # --changed: monolith table -> id -> its new version
        if changed is not None:
            # a mark of another column than the table's now (an updated_at added to the
            # monolith, or dropped, since the last run) says nothing of which rows
            # changed: the table is read whole, once
            changed = {
                t: mark for t, mark in changed.items() if t not in mapper.maps or mark[0] == mapper.watermark_column(t)
            }
            order = mapper.changed_order()
            past = {name: mapper.ids_past(name, changed.get(name)) for name in order}
        if changed is None:
            planner = FastPlanner(mapper) if fast else None
            try:
                await _load(mapper, plan, system, dbs, result, batch, progress, planner, recorder)
            finally:
                if planner is not None:
                    result.id_texts = planner.texts
                    planner.close()
            return result
        for name in order:
            tm = mapper.maps[name]
            writer = Writer(dbs[tm.target.service], tm.table, tm.pk)
            replicas, left = replicas_of(plan, system, tm.target.full)
            result.replicas_left.update(left)
            copies = [(r, Writer(dbs[r.service], r.table, r.columns[0]), replica_filler(r, tm.table)) for r in replicas]
            tr = TableResult(name, tm.target.full, rows=mapper.count(name))
            # taken before reading: a row written meanwhile is read again next time
            result.watermarks[name] = mapper.watermark(name)
            tr.deleted = sorted((loaded_ids or {}).get(name, set()) - mapper.ids(name))
            await _changed_table(
                mapper, tm, tr, result, writer, copies, changed.get(name), batch, progress, past, bumped, recorder
            )
            result.tables.append(tr)
            if tr.share > plan.threshold:
                result.stopped_at = name
                break
        if delete_gone and result.stopped_at is None:
            await _delete_gone(mapper, plan, system, dbs, result, batch)
    return result


async def _delete_gone(
    mapper: Mapper,
    plan: Plan,
    system: System,
    dbs: Mapping[str, ServiceDatabase],
    result: RunResult,
    batch: int,
) -> None:
    """``--delete-gone``: the target rows of the ids gone from the monolith deleted, the
    tables that name others first (children before parents), with the rows of their
    copies in other services. A table that keeps a history gets each row's last version
    first (operation ``delete``, by ``operator:isles-split``).

    A row that a row of its service not going too still names by a foreign key is *not*
    deleted, whatever the key's ``ON DELETE`` says: deleting it would refuse, or change
    or delete that live row behind its back (``SET NULL``, ``CASCADE``) with no version
    and no history. Such a row, and one the database refuses, stays: a reject (decision
    ``keep``) for the id, reported again next time; so does an id whose copy could not
    be deleted (the id file keeps it)."""
    result.deleting = True
    for tr in reversed(result.tables):
        if not tr.deleted:
            continue
        name = tr.source
        tm = mapper.maps[name]
        writer = Writer(dbs[tm.target.service], tm.table, tm.pk)
        replicas, _ = replicas_of(plan, system, tm.target.full)
        going = {mapper.uuid(name, i) for i in tr.deleted}
        for at in range(0, len(tr.deleted), batch):
            ids = tr.deleted[at : at + batch]
            rows = [(i, mapper.uuid(name, i)) for i in ids]
            held = await writer.held([k for _, k in rows], going)
            removed, refused = await writer.delete([(i, k) for i, k in rows if k not in held])
            refused += [(i, held[k]) for i, k in rows if k in held]
            tr.removed += removed
            kept = {i for i, _ in refused}
            result.rejects += [
                Reject(mapper.file, name, i, "", "", f"gone from the monolith, not deleted: {why}", "keep")
                for i, why in refused
            ]
            gone = [i for i in ids if i not in kept]
            for replica in replicas:
                copy_writer = Writer(dbs[replica.service], replica.table, replica.columns[0])
                copies = [(i, mapper.uuid(name, i)) for i in gone]
                copies_held = await copy_writer.held([k for _, k in copies], set())
                _, failed = await copy_writer.delete([(i, k) for i, k in copies if k not in copies_held])
                failed += [(i, copies_held[k]) for i, k in copies if k in copies_held]
                result.rejects += [
                    Reject(
                        mapper.file,
                        name,
                        i,
                        replica.full,
                        "",
                        f"gone from the monolith, copy not deleted: {why}",
                        "keep",
                    )
                    for i, why in failed
                ]
                kept.update(i for i, _ in failed)
            tr.kept += sorted(kept)
            result.forgotten.setdefault(name, []).extend(i for i in ids if i not in kept)


Batch = list[tuple[int, int, dict[str, Any]]]  # (rowid, monolith id, the target row)
Copies = list[tuple["Replica", "Writer", Callable[[Mapping[str, Any]], dict[str, Any]]]]


#: batches converted ahead of the one being written (each waits in memory)
AHEAD = 2
#: keys in one ``IN (...)`` of --delete-gone's deletes and lookups
DELETES_AT_ONCE = 1000
#: rows converted between two turns given to the event loop (the writes' I/O)
TURN = 250
#: services whose connections are kept open at once; writes in flight at once
OPEN_SERVICES = 4
WRITES = 3


@dataclass
class _Table:
    """One table of a load: what the converter made for the writer."""

    tm: TableMap
    tr: TableResult
    writer: Writer
    copies: Copies
    watermark: tuple[str, Any]
    left: dict[str, str]  # the replicas not filled, and why
    #: the rows written, per batch, for the copies (with where their rejects go, and the
    #: fast path's rows written as text)
    kept: list[tuple[Batch, int, list[tuple[Any, ...]]]] = field(default_factory=list)
    fast: FastTable | None = None
    done: int = 0  # monolith rows read
    #: set once every batch of the table is written (its refused rows known)
    written: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class _Job:
    table: _Table
    rows: Batch
    rejects: list[Reject]
    rejected_rows: int
    skipped: int
    read: int
    last: bool = False  # the table's end (no rows)
    #: the fast path's clean rows (rows of :attr:`FastTable.sql`) and their COPY text
    fast: list[tuple[Any, ...]] = field(default_factory=list)
    tail: str = ""  # the Python defaults' text of the batch (after each line)
    #: set once this batch's own rows are written (before its replicas)
    written: asyncio.Event = field(default_factory=asyncio.Event)


class _Connections:
    """At most :data:`OPEN_SERVICES` services' pools hold connections at once, and at
    most :data:`WRITES` services are written at once: a service not used for the
    longest time closes its idle connections (``dispose``) before another opens one."""

    def __init__(self, dbs: Mapping[str, ServiceDatabase]) -> None:
        self.dbs = {name: db for name, db in dbs.items() if not db.is_sqlite}  # SQLite: files, no server
        self.open: dict[str, int] = {}  # service -> users now (insertion order: least recent first)
        self.limit = asyncio.Semaphore(WRITES)
        # One writer per service at a time: its pool then holds one connection, so the
        # open services' connections are at most OPEN_SERVICES (two copies in one
        # service written side by side had it hold two: five connections seen).
        self.one: dict[str, asyncio.Lock] = {name: asyncio.Lock() for name in self.dbs}
        # The services whose pools are being closed: a write to one waits for it. Its
        # connection would otherwise come from the pool being closed (the engine takes
        # the new one only once the old one's connections are closed), go back to that
        # pool, and stay open there, used by nobody: five connections held.
        self.closing: dict[str, asyncio.Task[None]] = {}
        self.opened = 0  # services (re)opened: for the tests

    @contextlib.asynccontextmanager
    async def use(self, service: str) -> AsyncIterator[None]:
        """Hold one of the :data:`WRITES` places for writing to ``service``."""
        if service not in self.dbs:
            yield
            return
        async with self.one[service], self.limit:
            closing = self.closing.get(service)
            if closing is not None:
                await asyncio.shield(closing)
            if service in self.open:
                self.open[service] = self.open.pop(service)  # the most recent now
            else:
                # A pool being closed still holds its connection until it is closed: it
                # counts (a write that opened a service meanwhile made five: a CI run).
                while len(self.open) + len(closing_now := self._closing_now()) >= OPEN_SERVICES:
                    idle = next((s for s, n in self.open.items() if n == 0), None)
                    if idle is not None:
                        del self.open[idle]
                        await self._close(idle)
                    elif closing_now:
                        await asyncio.wait(closing_now, return_when=asyncio.FIRST_COMPLETED)
                    else:  # cannot happen with WRITES < OPEN_SERVICES
                        break
                self.open[service] = 0
                self.opened += 1
            self.open[service] += 1
            try:
                yield
            finally:
                self.open[service] -= 1

    def _closing_now(self) -> list[asyncio.Task[None]]:
        return [task for task in self.closing.values() if not task.done()]

    async def _close(self, service: str) -> None:
        """Close ``service``'s pool; a write to it meanwhile waits (:attr:`closing`)."""
        task = self.closing[service] = asyncio.ensure_future(self.dbs[service].dispose())
        try:
            await asyncio.shield(task)
        finally:
            if self.closing.get(service) is task and task.done():
                del self.closing[service]

    async def close(self) -> None:
        for service in list(self.open):
            await self.dbs[service].dispose()
        self.open.clear()
        for task in list(self.closing.values()):
            await task
        self.closing.clear()


async def _load(
    mapper: Mapper,
    plan: Plan,
    system: System,
    dbs: Mapping[str, ServiceDatabase],
    result: RunResult,
    batch: int,
    progress: Progress | None,
    planner: FastPlanner | None = None,
    recorder: IdRecorder | None = None,
) -> None:
    """The full run: the monolith's rows converted (this coroutine's own work, on the
    process's core) while the batches converted before are written (the databases'
    work): a converter and a writer, :data:`AHEAD` batches apart. The writer takes the
    batches in the order they were converted, so the tables, the rejects and the
    refused rows come out as one after the other would. Where a row's conversion
    depends on what was written before it — a foreign key inside a service names a
    row that the database may have refused (then the row is an orphan) — the converter
    waits for that write: for a parent table, until all its batches are written; for
    a table that refers to itself (a manager), until the previous batch's own rows are
    (not its replicas)."""
    jobs: asyncio.Queue[_Job | None] = asyncio.Queue(maxsize=AHEAD)
    stop = asyncio.Event()  # a table passed the threshold: nothing after it is written
    tables: dict[str, _Table] = {}
    connections = _Connections(dbs)
    for db in connections.dbs.values():  # the pools' connections of the checks made before the run
        await db.dispose()

    def parents(name: str) -> set[str]:
        tm = mapper.maps[name]
        found = set()
        for to, (kind, src) in tm.fills.items():
            if kind == "column" and tm.target.columns[to].foreign_key:
                parent = mapper.refers_to(name, src)
                if parent is not None and parent in mapper.maps:
                    found.add(parent)
        return found

    async def convert() -> None:
        await convert_tables()
        await jobs.put(None)

    async def convert_tables() -> None:
        for name in mapper.maps:
            needs = parents(name)
            for parent in needs - {name}:
                await tables[parent].written.wait()
            if stop.is_set():
                return
            tm = mapper.maps[name]
            replicas, left = replicas_of(plan, system, tm.target.full)
            copies = [(r, Writer(dbs[r.service], r.table, r.columns[0]), replica_filler(r, tm.table)) for r in replicas]
            # taken before reading: a row written meanwhile is read again next time
            table = tables[name] = _Table(
                tm,
                TableResult(name, tm.target.full, rows=mapper.count(name)),
                Writer(dbs[tm.target.service], tm.table, tm.pk),
                copies,
                mapper.watermark(name),
                left,
            )
            seen: dict[str, set[tuple[Any, ...]]] = {}
            previous: _Job | None = None
            source_id = tm.source_id
            fast = table.fast = planner.plan(tm, table.writer, copies) if planner is not None else None
            chunks = _chunks(mapper.rows(name, batch)) if fast is None else planner.rows(fast, batch)  # type: ignore[union-attr]
            async for chunk in chunks:
                if previous is not None and name in needs:
                    await previous.written.wait()  # its refused rows: orphans of this batch
                if stop.is_set():
                    return
                job = _Job(table, [], [], 0, 0, len(chunk))
                rows: Iterable[Any] = (
                    chunk if fast is None else clean_first(job.fast.append, fast, chunk, seen, planner)  # type: ignore[arg-type]
                )
                for n, row in enumerate(rows):
                    values, rejects = mapper.convert_row(tm, row, seen)
                    if rejects:
                        job.rejected_rows += 1
                        job.rejects += rejects
                    if values is None:
                        job.skipped += 1
                    else:
                        job.rows.append((int(row[0]), source_id(row), values))
                    if n % TURN == TURN - 1:
                        await asyncio.sleep(0)  # the writer's I/O
                if fast is not None and job.fast:
                    # the batch's defaults' text (the lines are made when written: a
                    # batch found there, a rerun, makes none)
                    job.tail = fast.tail()
                await jobs.put(job)
                previous = job
            await jobs.put(_Job(table, [], [], 0, 0, 0, last=True))

    async def write_fast(table: _Table, job: _Job) -> tuple[Batch, list[tuple[int, int, str]]]:
        """A batch of the fast path: its clean rows' lines and the other rows' (converted
        by the mapper) in one ``COPY``, as the mapper's way writes a batch in one
        statement (a row may name another of the batch: a manager). Where the database
        refuses it, or the other rows cannot go as text, the batch goes the mapper's
        way: every row converted by it, written together, row by row if refused. The
        rows written the mapper's way, and those refused."""
        fast, writer, rows = table.fast, table.writer, job.rows
        assert fast is not None
        service = table.tm.target.service
        merged = texts(writer, fast.filled, [values for _, _, values in rows], job.tail)
        if merged is not None:
            keys = [r[fast.pk_at] for r in job.fast] + [str(values[table.tm.pk]) for _, _, values in rows]
            lines, line, tail = job.fast, fast.line, job.tail

            def text() -> bytes:
                return ("\n".join([*(line(r, tail) for r in lines), *merged]) + "\n").encode()

            async with connections.use(service):
                if await writer.write_text(keys, fast.columns, text):
                    return rows, []
        rows = mapper.in_load_order(table.tm.source, rows + reconverted(table, job.fast))
        job.fast = []
        async with connections.use(service):
            return rows, await writer.write(rows)

    def reconverted(table: _Table, fast_rows: list[tuple[Any, ...]]) -> Batch:
        """The fast path's rows the database refused as text, converted the mapper's way
        (the unique keys were checked when they were read: not again)."""
        assert planner is not None
        tm = table.tm
        full = planner.full_rows(tm.source, [r[0] for r in fast_rows])
        out: Batch = []
        for r in fast_rows:
            values, _ = mapper.convert_row(tm, full[r[0]], {})
            if values is not None:
                out.append((r[0], int(r[1]), values))
        return out

    async def write() -> None:
        started: set[str] = set()
        while (job := await jobs.get()) is not None:
            if stop.is_set():
                job.written.set()
                continue
            table = job.table
            tm, tr, name = table.tm, table.tr, table.tm.source
            if name not in started:
                started.add(name)
                result.watermarks[name] = table.watermark
                result.replicas_left.update(table.left)
                if recorder is not None:
                    texts = planner.texts.get(name) if planner is not None else None
                    recorder.record_table(name, mapper.ids(name), mapper.ns, texts)
            if job.last:
                table.written.set()  # the converter may go on while the copies are written
                job.written.set()
                await write_copies(table)
                result.tables.append(tr)
                if tr.share > plan.threshold:
                    result.stopped_at = name
                    stop.set()
                    for other in tables.values():
                        other.written.set()
                continue
            tr.rejected_rows += job.rejected_rows
            tr.skipped += job.skipped
            result.rejects += job.rejects
            rows = job.rows
            if recorder is not None:
                known = recorder.recorded.get(name, set())
                pairs = [(i, str(values[tm.pk])) for _, i, values in rows if i not in known]
                if job.fast:
                    at = table.fast.pk_at  # type: ignore[union-attr]
                    pairs += [(i, r[at]) for r in job.fast if (i := int(r[1])) not in known]
                recorder.record(name, pairs)
            if job.fast:
                rows, refused = await write_fast(table, job)
            else:
                async with connections.use(tm.target.service):
                    refused = await table.writer.write(rows)
            for rowid, source_id, why in refused:
                tr.skipped += 1
                tr.rejected_rows += 1
                mapper.skipped.setdefault(name, set()).add(source_id)
                result.rejects.append(
                    Reject(mapper.file, name, rowid, "", "", f"refused by the database: {why}", "skip")
                )
            job.written.set()
            tr.loaded += len(rows) - len(refused) + len(job.fast)
            tr.fast += len(job.fast)
            if table.copies:  # written once the table's own rows are
                gone = {rowid for rowid, _, _ in refused}
                table.kept.append(([r for r in rows if r[0] not in gone], len(result.rejects), job.fast))
            table.done += job.read
            if progress is not None:
                progress(name, table.done, tr.rows)

    async def write_copies(table: _Table) -> None:
        """The copies (other services' databases) of the table's loaded rows: each copy
        all its batches on one connection, :data:`WRITES` copies side by side (a
        service's connections opened once for the table, not once per batch). Their
        rejects go where they would have gone had each batch's copies been written
        right after it: after that batch's own."""

        async def one_copy(
            w: Writer, fill: Callable[[Mapping[str, Any]], dict[str, Any]], n: int
        ) -> list[list[tuple[int, int, str]]]:
            failures: list[list[tuple[int, int, str]]] = []  # per batch: (rowid, id, why)
            fast = table.fast.replicas[n] if table.fast is not None and table.fast.replicas else None
            async with connections.use(w.db.service):
                for rows, _, fast_rows in table.kept:
                    if not (fast_rows and fast is not None):
                        failed = await w.write([(rowid, source_id, fill(values)) for rowid, source_id, values in rows])
                        failures.append(failed)
                        continue
                    at = table.fast.line_at + 1 + n  # type: ignore[union-attr]
                    tail = fast.tail()
                    filled = [fill(values) for _, _, values in rows]
                    merged = texts(w, fast.filled, filled, tail)
                    made = merged or []

                    def lines(
                        rows: list[tuple[Any, ...]] = fast_rows, at: int = at, tail: str = tail, made: list[str] = made
                    ) -> bytes:
                        return ("\n".join([*(r[at] + tail for r in rows), *made]) + "\n").encode()

                    keys = [r[fast.key] for r in fast_rows] + [
                        str(values[w.pk]) for values in (filled if merged else [])
                    ]
                    if merged is None:  # the other rows' copies apart
                        failed = await w.write([(r, i, one) for (r, i, _), one in zip(rows, filled, strict=True)])
                    else:
                        failed = []
                    if not await w.write_text(keys, fast.columns, lines):
                        # the mapper's way: the batch's copies together, row by row if refused
                        again = sorted((rows if merged else []) + reconverted(table, fast_rows), key=lambda r: r[0])
                        failed += await w.write([(r, i, fill(values)) for r, i, values in again])
                    failures.append(failed)
            return failures

        outcomes = await asyncio.gather(*(one_copy(w, fill, n) for n, (_, w, fill) in enumerate(table.copies)))
        name = table.tm.source
        for (replica, _, _), failures in zip(table.copies, outcomes, strict=True):
            failed = sum(len(f) for f in failures)
            copied = sum(len(rows) + len(fast_rows) for rows, _, fast_rows in table.kept)
            result.replicas[replica.full] = result.replicas.get(replica.full, 0) + copied - failed
        for n in reversed(range(len(table.kept))):
            at = table.kept[n][1]
            result.rejects[at:at] = [
                Reject(mapper.file, name, rowid, replica.full, "", f"copy refused by the database: {why}", "copy")
                for (replica, _, _), failures in zip(table.copies, outcomes, strict=True)
                for rowid, _, why in failures[n]
            ]
        table.kept.clear()

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(convert())
            group.create_task(write())
    except BaseExceptionGroup as failed:  # the first failure, as one coroutine would raise it
        raise failed.exceptions[0] from None
    finally:
        await connections.close()


async def _changed_table(
    mapper: Mapper,
    tm: TableMap,
    tr: TableResult,
    result: RunResult,
    writer: Writer,
    copies: Copies,
    after: tuple[str, Any] | None,
    batch: int,
    progress: Progress | None,
    past: Mapping[str, set[int]],
    bumped: dict[str, dict[int, int]],
    recorder: IdRecorder | None = None,
) -> None:
    """``--changed`` for one table: the rows past ``after`` (and those keeping a copy
    of an owner row past its own), inserted where new, updated (version bumped,
    replicas too) where their values changed. A copy's ``*_version`` takes its owner's
    new version (``bumped``), else stays as the target has it."""
    name = tm.source
    seen: dict[str, set[tuple[Any, ...]]] = {}
    version = "version" in tm.table.columns
    copies_of = mapper.copies_of(tm)
    versions = [(to, src, owner) for to, src, owner in copies_of if to.endswith("_version") and is_copy(tm, to)]
    done = 0
    for chunk in mapper.rows(name, batch, after, [(src, past.get(owner, set())) for _, src, owner in copies_of]):
        tr.read += len(chunk)
        result.read_rows.update((name, int(row[0])) for row in chunk)
        rows: Batch = []
        for row in chunk:
            values, rejects = mapper.convert_row(tm, row, seen)
            if rejects:
                tr.rejected_rows += 1
                result.rejects += rejects
            if values is None:
                tr.skipped += 1
            else:
                rows.append((int(row[0]), tm.source_id(row), values))
        current = await _current(writer.db, tm.table, tm.pk, [values[tm.pk] for _, _, values in rows])
        if versions:
            by_rowid = {int(row[0]): row for row in chunk}
            for rowid, _, values in rows:
                for to, src, owner in versions:
                    if to not in values:
                        continue
                    owner_version = bumped.get(owner, {}).get(_named(by_rowid[rowid][src]) or 0)
                    now = current.get(values[tm.pk])
                    if owner_version is not None:
                        values[to] = owner_version
                    elif now is not None:
                        values[to] = now[to]
        new = [r for r in rows if r[2][tm.pk] not in current]
        differing: list[tuple[int, int, dict[str, Any], int]] = []  # ..., the new version
        for rowid, source_id, values in rows:
            now = current.get(values[tm.pk])
            if now is not None and any(norm(v) != norm(now[c]) for c, v in values.items() if c != "version"):
                differing.append((rowid, source_id, values, int(now.get("version") or 0) + 1))
        if recorder is not None:
            known = recorder.recorded.get(name, set())
            recorder.record(name, [(i, str(values[tm.pk])) for _, i, values in new if i not in known])
        refused = await writer.write(new)
        refused += await writer.update(differing, tm.pk, version)
        for rowid, source_id, why in refused:
            tr.skipped += 1
            tr.rejected_rows += 1
            mapper.skipped.setdefault(name, set()).add(source_id)
            result.rejects.append(Reject(mapper.file, name, rowid, "", "", f"refused by the database: {why}", "skip"))
        gone = {rowid for rowid, _, _ in refused}
        tr.inserted += sum(1 for rowid, _, _ in new if rowid not in gone)
        tr.updated += sum(1 for rowid, *_ in differing if rowid not in gone)
        if version:
            mine = bumped.setdefault(name, {})
            mine.update((source_id, v) for rowid, source_id, _, v in differing if rowid not in gone)
        tr.loaded += len(rows) - len(refused)
        for replica, copy_writer, fill in copies:
            copied = [(rowid, source_id, fill(values)) for rowid, source_id, values in new if rowid not in gone]
            failed = await copy_writer.write(copied)
            refreshed = [
                (rowid, source_id, {**fill(values), "version": v} if version else fill(values), v)
                for rowid, source_id, values, v in differing
                if rowid not in gone
            ]
            failed += await copy_writer.update(refreshed, replica.columns[0], "version" in replica.table.columns)
            result.replicas[replica.full] = (
                result.replicas.get(replica.full, 0) + len(copied) + len(refreshed) - len(failed)
            )
            result.rejects += [
                Reject(mapper.file, name, rowid, replica.full, "", f"copy refused by the database: {why}", "copy")
                for rowid, _, why in failed
            ]
        done += len(chunk)
        if progress is not None:
            progress(name, done, tr.rows)


async def _current(db: ServiceDatabase, table: Table, pk: str, keys: list[Any]) -> dict[Any, dict[str, Any]]:
    """The target's rows of ``keys`` (every column, decrypted), by key."""
    from sqlalchemy import select

    from isles.storage.tenancy import ACROSS_TENANTS

    if not keys:
        return {}
    found: dict[Any, dict[str, Any]] = {}
    async with db.read_session(tenant=ACROSS_TENANTS) as session:
        for start in range(0, len(keys), 1000):
            part = keys[start : start + 1000]
            for row in (await session.execute(select(table).where(table.columns[pk].in_(part)))).mappings():
                found[row[pk]] = dict(row)
    return found


class Writer:
    """Writes batches of converted rows into one table of a service's database, each
    batch one transaction that adds nothing already there (a rerun, a resume after a
    kill). The batch's keys are looked up first: a batch all there is not written.

    * **PostgreSQL**: ``COPY`` (binary, asyncpg's ``copy_records_to_table`` on the
      session's own connection) straight into the table where none of the keys is
      there (under a savepoint: a key there after all, or row-level security refusing
      ``COPY FROM`` to the role, falls back to the next way); else into a temporary
      staging table made for the transaction (``ON COMMIT DROP``, the target's column
      types, no constraints), then ``INSERT INTO t (...) SELECT ... ON CONFLICT (pk)
      DO NOTHING``: the rows already there are left as they are, the constraints
      checked as for any insert;
    * **SQLite**: one prepared ``INSERT ... ON CONFLICT (pk) DO NOTHING`` run over the
      batch (``executemany``), without SQLAlchemy's per-statement compilation.

    Values go through the column type's bind processing first, as SQLAlchemy would do
    (an ``Encrypted`` column is encrypted by its type's ``process_bind_param``; a UUID,
    a date, a boolean as the backend stores them). A batch the database refuses (a
    CHECK, a foreign key, a unique key) is written again row by row through
    SQLAlchemy's ``INSERT ... ON CONFLICT DO NOTHING``; :meth:`write` returns the
    rows refused, with the database's first line of why."""

    def __init__(self, db: ServiceDatabase, table: Table, pk: str) -> None:
        from sqlalchemy.dialects import postgresql
        from sqlalchemy.dialects import sqlite as sqlite_dialect

        self.db = db
        self.table = table
        dialect = db.engine.dialect
        quote = dialect.identifier_preparer.quote
        self._quote = quote
        self._name = (f"{quote(table.schema)}." if table.schema else "") + quote(table.name)
        self.pk = pk
        self._pk = quote(pk)
        self._direct = not db.is_sqlite  # COPY straight into the table (until refused: row-level security)
        self._processors = {c.name: c.type.dialect_impl(dialect).bind_processor(dialect) for c in table.columns}
        # the Python-side defaults SQLAlchemy's insert would fill (an updated_at, a flag)
        self._defaults: dict[str, Any] = {
            c.name: c.default for c in table.columns if c.default is not None and not c.primary_key
        }
        #: every default a value or a function of the row: the batch can go without SQLAlchemy
        self.direct = all(
            getattr(d, "is_scalar", False) or getattr(d, "is_callable", False) for d in self._defaults.values()
        )
        insert = sqlite_dialect.insert if db.is_sqlite else postgresql.insert
        self._one = insert(table).on_conflict_do_nothing(index_elements=[pk])

    def records(self, rows: Batch) -> dict[tuple[str, ...], list[tuple[Any, ...]]]:
        """The rows as the driver takes them, by the columns they fill (a column whose
        NULL its default fills is left out of that row). The defaults that are the
        clock (``created_at``, ``updated_at``) take one time for the batch — its
        transaction's, as a server-side ``now()`` would; other functions are called
        per row, as SQLAlchemy's insert would."""
        from isles.core.clock import utcnow

        now = utcnow()
        groups: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        shapes: dict[tuple[str, ...], _Shape] = {}
        for _, _, values in rows:
            columns = tuple(values)
            shape = shapes.get(columns)
            if shape is None:
                shape = shapes[columns] = self._shape(columns, now)
            names, tail, calls, steps = shape
            if calls or steps:
                record = [*values.values(), *tail]
                for i, default in calls:
                    record[i] = default.arg(_Context(values))
                for i, process in steps:
                    record[i] = process(record[i])
                groups.setdefault(names, []).append(tuple(record))
            else:
                groups.setdefault(names, []).append((*values.values(), *tail))
        return groups

    def _shape(self, columns: tuple[str, ...], now: datetime) -> _Shape:
        """How the records of rows filling ``columns`` are made: every column they
        take, the defaults' values after the row's own (the constants made and bound
        once), the defaults called per row, the bind processing per row."""
        from isles.core.clock import utcnow

        extra = [(c, d) for c, d in self._defaults.items() if c not in columns]
        names = (*columns, *(c for c, _ in extra))
        tail: list[Any] = []
        calls: list[tuple[int, Any]] = []
        for n, (c, d) in enumerate(extra):
            if d.is_scalar or getattr(d.arg, "__wrapped__", None) is utcnow:
                value = d.arg if d.is_scalar else now
                process = self._processors[c]
                tail.append(value if process is None else process(value))
            else:
                tail.append(None)
                calls.append((len(columns) + n, d))
        per_row = {*range(len(columns)), *(i for i, _ in calls)}
        steps = [(i, p) for i, c in enumerate(names) if i in per_row and (p := self._processors[c]) is not None]
        return names, tuple(tail), calls, steps

    async def write(self, rows: Batch) -> list[tuple[int, int, str]]:
        """Write a batch (one transaction); the rows the database refused (rowid, id, why)."""
        import asyncpg
        from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

        if not rows:
            return []
        try:
            if not self.direct:
                await self._insert_many(rows)
            elif self.db.is_sqlite:
                await self._insert(rows)
            else:
                await self._copy(rows)
            return []
        except (IntegrityError, DataError, asyncpg.IntegrityConstraintViolationError, asyncpg.DataError):
            pass  # a constraint, or a value the column cannot hold (a number out of its range)
        refused = []
        for one in rows:
            try:
                await self._insert_one(one[2])
            except DBAPIError as exc:
                if not _refused(exc):
                    raise
                refused.append((one[0], one[1], str(exc.orig).splitlines()[0]))
        return refused

    async def update(
        self, rows: list[tuple[int, int, dict[str, Any], int]], key: str, version: bool
    ) -> list[tuple[int, int, str]]:
        """Update rows already there (one transaction; row by row if the database refuses
        the batch): every column given but the key, ``version`` set to the new one
        where the table has it. The rows refused (rowid, id, why)."""
        from sqlalchemy.exc import IntegrityError

        if not rows:
            return []
        try:
            await self._update(rows, key, version)
            return []
        except IntegrityError:
            pass
        refused = []
        for one in rows:
            try:
                await self._update([one], key, version)
            except IntegrityError as exc:
                refused.append((one[0], one[1], str(exc.orig).splitlines()[0]))
        return refused

    async def held(self, keys: list[Any], going: set[Any]) -> dict[Any, str]:
        """The keys of ``keys`` that a row of this service still names by a foreign key
        (a row not itself in ``going``, the keys of this table being deleted): key ->
        which row."""
        from sqlalchemy import select

        from isles.storage.tenancy import ACROSS_TENANTS

        table = self.table
        children = foreign_keys_to(table, self.pk)
        found: dict[Any, str] = {}
        if not children or not keys:
            return found
        async with self.db.read_session(tenant=ACROSS_TENANTS) as session:
            for child, column in children:
                own = list(child.primary_key.columns)
                for at in range(0, len(keys), DELETES_AT_ONCE):
                    part = keys[at : at + DELETES_AT_ONCE]
                    for parent, *key in (await session.execute(select(column, *own).where(column.in_(part)))).all():
                        if child is table and len(key) == 1 and key[0] in going:
                            continue  # going too (a manager and their reports)
                        shown = ", ".join(str(k) for k in key)
                        found.setdefault(parent, f"{child.name}.{column.name} of row {shown} still names it")
        return found

    async def delete(self, rows: list[tuple[int, Any]]) -> tuple[int, list[tuple[int, str]]]:
        """Delete the rows (monolith id, the target's key) that are there: in one
        transaction, or row by row where the database refuses it — again while that
        frees more (a row another of the same rows names). The rows deleted, and those
        refused (id, why)."""
        from sqlalchemy.exc import IntegrityError

        if not rows:
            return 0, []
        try:
            return await self._delete(rows), []
        except IntegrityError:
            pass
        removed = 0
        pending = rows
        while True:
            refused: list[tuple[tuple[int, Any], str]] = []
            for one in pending:
                try:
                    removed += await self._delete([one])
                except IntegrityError as exc:
                    refused.append((one, str(exc.orig).splitlines()[0]))
            if len(refused) == len(pending):
                return removed, [(one[0], why) for one, why in refused]
            pending = [one for one, _ in refused]

    async def _delete(self, rows: list[tuple[int, Any]]) -> int:
        """One transaction; a table with a history gets each row's last version first."""
        from sqlalchemy import delete, select

        from isles.storage.history import HISTORY_RECORDED, changes_by, history, record_change
        from isles.storage.tenancy import ACROSS_TENANTS

        column = self.table.columns[self.pk]
        try:
            history(self.table)
            kept = True
        except KeyError:
            kept = False
        removed = 0
        with changes_by("operator:isles-split", "split run --changed --delete-gone"):
            async with self.db.writing(tenant=ACROSS_TENANTS) as session:
                for at in range(0, len(rows), DELETES_AT_ONCE):
                    keys = [k for _, k in rows[at : at + DELETES_AT_ONCE]]
                    stmt = delete(self.table).where(column.in_(keys))
                    if kept:
                        lock = select(self.table).where(column.in_(keys))
                        if not self.db.is_sqlite:
                            lock = lock.with_for_update()
                        for previous in (await session.execute(lock)).mappings().all():
                            await record_change(session, self.table, dict(previous), "delete")
                        stmt = stmt.execution_options(**HISTORY_RECORDED)
                    done: Any = await session.execute(stmt)  # a CursorResult: its rowcount
                    removed += int(done.rowcount or 0)
                await session.commit()
        return removed

    async def _update(self, rows: list[tuple[int, int, dict[str, Any], int]], key: str, version: bool) -> None:
        """One transaction. A table that keeps a history (``isles.storage.history``)
        gets each row's previous version written first, read under a lock in the same
        transaction, by ``operator:isles-split``, as any change of it would."""
        from sqlalchemy import bindparam, select, update

        from isles.storage.history import HISTORY_RECORDED, changes_by, history, record_change
        from isles.storage.tenancy import ACROSS_TENANTS

        columns = self.table.columns
        try:
            history(self.table)
            kept = True
        except KeyError:
            kept = False
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for _, _, values, new_version in rows:
            names = tuple(c for c in values if c not in (key, "version", "valid_from"))
            params = {f"isles_v_{c}": values[c] for c in names}
            params["isles_key"] = values[key]
            if version:
                params["isles_v_version"] = new_version
            groups.setdefault(names, []).append(params)
        with changes_by("operator:isles-split", "split run --changed"):
            async with self.db.writing(tenant=ACROSS_TENANTS) as session:
                began: Any = None
                if kept:
                    keys = [values[key] for _, _, values, _ in rows]
                    lock = select(self.table).where(columns[key].in_(keys))
                    if not self.db.is_sqlite:
                        lock = lock.with_for_update()
                    for previous in (await session.execute(lock)).mappings().all():
                        began = await record_change(session, self.table, dict(previous))
                for names, group in groups.items():
                    sets = {c: bindparam(f"isles_v_{c}", type_=columns[c].type) for c in names}
                    if version:
                        sets["version"] = bindparam("isles_v_version", type_=columns["version"].type)
                    stmt = update(self.table).where(columns[key] == bindparam("isles_key")).values(sets)
                    if kept:
                        stmt = stmt.values(valid_from=began).execution_options(**HISTORY_RECORDED)
                    await session.execute(stmt, group)
                await session.commit()

    async def _copy(self, rows: Batch) -> None:
        """One transaction. The batch's keys are looked up first: all of them there (a
        rerun) — nothing to write; none — ``COPY`` straight into the table
        (:meth:`_copy_direct`); else, or where that is refused, ``COPY`` into a staging
        table then ``INSERT ... SELECT ... ON CONFLICT (pk) DO NOTHING``
        (:meth:`_copy_staged`)."""
        from isles.storage.tenancy import ACROSS_TENANTS

        groups = self.records(rows)
        async with self.db.writing(tenant=ACROSS_TENANTS) as session:
            conn = await session.connection()  # begins: the tenant setting is made
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection
            if not driver.is_in_transaction():  # the staging table lives as long as the transaction
                await conn.exec_driver_sql("SELECT 1")
            keys = [record[columns.index(self.pk)] for columns, records in groups.items() for record in records]
            there = await driver.fetchval(f"SELECT count(*) FROM {self._name} WHERE {self._pk} = ANY($1)", keys)
            if there == len(keys):
                return  # every row already there (a rerun): the transaction ends without a change
            if not (there == 0 and self._direct and await self._copy_direct(driver, groups)):
                await self._copy_staged(driver, groups)
            await session.commit()

    async def write_text(self, keys: Sequence[str], columns: Sequence[str], text: Callable[[], bytes]) -> bool:
        """Write rows given as ``COPY`` text (the fast path, :mod:`isles.tools.split.fast`)
        in one transaction, as :meth:`_copy` writes records: the keys looked up first
        (all there: nothing to write), ``COPY`` straight into the table where none is
        there, else by a staging table. False where the database refused them (a
        constraint, a value out of range): nothing is written, and the caller converts
        the rows the mapper's way."""
        import io

        import asyncpg
        from sqlalchemy.exc import DBAPIError

        from isles.storage.tenancy import ACROSS_TENANTS

        try:
            async with self.db.writing(tenant=ACROSS_TENANTS) as session:
                conn = await session.connection()
                raw = await conn.get_raw_connection()
                driver: Any = raw.driver_connection
                if not driver.is_in_transaction():
                    await conn.exec_driver_sql("SELECT 1")
                there = await driver.fetchval(f"SELECT count(*) FROM {self._name} WHERE {self._pk} = ANY($1)", keys)
                if there == len(keys):
                    return True  # a rerun
                data = text()  # made only now: a batch all there makes none
                names = ", ".join(self._quote(c) for c in columns)
                if there == 0 and self._direct:
                    await driver.execute("SAVEPOINT isles_split_direct")
                    try:
                        await driver.copy_to_table(
                            self.table.name,
                            schema_name=self.table.schema,
                            source=io.BytesIO(data),
                            columns=list(columns),
                            format="text",
                        )
                    except asyncpg.FeatureNotSupportedError:  # row-level security
                        self._direct = False
                    except asyncpg.UniqueViolationError:
                        pass
                    else:
                        await driver.execute("RELEASE SAVEPOINT isles_split_direct")
                        await session.commit()
                        return True
                    await driver.execute("ROLLBACK TO SAVEPOINT isles_split_direct")
                stage = "isles_split_stage_text"
                await driver.execute(
                    f"CREATE TEMPORARY TABLE {stage} ON COMMIT DROP AS SELECT {names} FROM {self._name} WITH NO DATA"
                )
                await driver.copy_to_table(stage, source=io.BytesIO(data), columns=list(columns), format="text")
                await driver.execute(
                    f"INSERT INTO {self._name} ({names}) SELECT {names} FROM {stage} "
                    f"ON CONFLICT ({self._pk}) DO NOTHING"
                )
                await session.commit()
            return True
        except (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError, DBAPIError):
            return False

    async def _copy_direct(self, driver: Any, groups: Mapping[tuple[str, ...], list[tuple[Any, ...]]]) -> bool:
        """``COPY`` straight into the table, under a savepoint; False (rolled back to it)
        where a key is there after all (written meanwhile, or twice in the batch) or
        the table's row-level security refuses ``COPY FROM`` (a role that does not
        bypass it: the writer stops trying)."""
        import asyncpg

        await driver.execute("SAVEPOINT isles_split_direct")
        try:
            for columns, records in groups.items():
                await driver.copy_records_to_table(
                    self.table.name, schema_name=self.table.schema, records=records, columns=list(columns)
                )
        except asyncpg.FeatureNotSupportedError:  # "COPY FROM not supported with row-level security"
            self._direct = False
        except asyncpg.UniqueViolationError:
            pass
        else:
            await driver.execute("RELEASE SAVEPOINT isles_split_direct")
            return True
        await driver.execute("ROLLBACK TO SAVEPOINT isles_split_direct")
        return False

    async def _copy_staged(self, driver: Any, groups: Mapping[tuple[str, ...], list[tuple[Any, ...]]]) -> None:
        """``COPY`` into a temporary staging table made for the transaction (``ON COMMIT
        DROP``), then ``INSERT ... SELECT ... ON CONFLICT (pk) DO NOTHING``."""
        for n, (columns, records) in enumerate(groups.items()):
            stage = f"isles_split_stage_{n}"
            names = ", ".join(self._quote(c) for c in columns)
            await driver.execute(
                f"CREATE TEMPORARY TABLE {stage} ON COMMIT DROP AS SELECT {names} FROM {self._name} WITH NO DATA"
            )
            await driver.copy_records_to_table(stage, records=records, columns=list(columns))
            await driver.execute(
                f"INSERT INTO {self._name} ({names}) SELECT {names} FROM {stage} ON CONFLICT ({self._pk}) DO NOTHING"
            )

    async def _insert(self, rows: Batch) -> None:
        """One transaction: the batch's keys looked up first (all there, a rerun: nothing
        to write), then one prepared ``INSERT ... ON CONFLICT (pk) DO NOTHING``."""
        from isles.storage.tenancy import ACROSS_TENANTS

        groups = self.records(rows)
        keys = [record[columns.index(self.pk)] for columns, records in groups.items() for record in records]
        async with self.db.writing(tenant=ACROSS_TENANTS) as session:
            conn = await session.connection()
            there = 0
            for start in range(0, len(keys), 500):
                part = tuple(keys[start : start + 500])
                marks = ", ".join("?" * len(part))
                found = await conn.exec_driver_sql(
                    f"SELECT count(*) FROM {self._name} WHERE {self._pk} IN ({marks})", part
                )
                there += int(found.scalar() or 0)
            if there == len(keys):
                return  # every row already there (a rerun): the transaction ends without a change
            for columns, records in groups.items():
                names = ", ".join(self._quote(c) for c in columns)
                marks = ", ".join("?" * len(columns))
                sql = f"INSERT INTO {self._name} ({names}) VALUES ({marks}) ON CONFLICT ({self._pk}) DO NOTHING"
                await conn.exec_driver_sql(sql, records)
            await session.commit()

    async def _insert_many(self, rows: Batch) -> None:
        """Through SQLAlchemy (a table with a default the database computes)."""
        from isles.storage.tenancy import ACROSS_TENANTS

        by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for _, _, values in rows:
            by_keys.setdefault(tuple(values), []).append(values)
        async with self.db.writing(tenant=ACROSS_TENANTS) as session:
            for group in by_keys.values():
                await session.execute(self._one, group)
            await session.commit()

    async def _insert_one(self, values: dict[str, Any]) -> None:
        from isles.storage.tenancy import ACROSS_TENANTS

        async with self.db.writing(tenant=ACROSS_TENANTS) as session:
            await session.execute(self._one, [values])
            await session.commit()


#: a group's record shape: its columns, the defaults' values, the defaults called per
#: row (place, default), the bind processing per row (place, processor)
_Shape = tuple[tuple[str, ...], tuple[Any, ...], list[tuple[int, Any]], list[tuple[int, Any]]]


class _Context:
    """What a column default's function gets from SQLAlchemy (the row being inserted)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.current_parameters = values

    def get_current_parameters(self, isolate_multiinsert_groups: bool = True) -> Mapping[str, Any]:
        return self.current_parameters


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
