"""``isles split rollback``: undo a run, deleting exactly the rows it wrote.

The rows are found by the run's id mapping (``<plan>.ids.sqlite``, every
``(source_table, source_id) -> id``) and the plan's table mapping: in each mapped
target table, the rows whose primary key is one of the run's UUIDs for its monolith
table; in each replica the run filled, the rows keyed by the owner's UUIDs. Children
go before parents (the reverse of the run's load order), the replicas last, in
batches of one transaction each: a rollback killed mid-way and run again finishes the
job (deleting a row already gone is a no-op). Rows the run did not write (the live
system's) are left alone; where one of them still refers to a row being deleted, the
database refuses that delete: the row is reported (table, id) and the others go on.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from isles.tools.split import SplitError
from isles.tools.split.analyse import Analysis, open_readonly
from isles.tools.split.ids import GONE_TABLE, IDS_TABLE
from isles.tools.split.mapper import Mapper
from isles.tools.split.plan import Plan, Target
from isles.tools.split.replicas import replicas_of
from isles.tools.split.writer import foreign_keys_to

if TYPE_CHECKING:
    from sqlalchemy import CursorResult, Table

    from isles.service.declaration import System
    from isles.storage.db import ServiceDatabase

BATCH = 1000

Progress = Callable[[str, int, int], None]  # target table, ids done, ids in all


@dataclass
class TableUndo:
    target: str  # "service.table"
    ids: int = 0  # the run's ids for it
    deleted: int = 0  # rows deleted now (the rest were already gone, or left)
    left: list[tuple[str, str]] = field(default_factory=list)  # (id, why) the database refused


@dataclass
class RollbackResult:
    tables: list[TableUndo] = field(default_factory=list)

    @property
    def left(self) -> list[tuple[str, str, str]]:
        return [(t.target, ident, why) for t in self.tables for ident, why in t.left]

    @property
    def deleted(self) -> int:
        return sum(t.deleted for t in self.tables)


def read_gone_ids(path: Path) -> dict[str, list[uuid.UUID]]:
    """The ids ``--delete-gone`` deleted, per monolith table (none before it ran)."""
    with open_readonly(path) as db:
        try:
            rows = db.execute(f"SELECT source_table, id FROM {GONE_TABLE} ORDER BY source_table, source_id").fetchall()
        except sqlite3.OperationalError:  # no such table: nothing deleted
            return {}
    gone: dict[str, list[uuid.UUID]] = {}
    for table, ident in rows:
        gone.setdefault(str(table), []).append(uuid.UUID(str(ident)))
    return gone


def read_ids(path: Path) -> dict[str, list[uuid.UUID]]:
    """The run's ids per monolith table (:class:`SplitError` if the file is not one)."""
    if not path.is_file():
        raise SplitError(f"{path}: no id mapping of a run (isles split run writes it next to the plan)")
    try:
        with open_readonly(path) as db:
            rows = db.execute(f"SELECT source_table, id FROM {IDS_TABLE} ORDER BY source_table, source_id").fetchall()
    except (sqlite3.Error, SplitError) as exc:
        raise SplitError(f"{path}: not an id mapping of isles split run: {exc}") from exc
    ids: dict[str, list[uuid.UUID]] = {}
    try:
        for table, ident in rows:
            ids.setdefault(str(table), []).append(uuid.UUID(str(ident)))
    except ValueError as exc:
        raise SplitError(f"{path}: not an id mapping of isles split run: {exc}") from exc
    return ids


async def rollback(
    plan: Plan,
    analysis: Analysis,
    target: Target,
    system: System,
    dbs: Mapping[str, ServiceDatabase],
    ids: Mapping[str, list[uuid.UUID]],
    *,
    batch: int = BATCH,
    progress: Progress | None = None,
    gone: Mapping[str, list[uuid.UUID]] | None = None,
) -> RollbackResult:
    """Delete the rows the run wrote (``ids`` as :func:`read_ids` gives them), and the
    history the runs wrote of them and of the rows ``--delete-gone`` deleted
    (``gone``, :func:`read_gone_ids`)."""
    result = RollbackResult()
    with open_readonly(analysis.path) as db:
        db.row_factory = sqlite3.Row
        mapper = Mapper(plan, analysis, target, system, db, check_keys=False)  # the id file says what to undo
        order = list(mapper.maps.values())[::-1]  # children first
    jobs: list[tuple[str, Table, str, str, list[uuid.UUID]]] = []  # service, table, pk, name, ids
    copies: list[tuple[str, Table, str, str, list[uuid.UUID]]] = []
    for tm in order:
        mine = ids.get(tm.source, [])
        jobs.append((tm.target.service, tm.table, tm.pk, tm.target.full, mine))
        for replica in replicas_of(plan, system, tm.target.full)[0]:
            if replica.service in dbs:
                copies.append((replica.service, replica.table, replica.columns[0], replica.full, mine))
    jobs += copies  # after every table: a loaded row may refer to a copy
    ours: dict[Table, set[uuid.UUID]] = {}
    for _, table, _, _, mine in jobs:
        ours.setdefault(table, set()).update(mine)
    for service, table, pk, full, mine in jobs:
        result.tables.append(await _delete(dbs[service], table, pk, full, mine, ours, batch, progress))
    for tm in order:
        gone_ids = (gone or {}).get(tm.source, [])
        if gone_ids and _history_of(tm.table) is not None:
            await _forget_history(dbs[tm.target.service], tm.table, tm.pk, gone_ids, batch)
    return result


