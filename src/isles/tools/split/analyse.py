"""Read a monolith's SQLite file, read-only, and describe it: tables and columns, row
counts, relations declared (FOREIGN KEY) and inferred (a ``*_id`` column whose values
are found in another table's key), and anomalies per column (text in number columns,
dates that are not dates, empty strings standing for NULL, emails duplicated but for
case).

Everything is counted by SQLite itself (aggregate queries, one pass per table for the
per-column counts): no table is read into memory, whatever its size. Samples are rowids
(at most :data:`SAMPLES` per finding), so a person can look at the rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from isles.tools.split import SplitError

SAMPLES = 5
#: A ``*_id`` column is a relation to a table when at least this share of its values
#: are that table's keys.
MIN_OVERLAP = 90.0
#: Columns named so refer to people (employees, users) rather than to a table of that name.
ROLE_WORDS = (
    "manager",
    "approver",
    "lead",
    "supervisor",
    "reviewer",
    "creator",
    "owner",
    "assignee",
    "reporter",
    "author",
    "created_by",
    "updated_by",
    "approved_by",
    "decided_by",
    "parent",
)
PEOPLE_TABLES = ("employees", "employee", "users", "user", "staff", "people", "persons")

AnomalyKind = Literal["text_in_number", "bad_date", "empty_string", "duplicate_ci"]
ANOMALY_TEXT: dict[str, str] = {
    "text_in_number": "text in a number column",
    "bad_date": "not a date",
    "empty_string": "empty string (NULL meant?)",
    "duplicate_ci": "duplicate ignoring case",
}
HEADER = b"SQLite format 3\x00"


@dataclass(frozen=True)
class Column:
    name: str
    declared_type: str  # as written in CREATE TABLE ('' for none)
    kind: str  # what the values are: "integer", "real", "text", "date", "blob", "numeric"
    nullable: bool
    primary_key: bool
    is_date: bool
    nulls: int = 0  # rows where it is NULL


@dataclass(frozen=True)
class Table:
    name: str
    rows: int
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class Relation:
    """``table.column`` holds keys of ``target.target_column``: declared (a FOREIGN KEY)
    or inferred (by its name and its values)."""

    table: str
    column: str
    target: str
    target_column: str
    declared: bool
    values: int  # non-null values
    found: int  # of them, present in the target
    orphan_samples: tuple[int, ...] = ()

    @property
    def orphans(self) -> int:
        return self.values - self.found

    @property
    def overlap(self) -> float:
        """Percent of the values found in the target (100 when there are none)."""
        return 100.0 if self.values == 0 else round(100.0 * self.found / self.values, 2)


@dataclass(frozen=True)
class Anomaly:
    table: str
    column: str
    kind: AnomalyKind
    count: int
    samples: tuple[int, ...]  # rowids
    detail: str = ""


@dataclass
class Analysis:
    path: Path
    tables: dict[str, Table] = field(default_factory=dict)
    relations: list[Relation] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)

    @property
    def total_rows(self) -> int:
        return sum(t.rows for t in self.tables.values())

    def relation(self, table: str, column: str) -> Relation | None:
        return next((r for r in self.relations if r.table == table and r.column == column), None)

    def anomaly(self, table: str, column: str, kind: str) -> Anomaly | None:
        return next((a for a in self.anomalies if a.table == table and a.column == column and a.kind == kind), None)


def q(name: str) -> str:
    """An SQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def _affinity(declared: str) -> str:
    """SQLite's column affinity from a declared type (its documented rules, in order)."""
    t = declared.upper()
    if "INT" in t:
        return "integer"
    if any(s in t for s in ("CHAR", "CLOB", "TEXT")):
        return "text"
    if not t or "BLOB" in t:
        return "blob"
    if any(s in t for s in ("REAL", "FLOA", "DOUB")):
        return "real"
    return "numeric"


def _is_date(name: str, declared: str) -> bool:
    t = declared.upper()
    return "DATE" in t or "TIME" in t or name.endswith(("_date", "_at")) or name in ("date", "day")


@contextmanager
def open_readonly(path: Path) -> Iterator[sqlite3.Connection]:
    """The file opened read-only (``mode=ro``): a bad file is a :class:`SplitError`."""
    if path.is_dir():
        raise SplitError(f"{path}: a folder, not a SQLite file")
    if not path.is_file():
        raise SplitError(f"{path}: no such file")
    with path.open("rb") as f:
        head = f.read(len(HEADER))
    if head != HEADER:
        raise SplitError(f"{path}: not a SQLite database (it does not start with 'SQLite format 3')")
    try:
        db = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise SplitError(f"{path}: cannot open: {exc}") from exc
    with closing(db):
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            raise SplitError(f"{path}: not a readable SQLite database: {exc}") from exc
        yield db


