"""The run's fast path on PostgreSQL: the clean rows converted by SQLite and loaded by
``COPY`` in PostgreSQL's text format, with no Python work per value.

Most rows of a monolith need no decision: every value already has the type its
target column wants, every reference names a row that is there. For those rows the
conversion :class:`isles.tools.split.mapper.Mapper` makes in Python is a fixed rewrite
that SQL can make as well: an integer id becomes its UUID (looked up in a temporary
table of the ids' UUIDs, made once per table), an ISO date stays as it is, a
timestamp gets its UTC offset, a boolean 0/1 becomes ``t``/``f``, a related row's
column is read by a join. So one ``SELECT`` per table (:class:`FastTable`) gives, for
every row, whether it is *clean* and, if it is, its line of ``COPY ... FROM STDIN``
text (and the lines of the table's replicas). The run writes those lines as they are
(:meth:`isles.tools.split.writer.Writer.write_text`); the rows that are not clean — a
value of another type, an empty string, an orphan, a row naming a rejected row — are
read again and converted by the mapper, which decides and reports what to do with
them, exactly as before. A row's "clean" test is conservative: where SQL could only
guess what Python would make of a value (a real written as text, an id as text, a
string of spaces, a date with a time), the row goes the mapper's way. Unique keys are
checked in Python on the key's text for clean and other rows alike (in the run's
order — rowid order, save for a row naming a later row of its table, which comes
after it: the first row with a key keeps it, as before).

A table takes the fast path when every column it fills has a type of
:data:`KINDS` and is filled from the monolith, a constant, a related row (``via``) or
an owner's copy (``_name``, ``_active``, ``_version``); its Python defaults are
constants or the clock. A foreign key to the table itself (a manager) is read in the
mapper's load order (:meth:`FastPlanner.load_order`): each row after the row it names.
The others, and every table on
SQLite, take the mapper's way for all their rows. ``isles split verify`` checks the
result either way.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from isles.tools.split.analyse import q

if TYPE_CHECKING:  # the run's own types (none of their modules imports this one)
    from isles.tools.split.mapper import Mapper, TableMap
    from isles.tools.split.replicas import Replica
    from isles.tools.split.writer import Writer

#: the SQLAlchemy column types the fast path writes, by how SQL converts a value to them
KINDS = {
    "Uuid": "uuid",
    "UUID": "uuid",
    "String": "text",
    "Text": "text",
    "Unicode": "text",
    "UnicodeText": "text",
    "LowerCase": "text",  # lower(trim(...)) where the text is ASCII (FastPlanner._from_column)
    "Integer": "int",
    "BigInteger": "int",
    "SmallInteger": "int",
    "Numeric": "number",
    "Boolean": "bool",
    "Date": "date",
    "UTCDateTime": "stamp",
    "Encrypted": "sealed",
}
#: the kinds a unique key's column may have (its text in Python is the one SQL gives)
KEY_KINDS = ("uuid", "text", "int", "date")
NULL = "\\N"


def pg_text(value: Any) -> str | None:
    """A Python constant as PostgreSQL's ``COPY`` text reads it (None: not a kind
    the fast path writes)."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int | Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat() if value.tzinfo is not None else None
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, list) and not value:
        return "{}"  # an empty array
    return None


def texts(writer: Writer, columns: Sequence[str], rows: Sequence[Mapping[str, Any]], tail: str) -> list[str] | None:
    """Rows converted the mapper's way, as lines of COPY text in ``columns`` (each value
    through the column type's bind processing, as :meth:`Writer.records` does), so a
    batch's clean and other rows go in one statement, as the mapper's way writes a
    batch; None where a row fills other columns (a NULL its default fills) or a value
    has no COPY text."""
    processors = writer._processors
    steps = [(c, processors[c]) for c in columns]
    wanted = set(columns)
    out = []
    for values in rows:
        if values.keys() != wanted:
            return None
        parts = []
        for c, process in steps:
            value = values[c]
            text = pg_text(value if process is None else process(value))
            if text is None:
                return None
            parts.append(text)
        out.append("\t".join(parts) + tail)
    return out


