"""``isles db provision``: each service its own PostgreSQL database and three roles
that reach only that database (seed 001, "Security": least privilege).

* ``<db>_owner`` — the **migrator**. Owns the database, the ``public`` schema and every
  table in it; used only by ``isles migrate`` (and by a process given
  ``ISLES_<SERVICE>_MIGRATOR_URL``). Tables already there are handed over to it,
  including those an earlier ``provision`` gave the runtime role.
* ``<db>`` — the **runtime** role ``isles serve`` runs as, with exactly the seed's
  grants: ``CONNECT`` on the database, ``USAGE`` on the schema, ``SELECT, INSERT,
  UPDATE, DELETE`` on its tables (and ``USAGE, SELECT`` on sequences, for identity
  columns). It owns nothing, so it cannot alter, drop, grant, or turn off row-level
  security, and row-level security applies to it.
* ``<db>_reader`` — **read-only** (``SELECT``), for audit and backup tooling.

Default privileges make tables the migrator creates later reach the other two with
the same grants. ``CONNECT`` is revoked from ``PUBLIC``: other services' roles cannot
even connect. Every role is ``NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS``.
Passwords are random, stored by PostgreSQL as SCRAM hashes, and written only to the
role's secrets file (mode 0600, in a 0700 folder):

=========  ==================================  ================================
role       file                                variable
=========  ==================================  ================================
runtime    ``<secrets-dir>/<service>.env``          ``ISLES_<SERVICE>_DATABASE_URL``
migrator   ``<secrets-dir>/<service>.migrator.env`` ``ISLES_<SERVICE>_MIGRATOR_URL``
reader     ``<secrets-dir>/<service>.reader.env``   ``ISLES_<SERVICE>_READER_URL``
=========  ==================================  ================================
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.engine import URL, make_url

from isles.storage.db import DatabaseConfigError, connect_waiting, ssl_args

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

Kind = Literal["runtime", "migrator", "reader"]
KINDS: tuple[Kind, ...] = ("runtime", "migrator", "reader")
_SUFFIX: dict[Kind, str] = {"runtime": "", "migrator": "_owner", "reader": "_reader"}
_FILE: dict[Kind, str] = {"runtime": "", "migrator": ".migrator", "reader": ".reader"}
_VARIABLE: dict[Kind, str] = {"runtime": "DATABASE_URL", "migrator": "MIGRATOR_URL", "reader": "READER_URL"}

#: What the runtime role may do to every table (seed 001), and to every sequence.
RUNTIME_TABLE_GRANTS = "SELECT, INSERT, UPDATE, DELETE"
RUNTIME_SEQUENCE_GRANTS = "USAGE, SELECT"


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        raise DatabaseConfigError(f"refusing {name!r} as a role or database name (use lowercase, digits, _)")
    return f'"{name}"'


@dataclass(frozen=True)
class Role:
    kind: Kind
    name: str
    url: URL
    secrets_file: Path
    created: bool
    new_password: bool


@dataclass(frozen=True)
class Provisioned:
    service: str
    database: str
    created_database: bool
    roles: dict[Kind, Role]

    @property
    def runtime(self) -> Role:
        return self.roles["runtime"]


def role_name(database: str, kind: Kind) -> str:
    return f"{database}{_SUFFIX[kind]}"


def _dsn(url: URL, database: str) -> str:
    return url.set(drivername="postgresql", database=database).render_as_string(hide_password=False)


def _write_secret(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(content)


def secrets_path(secrets_dir: Path, service: str, kind: Kind = "runtime") -> Path:
    return secrets_dir / f"{service}{_FILE[kind]}.env"


def variable(service: str, kind: Kind = "runtime") -> str:
    return f"ISLES_{service.upper()}_{_VARIABLE[kind]}"


def read_secret(secrets_dir: Path, service: str, kind: Kind = "runtime") -> str | None:
    """The URL of ``service``'s ``kind`` role from its secrets file, if there is one."""
    path = secrets_path(secrets_dir, service, kind)
    if not path.is_file():
        return None
    key = f"{variable(service, kind)}="
    for line in path.read_text().splitlines():
        if line.startswith(key):
            return line[len(key) :]
    return None


async def _role(conn: Any, name: str, *, rotate: bool, has_secret: bool) -> tuple[bool, str | None]:
    """Create or bring up to date a login role; (created, its new password or None)."""
    q = _ident(name)
    attributes = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT"
    created = not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", name)
    password = secrets.token_urlsafe(24) if created or rotate or not has_secret else None
    if created:
        await conn.execute(f"CREATE ROLE {q} {attributes} PASSWORD '{password}'")
    else:
        await conn.execute(f"ALTER ROLE {q} {attributes}")
        if password is not None:
            await conn.execute(f"ALTER ROLE {q} PASSWORD '{password}'")
    return created, password


