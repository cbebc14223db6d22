"""Change history (issue 19): a declared table keeps every previous version of its rows.

``add_history(metadata, "employees")`` adds ``employees_history`` to the service's
metadata: the table's columns (without its primary key and unique constraints; a
surrogate ``history_id`` of its own) plus ``valid_from``, ``valid_to``, ``changed_by``,
``change_reason`` and ``operation``. The declared table must carry its own
``valid_from`` column (when its current version began): inherit :class:`Historied`.

Every ORM flush that updates or deletes a row of a declared table first writes the
row's previous version to the history table, in the same transaction (a rollback
leaves none), on SQLite and PostgreSQL alike: one code path in Python, because who
made the change and why are only known in Python (:func:`changes_by`). ``UPDATE`` and
``DELETE`` statements (``session.execute(update(...))``, ORM bulk updates) would
bypass it, so they are refused on a declared table with :class:`HistoryBypassed`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, and_, event, insert, inspect, select
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, attributes, mapped_column
from sqlalchemy.sql.dml import Delete, Update

from isles.core import tracing
from isles.core.clock import utcnow
from isles.storage.schema import UTCDateTime

HISTORY_SUFFIX = "_history"
#: ``Table.info`` key marking a history table (the lint skips them).
HISTORY_INFO_KEY = "isles_history_of"
_PERIOD = ("history_id", "valid_from", "valid_to", "changed_by", "change_reason", "operation")

_changed_by: ContextVar[str] = ContextVar("isles_changed_by", default="")
_change_reason: ContextVar[str] = ContextVar("isles_change_reason", default="")

#: declared table -> its history table
_declared: dict[Table, Table] = {}


class HistoryBypassed(RuntimeError):
    """An UPDATE or DELETE statement on a table with a history (it would leave none)."""


class Historied:
    """Mixin for a declared class: ``valid_from``, when the row's current version began."""

    valid_from: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


@contextlib.contextmanager
def changes_by(changed_by: str, reason: str = "") -> Iterator[None]:
    """Record ``changed_by`` (a user id, ``service:<name>``, an operator) and ``reason``
    (a request id, an event id; the current traceparent when empty) on every history
    row written inside the block."""
    by, why = _changed_by.set(changed_by), _change_reason.set(reason)
    try:
        yield
    finally:
        _changed_by.reset(by)
        _change_reason.reset(why)


def set_changes_by(changed_by: str, reason: str = "") -> None:
    """Like :func:`changes_by`, for the rest of the current context (a request, an event)."""
    _changed_by.set(changed_by)
    _change_reason.set(reason)


def principal_name(kind: str, subject: str) -> str:
    """``user:<id>``, ``service:<name>``, ``operator:<name>``: who, as a history row says it."""
    return subject if subject.startswith(f"{kind}:") else f"{kind}:{subject}"


def set_changes_by_event(source: str, event_id: object) -> None:
    """For an event being handled: ``service:<the publisher>``, ``event:<its id>``."""
    set_changes_by(f"service:{source.rsplit('/', 1)[-1]}" if source else "service:", f"event:{event_id}")


def add_history(metadata: MetaData, table_name: str) -> Table:
    """Declare a history for ``table_name`` (already in ``metadata``); return the
    history table ``<table_name>_history`` added to ``metadata``."""
    table = metadata.tables[table_name]
    if "valid_from" not in table.c:
        raise ValueError(f"{table_name} needs a valid_from column to keep a history (inherit isles.Historied)")
    clash = {c.name for c in table.c} & (set(_PERIOD) - {"valid_from"})
    if clash:
        raise ValueError(f"{table_name} has columns the history needs: {sorted(clash)}")
    columns: list[Column[Any]] = [Column("history_id", Integer, primary_key=True, autoincrement=True)]
    for c in table.c:
        if c.name == "valid_from":
            continue
        columns.append(Column(c.name, c.type, nullable=True))
    columns += [
        Column("valid_from", UTCDateTime, nullable=True),
        Column("valid_to", UTCDateTime, nullable=False),
        Column("changed_by", String(200), nullable=False, default=""),
        Column("change_reason", String(200), nullable=False, default=""),
        Column("operation", String(10), nullable=False),
    ]
    name = table_name + HISTORY_SUFFIX
    # One record's versions, in order: what history_of and as_of read.
    key = Index(f"ix_{name}_key", *(c.name for c in table.primary_key.columns), "valid_to")
    history = Table(name, metadata, *columns, key, info={HISTORY_INFO_KEY: table_name})
    _declared[table] = history
    _listen()
    return history


def history(table: Any) -> Table:
    """The history table of ``table`` (a Table or a mapped class)."""
    return _declared[_table_of(table)]


def _table_of(table: Any) -> Table:
    return table if isinstance(table, Table) else inspect(table).local_table


_listening = False


def _listen() -> None:
    global _listening
    if not _listening:
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "do_orm_execute", _refuse_statements)
        _listening = True


#: Execution options of an UPDATE or DELETE statement whose caller wrote the previous
#: version itself (:func:`record_change`): the history lets it through.
HISTORY_RECORDED = {"isles_history_recorded": True}