def out_text(value: Any) -> str | None:
    """A converted value as PostgreSQL's ``COPY ... TO`` writes it in text (the session's
    TimeZone UTC, DateStyle ISO, a ``numeric`` through ``trim_scale``): verify's
    expected text of a row converted by the mapper (None: a value whose text it does
    not guess; the row is compared by value)."""
    if value is None:
        return NULL
    cls = value.__class__
    if cls is str:
        return escape(value)
    if cls is bool:
        return "t" if value else "f"
    if cls is int or cls is uuid.UUID:
        return str(value)
    if cls is Decimal:
        if not value.is_finite():
            return None
        d = value.normalize()
        return "0" if d.is_zero() else format(d, "f")
    if cls is datetime:
        if value.utcoffset() != timedelta(0) or value.year < 1:
            return None
        text = str(value.replace(tzinfo=None).isoformat(" "))
        return (text.rstrip("0") if "." in text else text) + "+00"
    if cls is date:
        return str(value.isoformat())
    return None


async def copy_out(driver: Any, query: str) -> list[str]:
    """The lines of ``COPY (query) TO STDOUT`` (text) on an asyncpg connection."""
    parts: list[bytes] = []

    async def take(data: bytes) -> None:
        parts.append(data)

    await driver.copy_from_query(query, output=take, format="text")
    text = b"".join(parts).decode()
    return text.split("\n")[:-1] if text else []


def escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _sql_escape(expr: str) -> str:
    """SQL giving ``expr``'s text escaped for ``COPY`` text."""
    return f"replace(replace(replace(replace({expr}, '\\', '\\\\'), char(9), '\\t'), char(10), '\\n'), char(13), '\\r')"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def words_case(c: str, words: Mapping[str, Any]) -> str:
    """SQL giving the target's word (a plan's ``values``) for the value of ``c``: a text
    or an integer matched on its text exactly, as the mapper does — ``COLLATE BINARY``,
    whatever collation the monolith's column declares (a ``NOCASE`` column would match
    ``'Approved'`` to ``approved`` where Python does not); any other value as it is."""
    cases = " ".join(f"WHEN {_literal(k)} THEN {_sql_value(v)}" for k, v in words.items())
    listed = f"CASE (CAST({c} AS TEXT) COLLATE BINARY) {cases} ELSE {c} END"
    return f"(CASE WHEN typeof({c}) IN ('text', 'integer') THEN {listed} ELSE {c} END)"


