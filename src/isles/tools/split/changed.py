"""``isles split run --changed`` (:func:`_changed_table`: the rows past each table's
watermark inserted where new, updated where they differ) and ``--delete-gone``
(:func:`_delete_gone`: the target rows of the ids gone from the monolith deleted); the
run itself is :mod:`isles.tools.split.run`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from isles.tools.split.convert import norm
from isles.tools.split.ids import IdRecorder
from isles.tools.split.mapper import Mapper, TableMap, _folded, _named, is_copy
from isles.tools.split.plan import Plan
from isles.tools.split.replicas import Copies, replicas_of
from isles.tools.split.results import Progress, Reject, RunResult, TableResult
from isles.tools.split.writer import Batch, Writer

if TYPE_CHECKING:
    from sqlalchemy import Table

    from isles.service.declaration import System
    from isles.storage.db import ServiceDatabase


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
    retry: set[int] | None = None,
) -> None:
    """``--changed`` for one table: the rows past ``after`` (and those keeping a copy
    of an owner row past its own, and those of rowids ``retry``: skipped by the last
    runs; one that loads now is no longer in :attr:`Mapper.skipped`), inserted where new, updated (version bumped,
    replicas too) where their values changed. A copy's ``*_version`` takes its owner's
    new version (``bumped``), else stays as the target has it."""
    name = tm.source
    seen: dict[str, set[tuple[Any, ...]]] = {}
    version = "version" in tm.table.columns
    copies_of = mapper.copies_of(tm)
    versions = [(to, src, owner) for to, src, owner in copies_of if to.endswith("_version") and is_copy(tm, to)]
    done = 0
    keys: _Keys | None = None  # the target's unique keys, read at the first changed row
    naming = [(src, past.get(owner, set())) for _, src, owner in copies_of]
    if retry:
        naming.append(("isles_rowid", retry))
    for chunk in mapper.rows(name, batch, after, naming):
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
                source_id = tm.source_id(row)
                rows.append((int(row[0]), source_id, values))
                # no longer a reason to skip a row naming it, the next of this chunk too
                # (a report naming its manager); skipped again below where it is not written
                mapper.skipped.get(name, set()).discard(source_id)
        if tm.unique and rows:  # against the target's rows too, as the first run's against the monolith's
            if keys is None:
                keys = await _Keys.read(writer.db, tm)
            clear = []
            for rowid, source_id, values in rows:
                clash = keys.clash(values)
                if clash is None:
                    keys.take(values)
                    clear.append((rowid, source_id, values))
                    continue
                key, cols, _ = clash
                tr.rejected_rows += 1
                tr.skipped += 1
                if values[tm.pk] not in keys.of:  # a new row, not written: a row naming it is an orphan
                    mapper.skipped.setdefault(name, set()).add(source_id)
                shown = ", ".join(f"{c}={values.get(c)}" for c in cols)
                # the first run's words for it (a row it skipped is read again each time)
                why = f"duplicate of unique key {key}" + (
                    " (ignoring case)" if any(isinstance(values.get(c), str) for c in cols) else ""
                )
                result.rejects.append(Reject(mapper.file, name, rowid, ",".join(cols), shown, why, "skip"))
            rows = clear
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
        added = {rowid for rowid, _, _ in new}
        for rowid, source_id, why in refused:
            tr.skipped += 1
            tr.rejected_rows += 1
            if rowid in added:  # not written; a refused update's row is still there as it was
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


class _Keys:
    """The unique keys of a table's rows in the target (strings ignoring case, as the
    run compares them), for ``--changed``: a changed row whose key another row of the
    target holds is a reject, as a duplicate in the monolith is for the first run."""

    def __init__(self, tm: TableMap) -> None:
        self.tm = tm
        self.owners: dict[tuple[str, tuple[Any, ...]], Any] = {}  # (key's name, its folded value) -> pk
        self.of: dict[Any, list[tuple[str, tuple[Any, ...]]]] = {}  # pk -> its keys

    @classmethod
    async def read(cls, db: ServiceDatabase, tm: TableMap) -> _Keys:
        from sqlalchemy import select

        from isles.storage.tenancy import ACROSS_TENANTS

        keys = cls(tm)
        columns = sorted({c for _, cols in tm.unique for c in cols} | {tm.pk})
        async with db.read_session(tenant=ACROSS_TENANTS) as session:
            result = await session.stream(select(*(tm.table.columns[c] for c in columns)))
            async for row in result:
                # asyncpg's UUIDs are a subclass: as the converted rows' (uuid.UUID)
                values = [uuid.UUID(bytes=v.bytes) if isinstance(v, uuid.UUID) else v for v in row]
                keys.take(dict(zip(columns, values, strict=True)))
        return keys

    def _keys(self, values: Mapping[str, Any]) -> list[tuple[str, tuple[Any, ...]]]:
        found = []
        for name, cols in self.tm.unique:
            key = tuple([_folded(values.get(c)) for c in cols])
            if None not in key:
                found.append((name, key))
        return found

    def clash(self, values: Mapping[str, Any]) -> tuple[str, tuple[str, ...], Any] | None:
        """The key's name, its columns and the other row holding it, or None."""
        pk = values[self.tm.pk]
        cols = dict(self.tm.unique)
        for name, key in self._keys(values):
            owner = self.owners.get((name, key))
            if owner is not None and owner != pk:
                return name, cols[name], owner
        return None

    def take(self, values: Mapping[str, Any]) -> None:
        pk = values[self.tm.pk]
        for old in self.of.pop(pk, []):
            if self.owners.get(old) == pk:
                del self.owners[old]
        mine = self._keys(values)
        self.of[pk] = mine
        for k in mine:
            self.owners[k] = pk