async def provision(
    admin: URL, service: str, target: URL, *, secrets_dir: Path, rotate: bool = False, ssl: Any = None
) -> Provisioned:
    """Create or bring up to date ``service``'s database and its three roles; ``target``
    names the database. Idempotent; ``rotate`` gives every role a new password."""
    database = target.database
    if not database:
        raise DatabaseConfigError(f"{service}: no database name in {target.render_as_string()}")
    names = {kind: role_name(database, kind) for kind in KINDS}
    q = {kind: _ident(name) for kind, name in names.items()}
    q_db = _ident(database)
    existing = {kind: read_secret(secrets_dir, service, kind) for kind in KINDS}
    passwords: dict[Kind, str | None] = {}
    created: dict[Kind, bool] = {}
    tls = ssl_args(ssl)
    conn = await connect_waiting(_dsn(admin, admin.database or "postgres"), **tls)
    try:
        for kind in KINDS:
            created[kind], passwords[kind] = await _role(
                conn, names[kind], rotate=rotate, has_secret=existing[kind] is not None
            )
        created_database = not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if created_database:
            await conn.execute(f"CREATE DATABASE {q_db} OWNER {q['migrator']}")
        else:
            await conn.execute(f"ALTER DATABASE {q_db} OWNER TO {q['migrator']}")
        await conn.execute(f"REVOKE ALL ON DATABASE {q_db} FROM PUBLIC, {q['runtime']}, {q['reader']}")
        await conn.execute(f"GRANT CONNECT, TEMPORARY ON DATABASE {q_db} TO {q['migrator']}")
        await conn.execute(f"GRANT CONNECT ON DATABASE {q_db} TO {q['runtime']}, {q['reader']}")
    finally:
        await conn.close()
    conn = await connect_waiting(_dsn(admin, database), **tls)
    try:
        async with conn.transaction():
            await _grant(conn, q)
    finally:
        await conn.close()
    roles: dict[Kind, Role] = {}
    for kind in KINDS:
        path = secrets_path(secrets_dir, service, kind)
        password = passwords[kind]
        if password is not None:
            url = target.set(username=names[kind], password=password)
            _write_secret(path, f"{variable(service, kind)}={url.render_as_string(hide_password=False)}\n")
        else:
            known = existing[kind]
            assert known is not None
            url = make_url(known)
        roles[kind] = Role(kind, names[kind], url, path, created[kind], password is not None)
    return Provisioned(service, database, created_database, roles)


async def _grant(conn: Any, q: dict[Kind, str]) -> None:
    """In the service's database: the migrator owns everything; the runtime role and
    the reader get their grants on what is there and, by default, on what comes."""
    owner, runtime, reader = q["migrator"], q["runtime"], q["reader"]
    # An earlier provision made the runtime role the owner: hand everything over.
    await conn.execute(f"REASSIGN OWNED BY {runtime} TO {owner}")
    await conn.execute(f"ALTER SCHEMA public OWNER TO {owner}")
    kinds = {"r": "TABLE", "p": "TABLE", "S": "SEQUENCE", "v": "VIEW", "m": "MATERIALIZED VIEW"}
    for rel in await conn.fetch(
        """SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'S', 'v', 'm')
             AND pg_get_userbyid(c.relowner) <> $1""",
        owner.strip('"'),
    ):
        if rel["relkind"] == "S":  # sequences owned by a table column move with the table
            continue
        await conn.execute(f'ALTER {kinds[rel["relkind"]]} public."{rel["relname"]}" OWNER TO {owner}')
    await conn.execute(f"REVOKE ALL ON SCHEMA public FROM PUBLIC, {runtime}, {reader}")
    await conn.execute(f"GRANT USAGE ON SCHEMA public TO {runtime}, {reader}")
    await conn.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {runtime}, {reader}")
    await conn.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {runtime}, {reader}")
    await conn.execute(f"GRANT {RUNTIME_TABLE_GRANTS} ON ALL TABLES IN SCHEMA public TO {runtime}")
    await conn.execute(f"GRANT {RUNTIME_SEQUENCE_GRANTS} ON ALL SEQUENCES IN SCHEMA public TO {runtime}")
    await conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader}")
    defaults = f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public"
    await conn.execute(f"{defaults} GRANT {RUNTIME_TABLE_GRANTS} ON TABLES TO {runtime}")
    await conn.execute(f"{defaults} GRANT {RUNTIME_SEQUENCE_GRANTS} ON SEQUENCES TO {runtime}")
    await conn.execute(f"{defaults} GRANT SELECT ON TABLES TO {reader}")


async def drop_role(admin: URL, role: str, *, ssl: Any = None) -> None:
    """Remove a role (tests and teardown); its databases must be dropped first. ``ssl``:
    the TLS context to verify the server with, as :func:`provision`'s."""
    conn = await connect_waiting(_dsn(admin, admin.database or "postgres"), **ssl_args(ssl))
    try:
        await conn.execute(f"DROP ROLE IF EXISTS {_ident(role)}")
    finally:
        await conn.close()


async def drop_roles(admin: URL, database: str, *, ssl: Any = None) -> None:
    """Remove the three roles of ``database`` (tests and teardown), after the database.
    Default privileges another database holds for them go too. ``ssl``: as
    :func:`provision`'s."""
    conn = await connect_waiting(_dsn(admin, admin.database or "postgres"), **ssl_args(ssl))
    try:
        for kind in KINDS:
            name = role_name(database, kind)
            if await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", name):
                await conn.execute(f"DROP ROLE {_ident(name)}")
    finally:
        await conn.close()