def _sql_value(value: Any) -> str:
    """A value of a plan's ``values`` as an SQLite literal (a string, a number, true or false)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value)
    return _literal(str(value))


def _trimmed(c: _Column) -> _Column:
    """A number's text without a real's ``.0`` (PostgreSQL's ``trim_scale`` writes
    ``9`` for ``9.0``); other columns as they are."""
    if c.kind != "number":
        return c
    v = c.value
    return _Column(
        f"CASE WHEN {v} LIKE '%.0' THEN substr({v}, 1, length({v}) - 2) ELSE {v} END", c.clean, c.kind, c.nullable
    )


class _NotFast(Exception):
    """The table (or one of its columns) cannot take the fast path: why."""


@dataclass
class _Column:
    value: str  # SQL: the value's COPY text, unescaped (NULL: NULL)
    clean: list[str]  # SQL conditions for the row to be clean
    kind: str
    nullable: bool


@dataclass
class FastReplica:
    replica: Replica
    writer: Writer
    columns: tuple[str, ...]  # a line's columns, then the Python defaults'
    key: int  # the index of the replica's key text in a row of the owner's query
    tail: Callable[[], str] = lambda: ""
    filled: tuple[str, ...] = ()  # a line's columns (before the defaults')


def _sealer(
    tm: TableMap, writer: Writer, column: str, converter: Callable[[str, type | None], Callable[[Any], Any]]
) -> Callable[[Any], str]:
    """The COPY text of an encrypted column's monolith value: converted and sealed as
    the mapper's way does (``converter`` then the column type's bind processing)."""
    tc = tm.target.columns[column]
    conv = converter(tc.type, getattr(tm.table.columns[column].type, "python_type_", None))
    process = writer._processors[column]

    def seal(value: Any) -> str:
        if value is None:
            return NULL
        made = conv(value)
        return escape(str(made if process is None else process(made)))

    return seal


def _tail(writer: Writer, filled: tuple[str, ...]) -> tuple[tuple[str, ...], Callable[[], str]]:
    """The columns of ``writer``'s table a row filling ``filled`` also gets from its
    Python defaults, and their text for a batch (the clock read once per batch, as the
    mapper's way does; a default of ``list`` or ``dict`` made once: every row gets an
    equal, empty one); :class:`_NotFast` where a default is another function or has no
    text."""
    from isles.core.clock import utcnow

    names, values, calls, _ = writer._shape(filled, utcnow())
    made: dict[int, str] = {}
    for i, default in calls:
        maker = getattr(default.arg, "__wrapped__", None)
        if maker not in (list, dict):
            raise _NotFast(f"{writer.table.name}.{names[i]}: a default called per row")
        process = writer._processors[names[i]]
        value = maker()
        text = pg_text(value if process is None else process(value))
        if text is None:
            raise _NotFast(f"{writer.table.name}.{names[i]}: a default with no COPY text")
        made[i - len(filled)] = text
    for n, value in enumerate(values):
        if n not in made and pg_text(value) is None:
            raise _NotFast(f"{writer.table.name}: a default of type {type(value).__name__}")

    def tail() -> str:
        _, now, _, _ = writer._shape(filled, utcnow())
        return "".join(["\t" + (made[n] if n in made else str(pg_text(v))) for n, v in enumerate(now)])

    return names[len(filled) :], tail


@dataclass
class FastTable:
    """One table's fast path. A row of its query: rowid, monolith id, clean (0/1), the
    unique keys' texts, the primary key's text, the replicas' keys' texts, the line,
    the replicas' lines."""

    tm: TableMap
    sql: str
    columns: tuple[str, ...]  # a line's columns, then the Python defaults' (their text per batch)
    defaults: tuple[str, ...]  # the Python defaults' columns
    uniques: list[tuple[str, list[tuple[int, bool]]]]  # name, (index of the key's text, folded)
    pk_at: int  # the index of the primary key's text
    line_at: int  # the index of the line (the replicas' lines follow)
    replicas: list[FastReplica] = field(default_factory=list)
    skips: list[str] = field(default_factory=list)  # the tables whose rows not loaded make orphans
    #: the Python defaults' text for a batch (after its line), the clock read once per batch
    tail: Callable[[], str] = lambda: ""
    #: the encrypted columns (after the line's): the index of their monolith value and
    #: its COPY text, sealed by the column type as the mapper's way does (a new nonce each)
    sealed: list[tuple[int, Callable[[Any], str]]] = field(default_factory=list)
    #: the indexes of the monolith ids a foreign key to the table itself names (a manager):
    #: a row naming one of the table's rows not loaded goes the mapper's way (an orphan)
    selfrefs: list[int] = field(default_factory=list)

    @property
    def filled(self) -> tuple[str, ...]:
        """A line's columns (before the defaults')."""
        return self.columns[: len(self.columns) - len(self.defaults)]

    @property
    def in_line(self) -> tuple[str, ...]:
        """The columns of the line SQLite writes (the encrypted ones are not)."""
        return self.filled[: len(self.filled) - len(self.sealed)]

    @property
    def sealed_columns(self) -> tuple[str, ...]:
        """The encrypted columns (their monolith values at :attr:`sealed`'s indexes)."""
        return self.filled[len(self.filled) - len(self.sealed) :]

    def line(self, row: tuple[Any, ...], tail: str) -> str:
        """A clean row's line of COPY text."""
        if not self.sealed:
            return str(row[self.line_at]) + tail
        return str(row[self.line_at]) + "".join(["\t" + seal(row[i]) for i, seal in self.sealed]) + tail


KEY = 3  # the index of the first key text in a row of a fast query