def analyse(path: str | Path, progress: Callable[[str], None] | None = None, *, anomalies: bool = True) -> Analysis:
    """Describe the monolith at ``path``; ``progress(table)`` is called as each table is
    done. ``anomalies=False`` leaves them out (a run needs the tables and relations only)."""
    path = Path(path)
    with open_readonly(path) as db:
        try:
            return _analyse(db, path, progress, anomalies)
        except sqlite3.DatabaseError as exc:
            raise SplitError(f"{path}: cannot read: {exc}") from exc


def _analyse(
    db: sqlite3.Connection, path: Path, progress: Callable[[str], None] | None, anomalies: bool = True
) -> Analysis:
    names = [
        r[0]
        for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    if not names:
        raise SplitError(f"{path}: a SQLite database without tables: nothing to split")
    result = Analysis(path=path)
    for name in names:
        table = _table(db, name)
        result.tables[name] = table
        if anomalies:
            result.anomalies.extend(_anomalies(db, table))
    for name in names:
        result.relations.extend(_relations(db, result, result.tables[name]))
        if progress is not None:
            progress(name)
    return result


def _table(db: sqlite3.Connection, name: str) -> Table:
    info = db.execute(f"PRAGMA table_info({q(name)})").fetchall()
    pk = tuple(r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5]))
    rows = int(db.execute(f"SELECT count(*) FROM {q(name)}").fetchone()[0])
    columns = []
    nulls = [0] * len(info)
    if rows:
        sums = ", ".join(f"coalesce(sum({q(r[1])} IS NULL), 0)" for r in info)
        nulls = [int(n) for n in db.execute(f"SELECT {sums} FROM {q(name)}").fetchone()]
    for (_cid, col, declared, notnull, _default, pkpos), null_count in zip(info, nulls, strict=True):
        kind = _affinity(declared or "")
        is_date = _is_date(col, declared or "")
        if kind == "blob" and rows:  # no declared type: what its values mostly are
            kind = _dominant(db, name, col)
        elif is_date:
            kind = "date"
        columns.append(
            Column(
                col,
                declared or "",
                kind,
                nullable=not notnull and not pkpos,
                primary_key=bool(pkpos),
                is_date=is_date,
                nulls=null_count,
            )
        )
    return Table(name, rows, tuple(columns), pk)


def _dominant(db: sqlite3.Connection, table: str, column: str) -> str:
    found = db.execute(
        f"SELECT typeof({q(column)}) AS t, count(*) FROM {q(table)} WHERE {q(column)} IS NOT NULL "
        f"AND NOT (typeof({q(column)}) = 'text' AND trim({q(column)}) = '') GROUP BY t ORDER BY 2 DESC LIMIT 1"
    ).fetchone()
    return "blob" if found is None else str(found[0])


def _anomalies(db: sqlite3.Connection, table: Table) -> list[Anomaly]:
    """One pass over the table counts every column's anomalies; rows are sampled only
    for the counts that are not zero."""
    checks: list[tuple[Column, AnomalyKind, str]] = []
    for col in table.columns:
        c = q(col.name)
        is_text = f"typeof({c}) = 'text'"
        checks.append((col, "empty_string", f"{is_text} AND trim({c}) = ''"))
        if col.is_date:
            checks.append(
                (
                    col,
                    "bad_date",
                    # not a date, or a day SQLite moves (30 February is 2 March), with a time too
                    f"{is_text} AND trim({c}) <> '' AND (julianday({c}) IS NULL OR "
                    f"(substr({c}, 5, 1) = '-' AND substr({c}, 8, 1) = '-' AND "
                    f"date(substr({c}, 1, 10), '+0 days') IS NOT substr({c}, 1, 10)))",
                )
            )
        elif col.kind in ("integer", "real", "numeric"):
            checks.append((col, "text_in_number", f"{is_text} AND trim({c}) <> ''"))
    if not checks or not table.rows:
        return []
    sums = ", ".join(f"coalesce(sum({cond}), 0)" for _, _, cond in checks)
    counts = db.execute(f"SELECT {sums} FROM {q(table.name)}").fetchone()
    found: list[Anomaly] = []
    for (col, kind, cond), count in zip(checks, counts, strict=True):
        if not count:
            continue
        samples = _rowids(db, f"SELECT rowid FROM {q(table.name)} WHERE {cond} LIMIT {SAMPLES}")
        detail = ""
        if kind == "text_in_number":
            c = q(col.name)
            numeric = db.execute(
                f"SELECT count(*) FROM {q(table.name)} WHERE {cond} AND trim({c}) GLOB '*[0-9]*' "
                f"AND NOT trim({c}) GLOB '*[^0-9.+-]*'"
            ).fetchone()[0]
            detail = f"{numeric} of them look like numbers"
        found.append(Anomaly(table.name, col.name, kind, int(count), samples, detail))
    for col in table.columns:
        if "email" in col.name.lower():
            found.extend(_duplicates(db, table, col))
    return found