def _history_of(table: Table) -> Table | None:
    from isles.storage.history import HISTORY_SUFFIX

    return table.metadata.tables.get(table.name + HISTORY_SUFFIX)


async def _forget_history(db: ServiceDatabase, table: Table, pk: str, ids: list[uuid.UUID], batch: int) -> None:
    """The history rows of ``ids`` (rows the runs wrote then deleted) deleted."""
    from sqlalchemy import delete

    from isles.storage.tenancy import ACROSS_TENANTS

    history = _history_of(table)
    assert history is not None
    for start in range(0, len(ids), batch):
        async with db.writing(tenant=ACROSS_TENANTS) as session:
            await session.execute(delete(history).where(history.columns[pk].in_(ids[start : start + batch])))
            await session.commit()


async def _delete(
    db: ServiceDatabase,
    table: Table,
    pk: str,
    full: str,
    ids: list[uuid.UUID],
    ours: dict[Table, set[uuid.UUID]],
    batch: int,
    progress: Progress | None,
) -> TableUndo:
    """Delete ``ids`` from ``table`` in batches (one transaction each). A row that a
    row the run did not write (not in ``ours``) refers to by a foreign key is left and
    reported, whatever the key's ON DELETE says (a CASCADE or SET NULL would reach
    the live system's rows); a batch the database refuses all the same, row by row.
    No history is written for a table that keeps one, and the versions the runs kept
    of the rows deleted (``--changed`` updates) go with them: the history is as it was
    before the first run."""
    from sqlalchemy import delete, select
    from sqlalchemy.exc import IntegrityError

    from isles.storage.history import HISTORY_RECORDED
    from isles.storage.tenancy import ACROSS_TENANTS

    undo = TableUndo(full, ids=len(ids))
    column = table.columns[pk]

    history = _history_of(table)

    async def remove(part: list[uuid.UUID]) -> int:
        async with db.writing(tenant=ACROSS_TENANTS) as session:
            done = cast(
                "CursorResult[Any]",
                await session.execute(delete(table).where(column.in_(part)), execution_options=HISTORY_RECORDED),
            ).rowcount
            if history is not None:  # the versions --changed kept of the run's rows: the run's too
                await session.execute(delete(history).where(history.columns[pk].in_(part)))
            await session.commit()
        return int(done or 0)

    async def one_by_one(pending: list[uuid.UUID]) -> list[tuple[uuid.UUID, str]]:
        """Row by row, again while that frees more (a parent before its child in the
        same table, e.g. a manager and the employees they manage): the refused."""
        while True:
            refused: list[tuple[uuid.UUID, str]] = []
            for one in pending:
                try:
                    undo.deleted += await remove([one])
                except IntegrityError as exc:
                    refused.append((one, str(exc.orig).splitlines()[0]))
            if len(refused) == len(pending):
                return refused
            pending = [one for one, _ in refused]

    children = foreign_keys_to(table, pk)

    async def held(part: list[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The ids in ``part`` a row the run did not write refers to, and which."""
        found: dict[uuid.UUID, str] = {}
        async with db.read_session(tenant=ACROSS_TENANTS) as session:
            for child, col in children:
                keys = list(child.primary_key.columns)
                mine = ours.get(child, set())
                rows = await session.execute(select(col, *keys).where(col.in_(part)))
                for parent, *key in rows.all():
                    if len(key) == 1 and key[0] in mine:
                        continue
                    shown = ", ".join(str(k) for k in key)
                    found.setdefault(parent, f"{child.name}.{col.name} of a row the run did not write ({shown})")
        return found

    refused: list[uuid.UUID] = []
    for start in range(0, len(ids), batch):
        part = ids[start : start + batch]
        if children:
            kept = await held(part)
            undo.left += [(str(one), why) for one, why in kept.items()]
            ours[table].difference_update(kept)  # kept: no longer the run's to take (nor cascade)
            part = [one for one in part if one not in kept]
        try:
            undo.deleted += await remove(part)
        except IntegrityError:
            refused += [one for one, _ in await one_by_one(part)]
        if progress is not None:
            progress(full, min(start + batch, len(ids)), len(ids))
    if refused:  # a child in a later batch may have held them
        still = await one_by_one(refused)
        undo.left += [(str(one), why) for one, why in still]
        ours[table].difference_update(one for one, _ in still)
    return undo
