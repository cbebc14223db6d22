"""The ids of ``isles split run`` (:mod:`isles.tools.split.run`) and its id file.

Every integer id becomes ``uuid5(namespace, f"{table}:{id}")`` (:func:`namespace`,
:func:`uuid_of`); a row told apart by several columns has the id :func:`row_key_id`
makes of them (:func:`identity_of`, :func:`monolith_ids`). The id file
(``<plan>.ids.sqlite``, a table of the run kept out of the services' databases)
holds the mapping (:data:`IDS_TABLE`: :func:`write_ids`, :class:`IdRecorder`), the ids
``--delete-gone`` took out of it (:data:`GONE_TABLE`: :func:`forget_ids`), the
watermarks ``--changed`` reads past (:func:`write_watermarks`,
:func:`read_watermarks`) and the databases the runs wrote to (:func:`check_targets`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from isles.tools.split import SplitError
from isles.tools.split.analyse import Analysis, open_readonly, q
from isles.tools.split.plan import Plan

ROOT = uuid.UUID("6f1d3c2a-9b8e-4f57-a0c1-5d2e7b9a4c10")
IDS_TABLE = "isles_split_ids"
#: the ids ``--delete-gone`` deleted from the target (taken out of :data:`IDS_TABLE`):
#: ``isles split rollback`` still removes what the runs wrote of them (their history)
GONE_TABLE = "isles_split_gone"
WATERMARKS_TABLE = "isles_split_watermarks"


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


# --- the id file --------------------------------------------------------------------------


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
