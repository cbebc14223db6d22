"""Errors of a service's database that its use cases act on, typed: a use case catches
:class:`UniqueViolation` and names the field at fault, instead of reading the
driver's message. Every service database's engine turns the driver's unique
violations into it (:func:`typed_error`), however the statement was run (a unit of
work's commit or flush, or a session's own flush)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import MetaData, Table, UniqueConstraint
from sqlalchemy.exc import IntegrityError

_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)$")
_PG_KEY = re.compile(r"Key \((.+?)\)=")


class UniqueViolation(IntegrityError):
    """A write refused because another row already holds the value of a unique
    constraint (or unique index): a concurrent writer won the race to it.

    ``constraint`` is its name (as PostgreSQL reports it; on SQLite, the name the
    service's metadata gives the constraint on those columns), ``table`` and
    ``columns`` what it covers. An :class:`~sqlalchemy.exc.IntegrityError`, so code
    that catches those still does.
    """

    def __init__(self, source: IntegrityError, constraint: str, table: str, columns: Sequence[str]) -> None:
        super().__init__(
            source.statement,
            source.params,
            source.orig,  # type: ignore[arg-type]
            hide_parameters=source.hide_parameters,
            connection_invalidated=source.connection_invalidated,
            code=source.code,
            ismulti=source.ismulti,
        )
        self.constraint = constraint
        self.table = table
        self.columns = tuple(columns)


def typed_error(exc: BaseException, metadata: MetaData | None = None) -> IntegrityError | None:
    """The typed error to raise instead of ``exc`` (engine ``handle_error``), if any."""
    if isinstance(exc, IntegrityError) and not isinstance(exc, UniqueViolation):
        return unique_violation(exc, metadata)
    return None


def unique_violation(exc: IntegrityError, metadata: MetaData | None = None) -> UniqueViolation | None:
    """The unique violation ``exc`` reports, or None if it is another integrity error."""
    orig = exc.orig
    if getattr(orig, "sqlite_errorname", None) in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"):
        found = _SQLITE_UNIQUE.search(str(orig))
        if found is None:
            return None
        qualified = [c.strip() for c in found.group(1).split(",")]
        table = qualified[0].rsplit(".", 1)[0]
        columns = [c.rsplit(".", 1)[-1] for c in qualified]
        return UniqueViolation(exc, _constraint_named(metadata, table, columns), table, columns)
    driver = orig.__cause__ if orig is not None and orig.__cause__ is not None else orig
    if getattr(driver, "sqlstate", None) == "23505":  # asyncpg's UniqueViolationError
        constraint = str(getattr(driver, "constraint_name", "") or "")
        table = str(getattr(driver, "table_name", "") or "")
        columns = _columns_of(metadata, table, constraint)
        if not columns:  # PostgreSQL leaves the key out where row-level security is on
            key = _PG_KEY.search(str(getattr(driver, "detail", "") or ""))
            columns = [c.strip() for c in key.group(1).split(",")] if key else []
        return UniqueViolation(exc, constraint, table, columns)
    return None


def _table(metadata: MetaData | None, name: str) -> Table | None:
    return metadata.tables.get(name) if metadata is not None else None


def _uniques(table: Table) -> list[tuple[str, list[str]]]:
    found = [
        (str(c.name), [col.name for col in c.columns]) for c in table.constraints if isinstance(c, UniqueConstraint)
    ]
    found += [(str(i.name), [col.name for col in i.columns]) for i in table.indexes if i.unique]
    pk = table.primary_key
    if pk is not None and pk.name:
        found.append((str(pk.name), [col.name for col in pk.columns]))
    return found


def _constraint_named(metadata: MetaData | None, table: str, columns: Sequence[str]) -> str:
    known = _table(metadata, table)
    if known is not None:
        for name, covered in _uniques(known):
            if covered == list(columns):
                return name
    return f"uq_{table}_{'_'.join(columns)}"  # the platform's naming convention


def _columns_of(metadata: MetaData | None, table: str, constraint: str) -> list[str]:
    known = _table(metadata, table)
    if known is not None:
        for name, covered in _uniques(known):
            if name == constraint:
                return covered
    return []