class FastPlanner:
    """Builds :class:`FastTable` s for a run and keeps the temporary tables they read
    (the UUID of every id of a monolith table, the ids of rows not loaded) in the
    monolith's connection (a temporary schema: the file is opened read-only)."""

    def __init__(self, mapper: Mapper) -> None:
        from urllib.parse import quote

        self.mapper = mapper
        # its own connection to the monolith, read from a thread (the queries' work in
        # SQLite overlaps the process's own: SQLite lets go of the GIL while it steps)
        path = mapper.analysis.path.resolve()
        self.db = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self._maps: dict[str, str] = {}  # monolith table -> its temporary table of UUIDs
        self._orders: dict[str, str] = {}  # monolith table -> its temporary table of its load order
        self._joins: dict[str, str] = {}
        self._skips: list[str] = []
        self._selfrefs: list[str] = []
        self.why: dict[str, str] = {}  # table -> why it takes the mapper's way
        self.texts: dict[str, dict[int, str]] = {}  # table -> id -> its UUID's text (the id maps)
        self.db.execute("CREATE TABLE IF NOT EXISTS temp.isles_skipped (tbl TEXT, id INTEGER, PRIMARY KEY (tbl, id))")

    # --- the temporary tables

    def id_map(self, table: str) -> str:
        """The temporary table of ``table``'s ids and their UUIDs (made once)."""
        if table not in self._maps:
            name = self._maps[table] = f"temp.isles_uuid_{len(self._maps)}"
            ns = self.mapper.ns.bytes
            self.db.execute(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, u TEXT NOT NULL)")
            made = self.texts[table] = {i: self.mapper.uuid_text(ns, f"{table}:{i}") for i in self.mapper.ids(table)}
            self.db.executemany(f"INSERT INTO {name} VALUES (?, ?)", made.items())
        return self._maps[table]

    def load_order(self, table: str) -> str | None:
        """The temporary table of ``table``'s rowids in the order the mapper loads them
        (:meth:`isles.tools.split.mapper.Mapper.load_order`: a row after the row of its
        table it names), made once; None where that is rowid order."""
        order = self.mapper.load_order(table)
        if order is None:
            return None
        if table not in self._orders:
            name = self._orders[table] = f"temp.isles_order_{len(self._orders)}"
            self.db.execute(f"CREATE TABLE {name} (pos INTEGER PRIMARY KEY, r INTEGER NOT NULL)")
            self.db.executemany(f"INSERT INTO {name} VALUES (?, ?)", enumerate(order))
        return self._orders[table]

    def skipped_now(self, tables: Sequence[str]) -> None:
        """The rows of ``tables`` not loaded so far, for the orphan test."""
        self.db.execute("DELETE FROM temp.isles_skipped")
        self.db.executemany(
            "INSERT OR IGNORE INTO temp.isles_skipped VALUES (?, ?)",
            [(t, i) for t in tables for i in self.mapper.skipped.get(t, ())],
        )

    # --- the plan of a table

    def plan(
        self,
        tm: TableMap,
        writer: Writer,
        copies: Sequence[tuple[Replica, Writer, Any]],
        checked: Sequence[str] | None = None,
    ) -> FastTable | None:
        """The table's fast path (None: it takes the mapper's way, :attr:`why`). With
        ``checked`` (verify), a line holds only those columns (in the plan's order, the
        encrypted ones apart as always), with no replicas and no Python defaults."""
        try:
            if tm.key:
                raise _NotFast(f"rows told apart by {', '.join(tm.key)}, not a one-column id")
            return self._plan(tm, writer, copies, checked)
        except _NotFast as exc:
            self.why[tm.source] = str(exc)
            return None

    def _plan(
        self,
        tm: TableMap,
        writer: Writer,
        copies: Sequence[tuple[Replica, Writer, Any]],
        checked: Sequence[str] | None = None,
    ) -> FastTable:
        if writer.db.is_sqlite:
            raise _NotFast("a SQLite target")
        if not writer.direct:
            raise _NotFast("a default SQLAlchemy computes")
        source = tm.source
        joins: dict[str, str] = {}  # alias -> its LEFT JOIN
        self._joins = joins
        self._skips = []
        self._selfrefs = []
        columns: dict[str, _Column] = {}
        for to in tm.fills:
            columns[to] = self._column(tm, to)
        uniques: list[tuple[str, list[tuple[int, bool]]]] = []
        keys: list[str] = []
        for name, cols in tm.unique:
            parts = []
            for c in cols:
                if columns[c].kind not in KEY_KINDS:
                    raise _NotFast(f"unique key {name} on a {columns[c].kind} column")
                parts.append((KEY + len(keys), columns[c].kind == "text"))
                keys.append(columns[c].value)
            uniques.append((name, parts))
        clean = [cond for c in columns.values() for cond in c.clean]
        sealed = [to for to, c in columns.items() if c.kind == "sealed" and (checked is None or to in checked)]
        in_line = [to for to in columns if to not in sealed and (checked is None or to in checked)]
        if checked is None:
            line = " || char(9) || ".join(self._out(columns[to]) for to in in_line)
        else:  # verify: a number as PostgreSQL's trim_scale writes it (a real's "9.0" as "9")
            line = " || char(9) || ".join(self._out(_trimmed(columns[to])) for to in in_line)
        filled = (*in_line, *sealed)
        if checked is None:
            defaults, tail = _tail(writer, filled)
        else:  # verify: what the row's own values fill, nothing else
            defaults, tail, copies = (), lambda: "", ()
        replicas: list[FastReplica] = []
        lines = [line]
        for replica, rw, _ in copies:
            rcols: list[str] = []
            exprs: list[str] = []
            owner = tm.table
            for column in replica.table.columns:
                name = column.name
                if name in sealed:
                    raise _NotFast(f"replica {replica.full}: an encrypted column")
                if name in columns:
                    exprs.append(self._out(columns[name]))
                elif name == "full_name" and "first_name" in columns and "last_name" in columns:
                    first, last = columns["first_name"], columns["last_name"]
                    if first.kind != "text" or last.kind != "text":
                        raise _NotFast("full_name of names that are not text")
                    exprs.append(_sql_escape(f"{first.value} || ' ' || {last.value}"))
                elif name == "version":
                    exprs.append(self._out(columns["version"]) if "version" in columns else "'1'")
                else:
                    default = owner.columns[name].default if name in owner.columns else None
                    if not getattr(default, "is_scalar", False):
                        continue
                    text = pg_text(getattr(default, "arg", None))
                    if text is None:
                        raise _NotFast(f"replica {replica.full}: a default of {name} it cannot write")
                    exprs.append(_literal(text))
                rcols.append(name)
            if replica.columns[0] not in rcols or replica.columns[0] not in columns:
                raise _NotFast(f"replica {replica.full}: its key is not a column of the owner")
            if rw.db.is_sqlite:
                raise _NotFast(f"replica {replica.full} on SQLite")
            rdefaults, rtail = _tail(rw, tuple(rcols))
            replicas.append(FastReplica(replica, rw, (*rcols, *rdefaults), 0, rtail, tuple(rcols)))
            lines.append(" || char(9) || ".join(exprs))
        pk_at = KEY + len(keys)
        keys.append(columns[tm.pk].value)
        sealing: list[tuple[int, Callable[[Any], str]]] = []
        for to in sealed:
            sealing.append((KEY + len(keys), _sealer(tm, writer, to, self.mapper.converter)))
            keys.append(columns[to].value)
        selfrefs = []
        for raw in self._selfrefs:
            selfrefs.append(KEY + len(keys))
            keys.append(raw)
        for fr in replicas:
            fr.key = KEY + len(keys)
            keys.append(columns[fr.replica.columns[0]].value)
        line_at = KEY + len(keys)
        ordered = self.load_order(source)
        order = " ORDER BY t.rowid" if ordered is None else f" JOIN {ordered} AS o ON o.r = t.rowid ORDER BY o.pos"
        sql = (
            f"SELECT t.rowid, t.{q(tm.source_pk)}, ({' AND '.join(clean) or '1'}) AS clean, "
            + "".join(f"{k}, " for k in keys)
            + ", ".join(lines)
            + f" FROM {q(source)} AS t "
            + " ".join(joins.values())
            + order
        )
        self.db.execute(f"EXPLAIN {sql}")  # a mistake in the SQL shows here, before the run
        return FastTable(
            tm,
            sql,
            (*filled, *defaults),
            tuple(defaults),
            uniques,
            pk_at,
            line_at,
            replicas,
            list(self._skips),
            tail,
            sealing,
            selfrefs,
        )

    @staticmethod
    def _out(c: _Column) -> str:
        value = _sql_escape(c.value) if c.kind == "text" else c.value
        return f"coalesce({value}, '\\N')"

    def _uuid_of(self, table: str, expr: str) -> str:
        """SQL giving the UUID (text) of the id ``expr`` of ``table`` (NULL: not one of
        its ids), by a join on the table of its UUIDs."""
        name = self.id_map(table)
        alias = f"u_{len(self._joins)}"
        for a, join in self._joins.items():
            if join == f"LEFT JOIN {name} AS {a} ON {a}.id = {expr}":
                return f"{a}.u"
        self._joins[alias] = f"LEFT JOIN {name} AS {alias} ON {alias}.id = {expr}"
        return f"{alias}.u"

    def _column(self, tm: TableMap, to: str) -> _Column:
        tc = tm.target.columns[to]
        sa_type = type(tm.table.columns[to].type).__name__
        kind = KINDS.get(sa_type)
        if kind is None:
            raise _NotFast(f"column {to}: type {sa_type}")
        fill_kind, what = tm.fills[to]
        nullable = tc.nullable
        if sa_type == "LowerCase" and fill_kind != "column":
            raise _NotFast(f"column {to}: a LowerCase default")
        if kind == "sealed" and fill_kind != "column":
            raise _NotFast(f"column {to}: an encrypted default")
        if fill_kind == "column":
            col = self._from_column(tm, to, kind, str(what))
        elif isinstance(what, Mapping) and "via" in what:
            col = self._via(tm, to, kind, str(what["via"]), str(what["column"]))
        elif isinstance(what, Mapping) and "copy" in what:
            col = self._copy(tm, to, kind, str(what["copy"]))
        elif isinstance(what, Mapping):
            raise _NotFast(f"column {to}: a default {what}")
        else:
            value = self.mapper._plain(tm, tc, what)
            text = pg_text(value)
            if text is None:
                raise _NotFast(f"column {to}: a constant of type {type(value).__name__}")
            col = _Column("NULL" if value is None else _literal(text if kind != "text" else value), [], kind, nullable)
        if not nullable:
            col.clean.append(f"{col.value} IS NOT NULL")
        col.nullable = nullable
        return col

    def _from_column(self, tm: TableMap, to: str, kind: str, src: str) -> _Column:
        """A column filled from the monolith column ``src``: clean where SQL gives what
        the mapper's conversion gives, without a reject."""
        tc = tm.target.columns[to]
        defaults = self.mapper.plan.tables[tm.source].defaults
        c = f"t.{q(src)}"
        words = self.mapper.plan.tables[tm.source].values.get(src)
        if words and kind != "uuid":  # the plan's values: the target's word for the monolith's text
            c = words_case(c, words)
        # NULL: clean only where the mapper writes NULL too (no default of the plan for it)
        null_ok = tc.nullable and to not in defaults
        if kind == "uuid":
            parent = self.mapper.refers_to(tm.source, src)
            if parent is None:
                raise _NotFast(f"column {to}: an id with no relation")
            own = parent == tm.source and src == tm.source_pk
            if parent == tm.source and not own and tc.foreign_key:
                self._selfrefs.append(c)  # its rows not loaded are known as the table is read
            value = self._uuid_of(parent, c)
            conds = [f"typeof({c}) = 'integer'"]
            if not own:
                conds.append(f"{value} IS NOT NULL")  # an id of the parent: not an orphan
                if parent != tm.source and (tc.foreign_key or parent in self.mapper.before.get(tm.source, ())):
                    if parent not in self._skips:
                        self._skips.append(parent)
                    alias = f"s_{len(self._joins)}"
                    on = f"{alias}.tbl = {_literal(parent)} AND {alias}.id = {c}"
                    self._joins[alias] = f"LEFT JOIN temp.isles_skipped AS {alias} ON {on}"
                    conds.append(f"{alias}.id IS NULL")
        elif kind == "text" and type(tm.table.columns[to].type).__name__ == "LowerCase":
            # as Python's strip().lower() gives it: SQLite's lower() and trim() are
            # Python's for printable ASCII only (the others go the mapper's way)
            value = f"lower(trim({c}))"
            conds = [f"typeof({c}) = 'text'", f"{c} GLOB '*[!-~]*'", f"NOT {c} GLOB '*[^ -~]*'"]
        elif kind == "text":
            value = c
            conds = [f"typeof({c}) = 'text'", f"{c} GLOB '*[!-~]*'"]  # not only spaces
        elif kind == "int":
            value = f"CAST({c} AS TEXT)"
            conds = [f"typeof({c}) = 'integer'"]
        elif kind == "sealed":  # the monolith's value, sealed in Python (FastTable.sealed)
            python_type = getattr(tm.table.columns[to].type, "python_type_", None)
            value = c
            if python_type is int:
                conds = [f"typeof({c}) = 'integer'"]
            elif python_type is Decimal:
                conds = [f"typeof({c}) IN ('integer', 'real')"]
            elif python_type is str:
                conds = [f"typeof({c}) = 'text'", f"{c} GLOB '*[!-~]*'"]
            else:
                raise _NotFast(f"column {to}: an encrypted {getattr(python_type, '__name__', python_type)}")
        elif kind == "number":
            value = f"CAST({c} AS TEXT)"
            # an integer, or a real whose text reads back as the same real (then it is the
            # shortest text of it, as Python's)
            conds = [f"(typeof({c}) = 'integer' OR (typeof({c}) = 'real' AND CAST(CAST({c} AS TEXT) AS REAL) = {c}))"]
        elif kind == "bool":
            value = f"CASE {c} WHEN 1 THEN 't' ELSE 'f' END"
            conds = [f"typeof({c}) = 'integer'", f"{c} IN (0, 1)"]
        elif kind == "date":
            value = c
            conds = [
                f"typeof({c}) = 'text'",
                f"length({c}) = 10",
                f"substr({c}, 1, 4) > '0000'",
                f"date(julianday({c})) = {c}",
            ]
        elif kind == "stamp":
            value = f"replace({c}, 'T', ' ') || '+00'"
            conds = [
                f"typeof({c}) = 'text'",
                f"length({c}) = 19",
                f"substr({c}, 1, 4) > '0000'",
                f"datetime(julianday({c})) = replace({c}, 'T', ' ')",
            ]
        else:  # pragma: no cover - KINDS is closed
            raise _NotFast(f"column {to}: kind {kind}")
        guard = " AND ".join(conds)
        given = defaults.get(to)
        if not null_ok and to in defaults and not isinstance(given, Mapping) and kind not in ("uuid", "sealed"):
            # NULL: the plan's constant for it, as the mapper fills it (no reject)
            made = self.mapper._plain(tm, tc, given)
            text = pg_text(made)
            if made is not None and text is not None:
                lit = _literal(made if kind == "text" else text)  # a text is escaped with the line
                value = f"CASE WHEN {c} IS NULL THEN {lit} ELSE {value} END"
                return _Column(value, [f"({c} IS NULL OR ({guard}))"], kind, tc.nullable)
        if null_ok:
            value = f"CASE WHEN {c} IS NULL THEN NULL ELSE {value} END"
            return _Column(value, [f"({c} IS NULL OR ({guard}))"], kind, True)
        return _Column(value, [f"{c} IS NOT NULL", *conds], kind, tc.nullable)

    def _related(self, tm: TableMap, via: str) -> tuple[str, str]:
        """The alias of the related row ``via`` names (a LEFT JOIN), and its table."""
        found = self.mapper.related(tm.source, via)
        if found is None:
            raise _NotFast(f"{via}: no relation")
        parent, by = found
        if not by:
            raise _NotFast(f"{via}: {parent} has no one-column key")
        alias = f"r_{len(self._joins)}_{via}"
        on = f".{q(by)} = t.{q(via)}"
        for a, join in self._joins.items():
            if join.endswith(f"{a}{on}") and f" {q(parent)} AS " in join:
                return a, parent
        self._joins[alias] = f"LEFT JOIN {q(parent)} AS {alias} ON {alias}{on}"
        return alias, parent

    def _via(self, tm: TableMap, to: str, kind: str, via: str, column: str) -> _Column:
        """A default ``{via, column}``: the related row's column, as the mapper reads it."""
        alias, parent = self._related(tm, via)
        r = f"{alias}.{q(column)}"
        related_plan = self.mapper.plan.tables.get(parent)
        words = related_plan.values.get(column) if related_plan is not None else None
        if words and kind != "uuid":  # the related row's column in the target's words, as its row has it
            r = words_case(r, words)
        conds = [f"typeof(t.{q(via)}) = 'integer'", f"{alias}.rowid IS NOT NULL", f"{r} IS NOT NULL"]
        if kind == "uuid":
            grand = self.mapper.refers_to(parent, column)
            if grand is None:
                raise _NotFast(f"column {to}: {parent}.{column} names no table")
            value = self._uuid_of(grand, r)
            conds += [f"typeof({r}) = 'integer'", f"{value} IS NOT NULL"]
        elif kind == "text":
            value = r
            conds.append(f"typeof({r}) = 'text'")
        elif kind == "int":
            value = f"CAST({r} AS TEXT)"
            conds.append(f"typeof({r}) = 'integer'")
        elif kind == "bool":
            value = f"CASE {r} WHEN 1 THEN 't' ELSE 'f' END"
            conds += [f"typeof({r}) = 'integer'", f"{r} IN (0, 1)"]
        else:
            raise _NotFast(f"column {to}: a {kind} from a related row")
        # the related row's NULL: the constant the plan gives that column, as the mapper reads it
        theirs = self.mapper.plan.tables.get(parent)
        mapped = theirs.columns.get(column) if theirs is not None else None
        instead = theirs.defaults.get(mapped) if theirs is not None and mapped is not None else None
        if kind != "uuid" and instead is not None and not isinstance(instead, Mapping):
            made = self.mapper._plainer(tm, tm.target.columns[to])(instead)
            text = pg_text(made)
            if made is not None and text is not None:
                lit = _literal(made if kind == "text" else text)
                typed = " AND ".join(conds[3:])
                value = f"CASE WHEN {r} IS NULL THEN {lit} ELSE {value} END"
                return _Column(value, [*conds[:2], f"({r} IS NULL OR ({typed}))"], kind, False)
        return _Column(value, conds, kind, False)

    def _copy(self, tm: TableMap, to: str, kind: str, owner: str) -> _Column:
        """A denormalized copy (``*_name``, ``*_active``, ``*_version``), as
        :meth:`Mapper._copy` makes it."""
        mapper = self.mapper
        ref = next((c for c in tm.target.columns.values() if c.reference == owner), None)
        src = next((s for s, t in mapper.plan.tables[tm.source].columns.items() if ref and t == ref.name), None)
        owner_table = mapper.source_of_target.get(owner)
        if src is None or owner_table is None:
            raise _NotFast(f"column {to}: a copy of {owner} with no reference to it")
        if to.endswith("_version"):
            ref_sql = f"t.{q(src)}"
            one = f"CASE WHEN {ref_sql} IS NULL THEN NULL ELSE '1' END"
            return _Column(one, [f"typeof({ref_sql}) = 'integer'"], "int", False)
        alias, _ = self._related(tm, src)
        keys = {c.name for c in mapper.analysis.tables[owner_table].columns}
        conds = [f"typeof(t.{q(src)}) = 'integer'", f"{alias}.rowid IS NOT NULL"]
        if to.endswith("_name"):
            if "first_name" in keys and "last_name" in keys:
                first, last = f"{alias}.first_name", f"{alias}.last_name"
                conds += [f"typeof({first}) = 'text'", f"typeof({last}) = 'text'"]
                return _Column(f"{first} || ' ' || {last}", conds, "text", False)
            if "name" in keys:
                conds.append(f"typeof({alias}.name) = 'text'")
                return _Column(f"{alias}.name", conds, "text", False)
            raise _NotFast(f"column {to}: the owner has no name")
        if to.endswith("_active"):
            col = next((s for s, t in mapper.plan.tables[owner_table].columns.items() if t == "is_active"), None)
            if col is None:
                return _Column("'t'", conds, "bool", False)
            a = f"{alias}.{q(col)}"
            if words := mapper.plan.tables[owner_table].values.get(col):  # the owner's words, as its row has them
                a = words_case(a, words)
            conds += [f"typeof({a}) = 'integer'", f"{a} IN (0, 1)"]
            return _Column(f"CASE {a} WHEN 1 THEN 't' ELSE 'f' END", conds, "bool", False)
        raise _NotFast(f"column {to}: a copy the fast path does not make")

    # --- reading

    async def rows(self, fast: FastTable, batch: int) -> AsyncGenerator[list[tuple[Any, ...]], None]:
        """The table's rows as the query gives them, in chunks of ``batch``, in the
        mapper's load order (rowid order where no row names a later row of its table);
        the next chunk is read (on a thread) while the caller works on this one."""
        self.skipped_now(fast.skips)
        cursor = self.db.cursor()
        cursor.row_factory = None
        await asyncio.to_thread(cursor.execute, fast.sql)
        ahead = asyncio.ensure_future(asyncio.to_thread(cursor.fetchmany, batch))
        try:
            while chunk := await ahead:
                ahead = asyncio.ensure_future(asyncio.to_thread(cursor.fetchmany, batch))
                yield chunk
        finally:
            if not ahead.done():
                await ahead
            cursor.close()

    def close(self) -> None:
        self.db.close()

    def full_rows(self, table: str, rowids: Sequence[int]) -> dict[int, sqlite3.Row]:
        """The monolith rows of ``rowids`` (for the mapper), by rowid."""
        found: dict[int, sqlite3.Row] = {}
        for n in range(0, len(rowids), 900):
            part = rowids[n : n + 900]
            marks = ", ".join("?" * len(part))
            for row in self.db.execute(
                f"SELECT rowid AS isles_rowid, * FROM {q(table)} WHERE rowid IN ({marks})", list(part)
            ):
                found[int(row[0])] = row
        return found
