"""A live database as lint input: its tables, columns, keys and indexes, read by
introspection (nothing is changed). The tables belong to the service named."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from isles.lint.model import Column, ForeignKey, Index, LintInputError, Location, Project, Table
from isles.storage.schema import KERNEL_TABLES

_DRIVERS = {
    "postgresql://": "postgresql+asyncpg://",
    "postgres://": "postgresql+asyncpg://",
    "sqlite://": "sqlite+aiosqlite://",
}


def _async_url(url: str) -> str:
    for plain, driver in _DRIVERS.items():
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def _type(value: Any) -> str:
    name = str(value).lower().split("(")[0].strip()
    return "timestamp" if name.startswith("timestamp") else name.split(" ")[0]


def read_database(url: str, service: str, project: Project, *, schema: str | None = None) -> None:
    asyncio.run(_read(url, service, project, schema))


async def _read(url: str, service: str, project: Project, schema: str | None) -> None:
    try:
        engine = create_async_engine(_async_url(url))
    except Exception as exc:
        raise LintInputError(f"--database-url: {exc}") from exc
    shown = engine.url.render_as_string(hide_password=True)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: _tables(sync, shown, service, schema))
    except LintInputError:
        raise
    except Exception as exc:
        raise LintInputError(f"{shown}: cannot introspect: {str(exc).splitlines()[0]}") from exc
    finally:
        await engine.dispose()
    for table in tables:
        project.owners[table.name] = service
    project.tables.extend(tables)
    project.files += 1


def _tables(sync: Any, shown: str, service: str, schema: str | None) -> list[Table]:
    inspector = inspect(sync)
    found: list[Table] = []
    for name in sorted(inspector.get_table_names(schema=schema)):
        if name in KERNEL_TABLES:
            continue
        where = Location(f"{shown}#{name}")
        table = Table(name=name, loc=where, service=service, schema=schema)
        declared: dict[str, str] = {}
        if sync.dialect.name == "sqlite":  # SQLite keeps the declared type; reflection only its affinity
            rows = sync.exec_driver_sql(f'PRAGMA table_info("{name}")').all()
            declared = {str(r[1]): str(r[2]) for r in rows}
        for c in inspector.get_columns(name, schema=schema):
            kind = _type(declared.get(c["name"]) or c["type"])
            table.columns.append(
                Column(c["name"], kind, Location(f"{shown}#{name}.{c['name']}"), nullable=c["nullable"])
            )
        table.primary_key = tuple(inspector.get_pk_constraint(name, schema=schema).get("constrained_columns") or ())
        for fk in inspector.get_foreign_keys(name, schema=schema):
            table.foreign_keys.append(
                ForeignKey(tuple(fk["constrained_columns"]), fk["referred_table"], fk.get("referred_schema"), where)
            )
        for ix in inspector.get_indexes(name, schema=schema):
            columns = tuple(c for c in ix["column_names"] if c)
            table.indexes.append(Index(ix["name"], columns, where, unique=bool(ix["unique"])))
        for uq in inspector.get_unique_constraints(name, schema=schema):
            columns = tuple(uq["column_names"])
            table.indexes.append(Index(uq["name"], columns, where, unique=True, constraint=True))
        found.append(table)
    return found
