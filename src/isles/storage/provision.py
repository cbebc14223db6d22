"""``isles db provision``: each service its own PostgreSQL database and its own
least-privilege role that can reach only that database (seed 001, "Security").

* The role is named after the database; it can log in and nothing else
  (no superuser, no CREATEDB, no CREATEROLE).
* It owns its database and the ``public`` schema in it, so migrations run as the
  role; tables already there (created by an admin) are handed over to it.
* ``CONNECT`` is revoked from ``PUBLIC`` on the database: other services' roles
  cannot even connect.
* The password is random, stored by PostgreSQL as a SCRAM hash, and written only to
  ``<secrets-dir>/<service>.env`` (mode 0600) as the service's database URL.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

from isles.storage.db import DatabaseConfigError

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        raise DatabaseConfigError(f"refusing {name!r} as a role or database name (use lowercase, digits, _)")
    return f'"{name}"'


@dataclass(frozen=True)
class Provisioned:
    service: str
    role: str
    database: str
    url: URL
    secrets_file: Path
    created_role: bool
    created_database: bool
    new_password: bool


def _dsn(url: URL, database: str) -> str:
    return url.set(drivername="postgresql", database=database).render_as_string(hide_password=False)


def _write_secret(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(content)


def secrets_path(secrets_dir: Path, service: str) -> Path:
    return secrets_dir / f"{service}.env"


def read_secret(secrets_dir: Path, service: str) -> str | None:
    """The service's database URL from its secrets file, if there is one."""
    path = secrets_path(secrets_dir, service)
    if not path.is_file():
        return None
    key = f"ISLES_{service.upper()}_DATABASE_URL="
    for line in path.read_text().splitlines():
        if line.startswith(key):
            return line[len(key) :]
    return None


async def provision(admin: URL, service: str, target: URL, *, secrets_dir: Path, rotate: bool = False) -> Provisioned:
    """Create or bring up to date ``service``'s role and database; ``target`` names the database."""
    import asyncpg

    database = target.database
    if not database:
        raise DatabaseConfigError(f"{service}: no database name in {target.render_as_string()}")
    role = database
    q_role, q_db = _ident(role), _ident(database)
    existing = read_secret(secrets_dir, service)
    conn = await asyncpg.connect(_dsn(admin, admin.database or "postgres"))
    try:
        created_role = not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
        new_password = created_role or rotate or existing is None
        password = secrets.token_urlsafe(24) if new_password else None
        if created_role:
            await conn.execute(
                f"CREATE ROLE {q_role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD '{password}'"
            )
        else:
            await conn.execute(f"ALTER ROLE {q_role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT")
            if password is not None:
                await conn.execute(f"ALTER ROLE {q_role} PASSWORD '{password}'")
        created_database = not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if created_database:
            await conn.execute(f"CREATE DATABASE {q_db} OWNER {q_role}")
        else:
            await conn.execute(f"ALTER DATABASE {q_db} OWNER TO {q_role}")
        await conn.execute(f"REVOKE ALL ON DATABASE {q_db} FROM PUBLIC")
        await conn.execute(f"GRANT CONNECT, TEMPORARY ON DATABASE {q_db} TO {q_role}")
    finally:
        await conn.close()
    conn = await asyncpg.connect(_dsn(admin, database))
    try:
        await conn.execute(f"ALTER SCHEMA public OWNER TO {q_role}")
        await conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        owned_by_others = await conn.fetch(
            """SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'S', 'v', 'm')
                 AND pg_get_userbyid(c.relowner) <> $1""",
            role,
        )
        kinds = {"r": "TABLE", "p": "TABLE", "S": "SEQUENCE", "v": "VIEW", "m": "MATERIALIZED VIEW"}
        for rel in owned_by_others:
            if rel["relkind"] == "S":  # sequences owned by a table column move with the table
                continue
            await conn.execute(f'ALTER {kinds[rel["relkind"]]} public."{rel["relname"]}" OWNER TO {q_role}')
    finally:
        await conn.close()
    path = secrets_path(secrets_dir, service)
    if password is not None:
        url = target.set(username=role, password=password)
        _write_secret(path, f"ISLES_{service.upper()}_DATABASE_URL={url.render_as_string(hide_password=False)}\n")
    else:
        assert existing is not None
        from sqlalchemy.engine import make_url

        url = make_url(existing)
    return Provisioned(service, role, database, url, path, created_role, created_database, new_password)


async def drop_role(admin: URL, role: str) -> None:
    """Remove a role (tests and teardown); its databases must be dropped first."""
    import asyncpg

    conn = await asyncpg.connect(_dsn(admin, admin.database or "postgres"))
    try:
        await conn.execute(f"DROP ROLE IF EXISTS {_ident(role)}")
    finally:
        await conn.close()