def _duplicates(db: sqlite3.Connection, table: Table, col: Column) -> list[Anomaly]:
    c, t = q(col.name), q(table.name)
    where = f"{c} IS NOT NULL AND trim({c}) <> ''"
    total, distinct = db.execute(f"SELECT count(*), count(DISTINCT lower(trim({c}))) FROM {t} WHERE {where}").fetchone()
    if total == distinct:
        return []
    samples = _rowids(
        db, f"SELECT max(rowid) FROM {t} WHERE {where} GROUP BY lower(trim({c})) HAVING count(*) > 1 LIMIT {SAMPLES}"
    )
    return [
        Anomaly(table.name, col.name, "duplicate_ci", int(total - distinct), samples, "the same address in other case")
    ]


def _rowids(db: sqlite3.Connection, sql: str) -> tuple[int, ...]:
    return tuple(int(r[0]) for r in db.execute(sql))


def _single_key(table: Table) -> str | None:
    return table.primary_key[0] if len(table.primary_key) == 1 else None


def _candidates(analysis: Analysis, table: Table, column: str) -> list[Table]:
    """The tables a ``*_id`` column may name, by its name first."""
    base = column[: -len("_id")] if column.endswith("_id") else column
    words = (base, base + "s", base + "es", base[:-1] + "ies" if base.endswith("y") else base)
    named = [analysis.tables[w] for w in dict.fromkeys(words) if w in analysis.tables]
    named += [t for n, t in analysis.tables.items() if n.endswith("_" + base + "s") and t not in named]
    if named:
        return named
    if any(w in column for w in ROLE_WORDS):
        # people first (a department's manager_id is an employee's), then the table
        # itself (a parent_id); on equal overlap the first wins
        people = [analysis.tables[p] for p in PEOPLE_TABLES if p in analysis.tables]
        found = people + ([] if table in people else [table])
        return found[::-1] if column.startswith("parent") else found
    return [t for t in analysis.tables.values() if t is not table]


def _relations(db: sqlite3.Connection, analysis: Analysis, table: Table) -> list[Relation]:
    found: list[Relation] = []
    declared: set[str] = set()
    for row in db.execute(f"PRAGMA foreign_key_list({q(table.name)})").fetchall():
        target_name, column, target_column = row[2], row[3], row[4]
        target = analysis.tables.get(target_name)
        target_column = target_column or (target and _single_key(target)) or "id"
        declared.add(column)
        found.append(_overlap(db, table.name, column, target_name, target_column, declared=True))
    for col in table.columns:
        own_id = col.primary_key and len(table.primary_key) == 1  # a part of a key of several may name a row
        if own_id or col.name in declared or not col.name.endswith("_id"):
            continue
        if col.kind not in ("integer", "numeric", "text", "blob"):
            continue
        best: Relation | None = None
        for target in _candidates(analysis, table, col.name):
            key = _single_key(target)
            if key is None:
                continue
            rel = _overlap(db, table.name, col.name, target.name, key, declared=False)
            if rel.values and rel.overlap >= MIN_OVERLAP and (best is None or rel.overlap > best.overlap):
                best = rel
        if best is not None:
            found.append(best)
    return found


def relation_of(db: sqlite3.Connection, table: str, column: str, target: str, key: str) -> Relation:
    """``table.column`` as a relation to ``target.key`` whatever its values show (a plan
    names it), with its counts: values, found, orphans."""
    return _overlap(db, table, column, target, key, declared=False)


def _overlap(db: sqlite3.Connection, table: str, column: str, target: str, key: str, *, declared: bool) -> Relation:
    c = q(column)
    where = f"{c} IS NOT NULL AND NOT (typeof({c}) = 'text' AND trim({c}) = '')"
    if not _has_column(db, target, key):  # a FOREIGN KEY naming what is not there: every value is an orphan
        values = int(db.execute(f"SELECT count(*) FROM {q(table)} WHERE {where}").fetchone()[0])
        samples = _rowids(db, f"SELECT rowid FROM {q(table)} WHERE {where} LIMIT {SAMPLES}")
        return Relation(table, column, target, key, declared, values, 0, samples)
    missing = f"NOT EXISTS (SELECT 1 FROM {q(target)} AS t WHERE t.{q(key)} = s.{c})"
    values, orphans = db.execute(
        f"SELECT count(*), coalesce(sum({missing}), 0) FROM {q(table)} AS s WHERE {where}"
    ).fetchone()
    samples = (
        _rowids(db, f"SELECT rowid FROM {q(table)} AS s WHERE {where} AND {missing} LIMIT {SAMPLES}") if orphans else ()
    )
    return Relation(table, column, target, key, declared, int(values), int(values - orphans), samples)


def _has_column(db: sqlite3.Connection, table: str, column: str) -> bool:
    return any(r[1] == column for r in db.execute(f"PRAGMA table_info({q(table)})"))