def _refuse_statements(state: ORMExecuteState) -> None:
    statement = state.statement
    if (
        isinstance(statement, Update | Delete)
        and statement.table in _declared
        and not state.execution_options.get("isles_history_recorded")
    ):
        raise HistoryBypassed(
            f"{statement.table} keeps a history: change its rows through the session (ORM objects), "
            "not with an UPDATE or DELETE statement"
        )


def _before_flush(session: Session, _context: object, _instances: object) -> None:
    if not _declared:
        return
    rows: dict[Table, list[dict[str, Any]]] = {}
    now = utcnow()
    by, why = _changed_by.get(), _change_reason.get() or tracing.current()
    for obj, operation in [*((o, "update") for o in session.dirty), *((o, "delete") for o in session.deleted)]:
        mapper = inspect(obj).mapper
        table = mapper.local_table
        if table not in _declared:
            continue
        if operation == "update" and not session.is_modified(obj, include_collections=False):
            continue
        previous: dict[str, Any] = {}
        unknown = False
        for prop in mapper.column_attrs:
            hist = attributes.get_history(obj, prop.key)
            if hist.deleted:
                value = hist.deleted[0]
            elif hist.unchanged:
                value = hist.unchanged[0]
            elif operation == "delete" or not hist.added:
                value = getattr(obj, prop.key)
            else:
                value, unknown = None, True  # never loaded, now set: the old value is in the row
            previous[prop.columns[0].name] = value
        if unknown:  # read the row as it stands (this transaction, before the UPDATE)
            ident = inspect(obj).identity or ()
            where = and_(*(c == k for c, k in zip(table.primary_key.columns, ident, strict=True)))
            row = session.connection().execute(select(table).where(where)).mappings().one()
            previous = dict(row)
        rows.setdefault(_declared[table], []).append(
            {**previous, "valid_to": now, "changed_by": by, "change_reason": why, "operation": operation}
        )
        if operation == "update":
            obj.valid_from = now
    for history_table, values in rows.items():
        session.connection().execute(insert(history_table), values)


async def record_change(session: Any, table: Any, previous: Mapping[str, Any], operation: str = "update") -> datetime:
    """Write ``previous`` (the row as it stands, read under a lock in this
    transaction) as an ended version of a declared table, for a caller that changes
    the row with one statement instead of the ORM (a hot path). Returns the time the
    new version begins: set it as the row's ``valid_from`` in that statement, and run
    the statement with ``execution_options(**HISTORY_RECORDED)``. ``session`` is an
    AsyncSession."""
    if operation not in ("update", "delete"):
        raise ValueError("operation is 'update' or 'delete'")
    hist = _declared[_table_of(table)]
    now = utcnow()
    by, why = _changed_by.get(), _change_reason.get() or tracing.current()
    values = {c.name: previous[c.name] for c in _table_of(table).c}
    row = {**values, "valid_to": now, "changed_by": by, "change_reason": why, "operation": operation}
    await session.execute(insert(hist), [row])
    return now


@dataclass(frozen=True)
class HistoryVersion:
    """One version of a record: its values and when it was valid. ``changed_by`` and
    ``change_reason`` are of the change that ended it (empty for the current version)."""

    values: Mapping[str, Any]
    valid_from: datetime | None
    valid_to: datetime | None
    changed_by: str
    change_reason: str
    operation: str  # "update" / "delete" that ended it, "" for the current version


def _key_clause(table: Table, target: Table, key: Any) -> Any:
    pk = list(table.primary_key.columns)
    keys = key if isinstance(key, tuple) else (key,)
    if len(keys) != len(pk):
        raise ValueError(f"{table.name}'s key has {len(pk)} column(s)")
    return and_(*(target.c[c.name] == k for c, k in zip(pk, keys, strict=True)))


async def history_of(session: Any, table: Any, key: Any) -> list[HistoryVersion]:
    """The versions of one record, oldest first; the current one (if the row still
    exists) last with ``valid_to`` None. ``session`` is an AsyncSession."""
    main = _table_of(table)
    hist = _declared[main]
    names = [c.name for c in main.c if c.name != "valid_from"]
    result = await session.execute(
        select(hist).where(_key_clause(main, hist, key)).order_by(hist.c.valid_to, hist.c.history_id)
    )
    versions = [
        HistoryVersion(
            {n: row[n] for n in names},
            row["valid_from"],
            row["valid_to"],
            row["changed_by"],
            row["change_reason"],
            row["operation"],
        )
        for row in result.mappings()
    ]
    current = (await session.execute(select(main).where(_key_clause(main, main, key)))).mappings().first()
    if current is not None:
        versions.append(HistoryVersion({n: current[n] for n in names}, current["valid_from"], None, "", "", ""))
    return versions


async def as_of(session: Any, table: Any, key: Any, when: datetime) -> Mapping[str, Any] | None:
    """The record's values at ``when``: the current row if its version had begun by
    then, else the history version whose period [valid_from, valid_to) holds ``when``,
    else None (not yet created, or deleted by then)."""
    for version in reversed(await history_of(session, table, key)):
        begun = version.valid_from is None or version.valid_from <= when
        if begun and (version.valid_to is None or when < version.valid_to):
            return version.values
    return None
