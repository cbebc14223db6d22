"""The writes of ``isles split run`` (:mod:`isles.tools.split.run`) into one table of a
service's database (:class:`Writer`): the batches of converted rows, ``--changed``'s
updates and ``--delete-gone``'s deletes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Table

    from isles.storage.db import ServiceDatabase

Batch = list[tuple[int, int, dict[str, Any]]]  # (rowid, monolith id, the target row)


#: keys in one ``IN (...)`` of --delete-gone's deletes and lookups
DELETES_AT_ONCE = 1000


def _refused(exc: Exception) -> bool:
    """Whether the database refused a row for its values (SQLSTATE class 23, a
    constraint; 22, a value the column cannot hold), not for something else."""
    from sqlalchemy.exc import IntegrityError

    if isinstance(exc, IntegrityError):
        return True
    orig = getattr(exc, "orig", exc)
    code = str(getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "")
    return code.startswith(("22", "23"))


def foreign_keys_to(table: Table, pk: str) -> list[tuple[Table, Any]]:
    """The (table, column) pairs of the service that name ``table``'s rows by a foreign
    key to ``pk`` (the table itself included: a manager)."""
    return [
        (fk.parent.table, fk.parent)
        for other in table.metadata.tables.values()
        for fk in other.foreign_keys
        if fk.column.table is table and fk.column.name == pk
    ]


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
        #: rows this writer has added (committed), not counting those already there
        self.added = 0
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
        self.added += len(keys) - there

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
                        self.added += len(keys)
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
            self.added += len(keys) - there
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
        self.added += len(keys) - there

    async def _insert_many(self, rows: Batch) -> None:
        """Through SQLAlchemy (a table with a default the database computes)."""
        from sqlalchemy import func, select

        from isles.storage.tenancy import ACROSS_TENANTS

        by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for _, _, values in rows:
            by_keys.setdefault(tuple(values), []).append(values)
        keys = [values[self.pk] for _, _, values in rows]
        pk = self.table.columns[self.pk]
        async with self.db.writing(tenant=ACROSS_TENANTS) as session:
            there = 0
            for start in range(0, len(keys), 500):
                found = await session.execute(
                    select(func.count()).select_from(self.table).where(pk.in_(keys[start : start + 500]))
                )
                there += int(found.scalar() or 0)
            for group in by_keys.values():
                await session.execute(self._one, group)
            await session.commit()
        self.added += len(keys) - there

    async def _insert_one(self, values: dict[str, Any]) -> None:
        from isles.storage.tenancy import ACROSS_TENANTS

        async with self.db.writing(tenant=ACROSS_TENANTS) as session:
            done: Any = await session.execute(self._one, values)
            await session.commit()
        self.added += max(done.rowcount, 0)


#: a group's record shape: its columns, the defaults' values, the defaults called per
#: row (place, default), the bind processing per row (place, processor)
_Shape = tuple[tuple[str, ...], tuple[Any, ...], list[tuple[int, Any]], list[tuple[int, Any]]]


class _Context:
    """What a column default's function gets from SQLAlchemy (the row being inserted)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.current_parameters = values

    def get_current_parameters(self, isolate_multiinsert_groups: bool = True) -> Mapping[str, Any]:
        return self.current_parameters
