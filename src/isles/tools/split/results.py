"""What ``isles split run`` (:mod:`isles.tools.split.run`) reports: the rejects it
found (:class:`Reject`; the rejects file, :func:`read_rejects`, :func:`write_rejects`,
:func:`merge_rejects` after a ``--changed`` run) and its results, per table and in all
(:class:`TableResult`, :class:`RunResult`).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from isles.tools.split import SplitError

REJECT_FIELDS = ("file", "table", "rowid", "column", "value", "reason", "decision")


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
    written: int = 0  # of them: written by this run (the rest were there: a rerun, a resume)
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
    replicas: dict[str, int] = field(default_factory=dict)  # "service.copy_table" -> rows written (or there)
    #: monolith table -> why none of its rows took the fast path (PostgreSQL; the mapper's way)
    not_fast: dict[str, str] = field(default_factory=dict)
    #: "service.copy_table" -> of them, the rows this run wrote
    replicas_written: dict[str, int] = field(default_factory=dict)
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


Progress = Callable[[str, int, int], None]  # table, rows done, rows in all
