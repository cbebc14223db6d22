"""``isles split verify``: compare the services' databases with the monolith after
``isles split run``. What the run must have written is computed again from the
monolith and the plan (:class:`isles.tools.split.mapper.Mapper`, the same conversions and
rejects) and read back from the targets: per table the expected rows against the
target's, a checksum of every filled column per row, every reference found in its
owner's table (or its parent a reject), every loaded owner row's copies. On PostgreSQL
the rows the run's fast path takes are compared as ``COPY`` text first and only those
whose text differs value by value (:func:`_verify_fast`).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from isles.tools.split.analyse import Analysis, open_readonly
from isles.tools.split.convert import checksum, converter, norm, to_id
from isles.tools.split.fast import KINDS, FastPlanner, FastTable, copy_out, out_text
from isles.tools.split.fast import NULL as NULL_TEXT
from isles.tools.split.ids import uuid_of
from isles.tools.split.mapper import BATCH, Mapper, TableMap, is_copy
from isles.tools.split.plan import (
    UUID_TYPES,
    Plan,
    Target,
)
from isles.tools.split.replicas import replicas_of
from isles.tools.split.results import Reject
from isles.tools.split.run import clean_first
from isles.tools.split.writer import Writer

if TYPE_CHECKING:
    from sqlalchemy import Table

    from isles.service.declaration import System
    from isles.storage.db import ServiceDatabase


@dataclass
class TableCheck:
    source: str
    target: str
    expected: int  # source rows minus the skipped
    found: int  # target rows
    missing: int = 0
    differing: int = 0
    samples: list[str] = field(default_factory=list)
    #: rows compared value by value (verify's fast path: those whose text differs)
    by_value: int = field(default=0, compare=False)

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


#: the differing rows a table names (the rest are counted)
SAMPLES = 5


def _shown(value: Any) -> str:
    text = "NULL" if value is None else repr(norm(value))
    return text if len(text) <= 40 else text[:37] + "..."


def differs(key: Any, want: Mapping[str, Any], have: Mapping[str, Any], used: Iterable[str], secret: set[str]) -> str:
    """``key differs: column ('expected' expected, 'found' found), ...``: the columns of
    one row whose values differ as the checksums see them; an encrypted column (in
    ``secret``) is named without its values."""
    parts = []
    for c in used:
        if checksum([want[c]]) != checksum([have[c]]):
            parts.append(c if c in secret else f"{c} ({_shown(want[c])} expected, {_shown(have[c])} found)")
    return f"{key} differs: {', '.join(parts)}" if parts else f"{key} differs"


def _qualified(db: ServiceDatabase, table: Table) -> str:
    quote = db.engine.dialect.identifier_preparer.quote
    return (f"{quote(table.schema)}." if table.schema else "") + quote(table.name)


async def _copy_lines(db: ServiceDatabase, query: str) -> list[str]:
    """The lines of ``COPY (query) TO STDOUT`` on ``db`` (PostgreSQL), every company's
    rows, in the text the run writes (the session's TimeZone UTC, DateStyle ISO)."""
    from isles.storage.tenancy import ACROSS_TENANTS

    async with db.read_session(tenant=ACROSS_TENANTS) as session:
        conn = await session.connection()
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        if not driver.is_in_transaction():
            await conn.exec_driver_sql("SELECT 1")
        await driver.execute("SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'")
        return await copy_out(driver, query)


async def verify(
    plan: Plan,
    analysis: Analysis,
    target: Target,
    system: System,
    dbs: Mapping[str, ServiceDatabase],
    rejects: Sequence[Reject] = (),
    *,
    fast: bool = True,
) -> VerifyResult:
    """Per table: the rows the run must have written (recomputed from the monolith)
    against the target's, by count and by a checksum of every filled column; every
    reference's value found in its owner's table, or its parent row a reject.

    With ``fast`` (the default), a table on PostgreSQL that the run's fast path can
    take is compared as text (:func:`_verify_fast`): each expected row's line of
    ``COPY`` text (SQLite's for the clean rows, the mapper's values' otherwise)
    against the line ``COPY ... TO`` gives for it; the rows whose lines differ are
    compared by value, as without it. Either way the same result."""
    from sqlalchemy import select

    from isles.storage.tenancy import ACROSS_TENANTS

    result = VerifyResult()
    #: "service.table" -> ids found (the owners referred to); the owners in ``as_text``
    #: (read by COPY): their ids' texts
    loaded_ids: dict[str, set[Any]] = {}
    as_text: set[str] = set()
    skipped: set[uuid.UUID] = set()
    #: the references not found in their owner's table (table, column, owner, value):
    #: a reject's or unresolved, told apart once every table's rejects are known
    missed: list[tuple[str, str, str, uuid.UUID]] = []
    with open_readonly(analysis.path) as db:
        db.row_factory = sqlite3.Row
        mapper = Mapper(plan, analysis, target, system, db)
        refused = {(r.table, r.rowid) for r in rejects if r.decision == "skip" and r.reason.startswith("refused")}
        # the owners' ids first: each reference is checked as its row is read (none kept)
        owners: dict[str, dict[str, str]] = {}  # monolith table -> reference column -> owner
        for name, tm in mapper.maps.items():
            owners[name] = {
                c: (tc.reference or f"{tm.target.service}.{(tc.foreign_key or '').split('.')[0]}")
                for c, tc in tm.target.columns.items()
                if tc.type in UUID_TYPES and (tc.reference or tc.foreign_key)
            }
        for owner in sorted({o for cols in owners.values() for o in cols.values()}):
            service, table_name = owner.split(".", 1)
            tt = target.tables.get(owner)
            if service not in dbs or tt is None:
                continue
            pk = next((c for c in tt.columns.values() if c.primary_key), None)
            if pk is None or pk.type not in UUID_TYPES:
                continue
            sa_table = mapper.services[service].metadata.tables[table_name]
            if fast and not dbs[service].is_sqlite:
                quote = dbs[service].engine.dialect.identifier_preparer.quote
                query = f"SELECT {quote(pk.name)} FROM {_qualified(dbs[service], sa_table)}"
                loaded_ids[owner] = set(await _copy_lines(dbs[service], query))
                as_text.add(owner)
                continue
            async with dbs[service].read_session(tenant=ACROSS_TENANTS) as session:
                loaded_ids[owner] = set((await session.execute(select(sa_table.columns[pk.name]))).scalars())
        state = _Verifying(mapper, result, loaded_ids, as_text, refused, skipped, missed)
        planner = FastPlanner(mapper) if fast and any(not d.is_sqlite for d in dbs.values()) else None
        try:
            for name, tm in mapper.maps.items():
                # the versions are the run's, not the monolith's (--changed bumps them)
                managed = {to for to, _, _ in mapper.copies_of(tm) if to.endswith("_version") and is_copy(tm, to)}
                if tm.fills.get("version", ("", None))[0] != "column":
                    managed.add("version")
                columns = [c for c in tm.columns if c in tm.table.columns and (c not in managed or c == tm.pk)]
                target_db = dbs[tm.target.service]
                ft = None
                # (a key whose COPY text is its text: a UUID, an integer)
                keyed = KINDS.get(type(tm.table.columns[tm.pk].type).__name__) in ("uuid", "int")
                if planner is not None and not target_db.is_sqlite and keyed:
                    ft = planner.plan(tm, Writer(target_db, tm.table, tm.pk), [], checked=columns)
                keys: Iterable[Any]
                if ft is not None:
                    assert planner is not None
                    check, keys = await _verify_fast(state, planner, ft, columns, target_db, owners[name])
                else:
                    check, keys = await _verify_table(state, tm, columns, target_db, owners[name])
                result.tables.append(check)
                expected = set(keys)
                for replica in replicas_of(plan, system, tm.target.full)[0]:
                    if replica.service not in dbs:
                        continue
                    rdb = dbs[replica.service]
                    key = replica.table.columns[replica.columns[0]]
                    copied: set[Any]
                    if ft is not None and not rdb.is_sqlite:
                        quote = rdb.engine.dialect.identifier_preparer.quote
                        query = f"SELECT {quote(key.name)} FROM {_qualified(rdb, replica.table)}"
                        copied = set(await _copy_lines(rdb, query))
                    else:
                        async with rdb.read_session(tenant=ACROSS_TENANTS) as session:
                            copied = set((await session.execute(select(key))).scalars())
                        if ft is not None:
                            copied = {str(v) for v in copied}
                    copy_check = TableCheck(f"{name} (copy)", replica.full, len(expected), len(copied))
                    copy_check.missing = len(expected - copied)
                    result.tables.append(copy_check)
        finally:
            if planner is not None:
                planner.close()
        for t in result.tables:  # the target's rows that match none of the monolith's
            extra = t.found - (t.expected - t.missing)
            if extra > 0:
                t.samples.append(f"{extra} row{'s' if extra > 1 else ''} the monolith does not have")
        # the UUIDs of every monolith row of a mapped table (made only if something missed)
        known = {uuid_of(mapper.ns, name, i) for name in mapper.maps for i in mapper.ids(name)} if missed else set()
    for table, column, owner, value in missed:
        if value in skipped or value not in known or owner not in loaded_ids:  # a reject: reported
            result.reported += 1
            continue
        result.unresolved.append(f"{table}.{column} = {value}: not in {owner}")
    return result


@dataclass
class _Verifying:
    """What verify's tables share: the mapper, the result so far, the owners' ids
    found, the rows refused by the database (rejects), the UUIDs of the rows skipped,
    and the references not found (told apart at the end)."""

    mapper: Mapper
    result: VerifyResult
    loaded_ids: dict[str, set[Any]]  # "service.table" -> ids found (the owners in as_text: their texts)
    as_text: set[str]
    refused: set[tuple[str, int]]  # (monolith table, rowid)
    skipped: set[uuid.UUID]
    missed: list[tuple[str, str, str, uuid.UUID]]  # (table, column, owner, value)


async def _verify_table(
    state: _Verifying, tm: TableMap, columns: list[str], target_db: ServiceDatabase, owners: Mapping[str, str]
) -> tuple[TableCheck, list[uuid.UUID]]:
    """One table the mapper's way (``--no-fast``, SQLite, a table the fast path does
    not take): every monolith row converted, every target row read by SQLAlchemy, a
    checksum of each; the expected rows' keys."""
    from sqlalchemy import select

    from isles.storage.tenancy import ACROSS_TENANTS

    mapper, result, loaded_ids, as_text = state.mapper, state.result, state.loaded_ids, state.as_text
    refused, skipped, missed = state.refused, state.skipped, state.missed
    name = tm.source
    expected: dict[uuid.UUID, tuple[list[str], str]] = {}
    seen: dict[str, set[tuple[Any, ...]]] = {}
    shapes: dict[tuple[str, ...], list[str]] = {}  # the columns a row fills -> those checked
    for chunk in mapper.rows(name):
        for row in chunk:
            values, _ = mapper.convert_row(tm, row, seen)
            if values is not None and (name, int(row["isles_rowid"])) in refused:
                mapper.skipped.setdefault(name, set()).add(tm.source_id(row))
                values = None
            if values is None:
                skipped.add(uuid_of(mapper.ns, name, tm.source_id(row)))
                continue
            keys = tuple(values)
            used = shapes.get(keys)
            if used is None:  # the rest: the target's default
                used = shapes[keys] = [c for c in columns if c in values]
            expected[values[tm.pk]] = (used, checksum([values[c] for c in used]))
    found: dict[uuid.UUID, str] = {}
    reference_cols = [
        (c, owner, loaded_ids.get(owner), owner in as_text) for c, owner in owners.items() if c in columns
    ]
    full = tm.target.full
    found_rows = 0
    theirs: dict[uuid.UUID, dict[str, Any]] = {}  # the first differing rows, to name their columns
    async with target_db.read_session(tenant=ACROSS_TENANTS) as session:
        sel = select(*(tm.table.columns[c] for c in columns))
        for record in (await session.execute(sel)).all():
            found_rows += 1
            values = dict(zip(columns, record, strict=True))
            ident = values[tm.pk]
            if ident in expected:
                used, digest = expected[ident]
                found[ident] = mine = checksum([values[c] for c in used])
                if mine != digest and len(theirs) < SAMPLES:
                    theirs[ident] = values
            for c, owner, ids, text in reference_cols:
                value = values[c]
                if value is not None:
                    result.references += 1
                    if ids is None or (str(value) if text else value) not in ids:
                        missed.append((full, c, owner, value))
    # the rows named below: their expected values again (a second reading, only when
    # something differs), to name the columns that differ
    ours: dict[uuid.UUID, dict[str, Any]] = {}
    if theirs:
        for chunk in mapper.rows(name):
            for row in chunk:
                values, _ = mapper.convert_row(tm, row, {})
                if values is not None and values[tm.pk] in theirs:
                    ours[values[tm.pk]] = values
    secret = {c for c, col in tm.target.columns.items() if col.type == "Encrypted"}
    check = TableCheck(name, tm.target.full, len(expected), found_rows)
    for ident, (used, digest) in expected.items():
        if ident not in found:
            check.missing += 1
            if len(check.samples) < SAMPLES:
                check.samples.append(f"{ident} missing")
        elif found[ident] != digest:
            check.differing += 1
            if len(check.samples) < SAMPLES:
                want, have = ours.get(ident), theirs.get(ident)
                if want is not None and have is not None:
                    check.samples.append(differs(ident, want, have, used, secret))
                else:
                    check.samples.append(f"{ident} differs")
    return check, list(expected)


async def _verify_fast(
    state: _Verifying,
    planner: FastPlanner,
    ft: FastTable,
    columns: list[str],
    target_db: ServiceDatabase,
    owners: Mapping[str, str],
) -> tuple[TableCheck, list[str]]:
    """One table on the run's fast path (``ft``, planned with ``checked=columns``):

    * the target's rows by one ``COPY (SELECT key, the line's columns, the encrypted
      columns) TO STDOUT`` (a ``numeric`` through ``trim_scale``), by key's text;
    * the expected rows read as the run reads them (:func:`clean_first`, the same
      unique keys taken, the same rows skipped): a clean row's line is SQLite's, the
      others' the text of the mapper's values (:func:`isles.tools.split.fast.out_text`);
    * a row is the same where its line is the target's, its encrypted values (decrypted)
      equal; every other row is compared as :func:`_verify_table` compares it (its
      values from the mapper, the target's through SQLAlchemy, a checksum of each), so
      a line written another way (``10.50``, a time with microseconds) is no
      difference, and no difference is missed.

    The references are checked on the target's lines (the owners' ids as texts)."""
    from sqlalchemy import select

    from isles.storage.tenancy import ACROSS_TENANTS

    mapper, result, loaded_ids, as_text = state.mapper, state.result, state.loaded_ids, state.as_text
    refused, skipped, missed = state.refused, state.skipped, state.missed
    tm = ft.tm
    name, full = tm.source, tm.target.full
    dialect = target_db.engine.dialect
    quote = dialect.identifier_preparer.quote
    in_line, sealed = ft.in_line, ft.sealed_columns

    def out(c: str) -> str:
        kind = KINDS.get(type(tm.table.columns[c].type).__name__)
        return f"trim_scale({quote(c)})" if kind == "number" else quote(c)

    picked = ", ".join([quote(tm.pk), *(out(c) for c in in_line), *(quote(c) for c in sealed)])

    # the target's rows (PostgreSQL's work) while SQLite makes the first expected lines
    # (a thread's); then each chunk compared while SQLite makes the next
    query = f"SELECT {picked} FROM {_qualified(target_db, tm.table)}"
    copying = asyncio.ensure_future(_copy_lines(target_db, query))
    found: dict[str, str] = {}
    refs = [
        (1 + in_line.index(c), c, owner, loaded_ids.get(owner), owner in as_text)
        for c, owner in owners.items()
        if c in in_line
    ]

    def fill(lines: list[str]) -> None:
        """The target's lines by key; their references checked."""
        for line in lines:
            key, _, rest = line.partition("\t")
            found[key] = rest
            if refs:
                fields = line.split("\t")
                for i, c, owner, ids, text in refs:
                    value = fields[i]
                    if value != NULL_TEXT:
                        result.references += 1
                        if ids is None or (value if text else uuid.UUID(value)) not in ids:
                            missed.append((full, c, owner, uuid.UUID(value)))

    # the encrypted columns: decrypted, compared by value
    opened: list[Any] = [tm.table.columns[c].type for c in sealed]  # Encrypted (a TypeDecorator) each
    made = [
        converter(tm.target.columns[c].type, getattr(tm.table.columns[c].type, "python_type_", None)) for c in sealed
    ]
    at = [i for i, _ in ft.sealed]
    n_sealed = len(sealed)

    def same(got: str, line: str, plain: Sequence[Any]) -> bool:
        if not n_sealed:
            return got == line
        body, *texts_ = got.rsplit("\t", n_sealed)
        if body != line:
            return False
        for text, want, kind in zip(texts_, plain, opened, strict=True):
            if text == NULL_TEXT:
                value = None
            elif "\\" in text:
                return False
            else:
                try:
                    value = kind.process_result_value(text, dialect)
                except Exception:  # not what was sealed: compared the mapper's way
                    return False
            if norm(value) != norm(want):
                return False
        return True

    order: list[str] = []  # the expected rows' keys, in the run's order
    problems: list[tuple[str, dict[str, Any] | None]] = []  # key, None (missing) or the values to compare
    seen: dict[str, set[tuple[Any, ...]]] = {}
    gone = mapper.skipped.setdefault(name, set())
    pk_at, line_at = ft.pk_at, ft.line_at

    refused_here = {rowid for table, rowid in refused if table == name}

    def take(r: tuple[Any, ...]) -> None:
        """A clean row (its keys new), at its place in the run's order."""
        if refused_here and r[0] in refused_here:
            gone.add(to_id(r[1]))
            skipped.add(uuid_of(mapper.ns, name, int(r[1])))
            return
        key = r[pk_at]
        got = found.get(key)
        order.append(key)
        if got is None:
            problems.append((key, None))
            return
        if not n_sealed and got == r[line_at]:
            return
        try:
            plain = [None if r[i] is None else conv(r[i]) for i, conv in zip(at, made, strict=True)]
        except Exception:  # the mapper's way decides (a value it rejects)
            plain = None
        if plain is not None and same(got, r[line_at], plain):
            return
        values, _ = mapper.convert_row(tm, planner.full_rows(name, [r[0]])[r[0]], {})
        if values is None:  # cannot be: a clean row converts  # pragma: no cover
            order.pop()
            skipped.add(uuid_of(mapper.ns, name, int(r[1])))
            return
        problems.append((key, values))

    n_columns = len(columns)

    def compare(chunk: list[tuple[Any, ...]]) -> None:
        for row in clean_first(take, ft, chunk, seen, planner):
            values, _ = mapper.convert_row(tm, row, seen)
            if values is not None and int(row["isles_rowid"]) in refused_here:
                gone.add(tm.source_id(row))
                values = None
            if values is None:
                skipped.add(uuid_of(mapper.ns, name, tm.source_id(row)))
                continue
            key = str(values[tm.pk])
            order.append(key)
            got = found.get(key)
            if got is None:
                problems.append((key, None))
                continue
            if sum(1 for c in columns if c in values) == n_columns:  # else: a default fills one
                parts = [out_text(values[c]) for c in in_line]
                if None not in parts and same(got, "\t".join(parts), [values[c] for c in sealed]):  # type: ignore[arg-type]
                    continue
            problems.append((key, values))

    found_rows = -1
    try:
        async with contextlib.aclosing(planner.rows(ft, BATCH)) as chunks:
            async for chunk in chunks:  # in the run's order
                if found_rows < 0:
                    lines = await copying
                    found_rows = len(lines)
                    fill(lines)
                    del lines
                compare(chunk)
        if found_rows < 0:
            lines = await copying
            found_rows = len(lines)
            fill(lines)
    finally:
        if not copying.done():  # a failure while reading the monolith
            copying.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await copying

    # the rows whose text differs: compared by value, as the mapper's way compares them
    pending = [values for _, values in problems if values is not None]
    theirs: dict[str, dict[str, Any]] = {}
    pk_column = tm.table.columns[tm.pk]
    async with target_db.read_session(tenant=ACROSS_TENANTS) as session:
        for n in range(0, len(pending), 1000):
            wanted = [values[tm.pk] for values in pending[n : n + 1000]]
            sel = select(*(tm.table.columns[c] for c in columns)).where(pk_column.in_(wanted))
            for record in (await session.execute(sel)).all():
                there = dict(zip(columns, record, strict=True))
                theirs[str(there[tm.pk])] = there
    check = TableCheck(name, full, len(order), found_rows)
    check.by_value = len(pending)
    secret = {c for c, col in tm.target.columns.items() if col.type == "Encrypted"}
    for key, values in problems:
        if values is None:
            check.missing += 1
            if len(check.samples) < SAMPLES:
                check.samples.append(f"{key} missing")
            continue
        used = [c for c in columns if c in values]
        other = theirs.get(key)
        if other is None:  # deleted since it was read
            check.missing += 1
            if len(check.samples) < SAMPLES:
                check.samples.append(f"{key} missing")
        elif checksum([other[c] for c in used]) != checksum([values[c] for c in used]):
            check.differing += 1
            if len(check.samples) < SAMPLES:
                check.samples.append(differs(key, values, other, used, secret))
    return check, order
