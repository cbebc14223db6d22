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

The run's parts, each a module of this package: its ids and id file (:mod:`.ids`), the
value conversions (:mod:`.convert`), the :class:`Mapper` (:mod:`.mapper`), the
:class:`Writer` (:mod:`.writer`), the replicas (:mod:`.replicas`), its rejects and
results (:mod:`.results`), ``--changed`` and ``--delete-gone`` (:mod:`.changed`). The
names the tests import from here are re-exported (``import X as X``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from isles.tools.split.analyse import Analysis, open_readonly
from isles.tools.split.changed import _changed_table, _current, _delete_gone
from isles.tools.split.convert import Bad as Bad
from isles.tools.split.convert import convert as convert
from isles.tools.split.fast import FastPlanner, FastTable, texts
from isles.tools.split.ids import IdRecorder
from isles.tools.split.ids import namespace as namespace
from isles.tools.split.ids import read_watermarks as read_watermarks
from isles.tools.split.ids import row_key_id as row_key_id
from isles.tools.split.ids import uuid_of as uuid_of
from isles.tools.split.mapper import BATCH, TableMap
from isles.tools.split.mapper import Mapper as Mapper
from isles.tools.split.plan import Plan, Target
from isles.tools.split.replicas import Copies, replica_filler, replicas_of
from isles.tools.split.results import Progress, RunResult, TableResult
from isles.tools.split.results import Reject as Reject
from isles.tools.split.results import read_rejects as read_rejects
from isles.tools.split.writer import Batch
from isles.tools.split.writer import Writer as Writer

if TYPE_CHECKING:
    from isles.service.declaration import System
    from isles.storage.db import ServiceDatabase

#: batches converted ahead of the one being written (each waits in memory)
AHEAD = 2
#: rows converted between two turns given to the event loop (the writes' I/O)
TURN = 250
#: services whose connections are kept open at once; writes in flight at once
OPEN_SERVICES = 4
WRITES = 3


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
    earlier: Sequence[Reject] = (),
) -> RunResult:
    """Load every mapped table into its service's database (which must be migrated).
    With ``ids_file``, each batch's ids are added to it before the batch is written
    (:class:`IdRecorder`; ``result.recorded``).

    With ``changed`` (the watermarks of the last runs, :func:`read_watermarks`), only
    the rows past each table's watermark are read (a table without one: all of them):
    rows not in the target are inserted, rows whose converted values differ from the
    target's are updated, their ``version`` bumped, and their replicas updated with the
    new version; the others are left alone. The rows the last runs skipped (``earlier``,
    their rejects) are read again too: a row whose parent loads now loads, one whose
    parent is still skipped is an orphan again. The ids of ``loaded_ids`` no longer in the
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
            earlier,
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
    earlier: Sequence[Reject] = (),
) -> RunResult:
    with open_readonly(analysis.path) as db:
        db.row_factory = sqlite3.Row
        mapper = Mapper(plan, analysis, target, system, db)
        order = result.order = list(mapper.maps)
        past: dict[str, set[int]] = {}
        retry: dict[str, set[int]] = {}  # --changed: monolith table -> rowids the last runs skipped
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
            # the rows the last runs skipped: read again, and skipped until they load
            # (a row naming one is an orphan, as in the run that skipped it)
            for r in earlier:
                if r.decision == "skip" and r.table in mapper.maps:
                    retry.setdefault(r.table, set()).add(r.rowid)
            for name, rowids in retry.items():  # those not in the target (a refused update's row is)
                tm = mapper.maps[name]
                ids = mapper.source_ids(name, rowids)
                there = await _current(dbs[tm.target.service], tm.table, tm.pk, [mapper.uuid(name, i) for i in ids])
                held = {str(k) for k in there}
                mapper.skipped.setdefault(name, set()).update(i for i in ids if str(mapper.uuid(name, i)) not in held)
        if changed is None:
            planner = FastPlanner(mapper) if fast else None
            try:
                await _load(mapper, plan, system, dbs, result, batch, progress, planner, recorder)
            finally:
                if planner is not None:
                    result.id_texts = planner.texts
                    result.not_fast = dict(planner.why)
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
                mapper,
                tm,
                tr,
                result,
                writer,
                copies,
                changed.get(name),
                batch,
                progress,
                past,
                bumped,
                recorder,
                retry.get(name, set()),
            )
            result.tables.append(tr)
            if tr.share > plan.threshold:
                result.stopped_at = name
                break
        if delete_gone and result.stopped_at is None:
            await _delete_gone(mapper, plan, system, dbs, result, batch)
    return result


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
        """The tables whose writes this one's conversion waits for: a foreign key's,
        a reference's across services loaded before it (:attr:`Mapper.before`), itself
        where it refers to itself."""
        tm = mapper.maps[name]
        found = set(mapper.before.get(name, ()))
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
                tr.written = table.writer.added
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

        added = [w.added for _, w, _ in table.copies]
        outcomes = await asyncio.gather(*(one_copy(w, fill, n) for n, (_, w, fill) in enumerate(table.copies)))
        name = table.tm.source
        for (replica, w, _), failures, was in zip(table.copies, outcomes, added, strict=True):
            failed = sum(len(f) for f in failures)
            copied = sum(len(rows) + len(fast_rows) for rows, _, fast_rows in table.kept)
            result.replicas[replica.full] = result.replicas.get(replica.full, 0) + copied - failed
            result.replicas_written[replica.full] = result.replicas_written.get(replica.full, 0) + w.added - was
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
