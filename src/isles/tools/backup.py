"""Per-service backups with a manifest, their restore and verification, and retention.

A backup is a folder ``<root>/<UTC timestamp>/`` holding ``manifest.json`` and one
file per service: ``<service>.dump`` (PostgreSQL, ``pg_dump`` custom format,
compressed) or ``<service>.db.gz`` (SQLite, the online backup API's copy, gzipped).
The manifest is written last: a folder without one is an unfinished backup.

PostgreSQL: for every service database a connection opens a ``REPEATABLE READ``
transaction and exports its snapshot (``pg_export_snapshot()``), all at once; each
``pg_dump --snapshot=...`` then dumps exactly that snapshot, and the manifest's row
counts and high-water marks are read in the same transaction, so they describe the
dump exactly. Separate databases cannot share one snapshot (an exported snapshot is
usable only within its own database), so the cut across services is "every snapshot
taken within ``spread_ms`` of each other"; events in flight between services at that
moment are what :mod:`isles.tools.reconcile` (``isles reconcile``) mends after a
restore. SQLite: ``sqlite3``'s backup API, in one step (a consistent read of the WAL
database; writers carry on), counted on the copy.

See docs/backup.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import importlib.metadata
import json
import os
import re
import secrets
import shutil
import sqlite3
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Collection, Coroutine, Iterable, Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from sqlalchemy.engine import URL, make_url

from isles.core.backoff import Backoff
from isles.storage.db import (
    ServiceDatabase,
    connect_waiting,
    create_postgres_database,
    drop_postgres_database,
    ssl_args,
    tls_context,
)

MANIFEST = "manifest.json"
FORMAT = 1
#: A backup folder's name: its UTC time, sortable (``20261129T074802.123Z``).
STAMP = "%Y%m%dT%H%M%S"
_STAMP_RE = re.compile(r"^(\d{8}T\d{6})\.(\d{3})Z$")
SERVICE_VERSION_TABLE = "alembic_version"
KERNEL_VERSION_TABLE = "isles_kernel_version"  # as in isles.storage.migrations
OUTBOX = "isles_outbox_events"
INBOX = "isles_inbox_events"
CHUNK = 1 << 20


class BackupError(Exception):
    """A backup could not be made, or a backup folder is not usable (the message says
    what and where)."""


class TargetExists(BackupError):
    """A restore's target databases hold data and ``force`` was not given: refused
    before any is restored."""


class CorruptBackup(BackupError):
    """A backup file that matches its manifest's checksum and still does not unpack (a
    backup made wrong): bad input, as a checksum that differs is."""


class WrongTarget(BackupError):
    """A restore's target is of another kind than the backup (a SQLite backup into
    PostgreSQL, or the reverse): bad input, refused before any is restored."""


class NoDatabase(BackupError):
    """A service's database is not where the configuration says (a SQLite file not
    there: a wrong --data-dir): bad input, nothing backed up."""


class _Service(Protocol):
    @property
    def name(self) -> str: ...


class _System(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def services(self) -> Sequence[Any]: ...


#: Called as a backup or restore goes: (service, what happened: "started", "done").
Progress = Callable[[str, str], None]


@dataclass
class ServiceBackup:
    """One service's part of a backup, as the manifest records it."""

    service: str
    database: str  # the URL, without its password
    dialect: str
    file: str
    size: int
    sha256: str
    #: The service's own Alembic revision (``alembic_version``) and the kernel's.
    revision: str | None
    kernel_revision: str | None
    #: When its snapshot was taken (UTC, ISO) and how long the dump took.
    started_at: str
    seconds: float
    #: The outbox's high-water marks: the largest id, and the largest id published.
    outbox: dict[str, Any] = field(default_factory=dict)
    #: The inbox: events taken in, and the newest ``processed_at``.
    inbox: dict[str, Any] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)


@dataclass
class Manifest:
    system: str
    created_at: str
    folder: Path
    services: list[ServiceBackup]
    tools: dict[str, str]
    #: PostgreSQL: milliseconds between the first and the last snapshot taken.
    spread_ms: float | None = None
    format: int = FORMAT

    def __getitem__(self, service: str) -> ServiceBackup:
        for s in self.services:
            if s.service == service:
                return s
        raise KeyError(service)

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body.pop("folder")
        return body

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        """The manifest of the backup in ``folder``; :class:`BackupError` naming the
        file when it is missing or not a manifest."""
        path = folder / MANIFEST
        if not folder.is_dir():
            raise BackupError(f"{folder}: no such backup folder")
        if not path.is_file():
            raise BackupError(f"{path}: missing (not a finished backup folder)")
        try:
            body = json.loads(path.read_text())
            if not isinstance(body, dict):
                raise BackupError(f"{path}: not a valid manifest (not a JSON object)")
            if body.get("format") != FORMAT:
                raise BackupError(f"{path}: unknown manifest format {body.get('format')!r}")
            listed = body["services"]
            if not isinstance(listed, list) or not listed:
                raise BackupError(f"{path}: not a valid manifest (no services: a list of at least one)")
            services = [_service_entry(path, i, s) for i, s in enumerate(listed)]
            seen: set[str] = set()
            for entry in services:
                if entry.service in seen:
                    raise BackupError(f"{path}: not a valid manifest (service {entry.service} twice)")
                seen.add(entry.service)
            return cls(
                system=body["system"],
                created_at=body["created_at"],
                folder=folder,
                services=services,
                tools=body["tools"],
                spread_ms=body.get("spread_ms"),
            )
        except KeyError as exc:
            raise BackupError(f"{path}: not a valid manifest (no {exc.args[0]!r})") from exc
        except ValueError as exc:
            raise BackupError(f"{path}: not a valid manifest ({exc})") from exc
        except (TypeError, AttributeError) as exc:
            raise BackupError(f"{path}: not a valid manifest ({type(exc).__name__}: {exc})") from exc


def _service_entry(path: Path, index: int, body: Any) -> ServiceBackup:
    """A manifest's ``services[index]``, its fields checked (:class:`BackupError` naming
    the one that is wrong): its file a name inside the backup folder, never a path."""
    where = f"{path}: not a valid manifest (services[{index}]"
    if not isinstance(body, dict):
        raise BackupError(f"{where} is not an object)")
    names = [f.name for f in fields(ServiceBackup)]
    required = [f.name for f in fields(ServiceBackup) if f.default is MISSING and f.default_factory is MISSING]
    missing = [n for n in required if n not in body]
    if missing:
        raise BackupError(f"{where}: no {', '.join(missing)})")
    unknown = [n for n in body if n not in names]
    if unknown:
        raise BackupError(f"{where}: unknown field {', '.join(map(str, unknown))})")
    file = body["file"]
    if not isinstance(file, str) or Path(file).name != file or file in ("", ".", ".."):
        raise BackupError(f"{where}.file {file!r}: not a file name inside the backup folder)")
    return ServiceBackup(**body)


def public_url(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _libpq(url: URL, tls_ca: Path | None = None) -> tuple[str, dict[str, str]]:
    """A libpq connection string for ``url`` (no password: that goes in the env) and
    the environment of the tool: with ``tls_ca`` (``ISLES_DATABASE_TLS_CA``), TLS
    verified as the services verify it (the chain against that CA, the server's name:
    ``sslmode=verify-full``)."""
    plain = url.set(drivername="postgresql", password=None, query={})
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    if tls_ca is not None:
        env["PGSSLMODE"], env["PGSSLROOTCERT"] = "verify-full", str(tls_ca)
    return plain.render_as_string(hide_password=False), env


def _asyncpg_dsn(url: URL) -> str:
    return url.set(drivername="postgresql", query={}).render_as_string(hide_password=False)


def _tls(tls_ca: Path | None) -> dict[str, Any]:
    """asyncpg's ``ssl`` argument for ``tls_ca`` (none: the connection as configured)."""
    return ssl_args(tls_context(tls_ca))


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def tool_versions() -> dict[str, str]:
    try:
        isles = importlib.metadata.version("isles")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - run from a checkout
        isles = "unknown"
    tools = {"isles": isles, "python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version}
    pg_dump = shutil.which("pg_dump")
    if pg_dump:
        import subprocess

        done = subprocess.run([pg_dump, "--version"], capture_output=True, text=True, check=False)
        tools["pg_dump"] = done.stdout.strip()
    return tools


# ---------------------------------------------------------------------------------------
# What a database holds: revisions, row counts, high-water marks


@dataclass
class Facts:
    revision: str | None
    kernel_revision: str | None
    rows: dict[str, int]
    outbox: dict[str, Any]
    inbox: dict[str, Any]


def _iso(value: Any) -> Any:
    """A time as ISO 8601 with its offset: a datetime, or SQLite's text of one (naive:
    the platform stores UTC), so both kinds of manifest say it alike."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
    return value.isoformat() if isinstance(value, datetime) else value


async def _pg_facts(conn: Any) -> Facts:
    """Read inside the caller's transaction (the dump's snapshot)."""
    tables = await conn.fetch(
        "SELECT schemaname, tablename FROM pg_tables "
        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
    )
    rows: dict[str, int] = {}
    names: set[str] = set()
    for schema, table in tables:
        key = table if schema == "public" else f"{schema}.{table}"
        quoted = '"{}"."{}"'.format(schema.replace('"', '""'), table.replace('"', '""'))
        rows[key] = int(await conn.fetchval(f"SELECT count(*) FROM {quoted}"))
        names.add(key)

    async def one(sql: str, table: str) -> Any:
        return await conn.fetchval(sql) if table in names else None

    outbox, inbox = {}, {}
    if OUTBOX in names:
        outbox = {
            "max_id": await one(f"SELECT max(id) FROM {OUTBOX}", OUTBOX),
            "max_published_id": await one(f"SELECT max(id) FROM {OUTBOX} WHERE published_at IS NOT NULL", OUTBOX),
        }
    if INBOX in names:
        inbox = {
            "count": rows[INBOX],
            "max_processed_at": _iso(await one(f"SELECT max(processed_at) FROM {INBOX}", INBOX)),
        }
    return Facts(
        revision=await one(f"SELECT version_num FROM {SERVICE_VERSION_TABLE}", SERVICE_VERSION_TABLE),
        kernel_revision=await one(f"SELECT version_num FROM {KERNEL_VERSION_TABLE}", KERNEL_VERSION_TABLE),
        rows=rows,
        outbox=outbox,
        inbox=inbox,
    )


def _sqlite_facts(path: Path) -> Facts:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        rows = {n: int(conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]) for n in names}

        def one(sql: str, table: str) -> Any:
            return conn.execute(sql).fetchone()[0] if table in rows else None

        outbox, inbox = {}, {}
        if OUTBOX in rows:
            outbox = {
                "max_id": one(f"SELECT max(id) FROM {OUTBOX}", OUTBOX),
                "max_published_id": one(f"SELECT max(id) FROM {OUTBOX} WHERE published_at IS NOT NULL", OUTBOX),
            }
        if INBOX in rows:
            inbox = {"count": rows[INBOX], "max_processed_at": one(f"SELECT max(processed_at) FROM {INBOX}", INBOX)}
        return Facts(
            revision=one(f"SELECT version_num FROM {SERVICE_VERSION_TABLE}", SERVICE_VERSION_TABLE),
            kernel_revision=one(f"SELECT version_num FROM {KERNEL_VERSION_TABLE}", KERNEL_VERSION_TABLE),
            rows=rows,
            outbox=outbox,
            inbox={k: _iso(v) for k, v in inbox.items()},
        )
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------
# Backup


def _url_of(db: ServiceDatabase | str | URL) -> URL:
    if isinstance(db, ServiceDatabase):
        return db.url
    return make_url(db) if isinstance(db, str) else db


def _stamp(now: datetime) -> str:
    return f"{now.strftime(STAMP)}.{now.microsecond // 1000:03d}Z"


#: What libpq's tools say when the server has no connection to spare (SQLSTATE 53300).
_FULL = ("too many clients already", "remaining connection slots are reserved", "too many connections for")


async def _run(argv: list[str], env: Mapping[str, str], what: str, *, wait: float = 30.0) -> None:
    """Run a PostgreSQL client tool; one refused for want of a free connection (the
    server full for a moment) is started again with the platform's backoff for up to
    ``wait`` seconds, as the services' own connections wait (isles.storage.db)."""
    rule = Backoff(base=0.05, ceiling=1.0)
    deadline = time.monotonic() + wait
    attempt = 0
    while True:
        proc = await asyncio.create_subprocess_exec(
            *argv, env=dict(env), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        _, stderr = await proc.communicate()
        if proc.returncode == 0:
            return
        message = stderr.decode(errors="replace")
        if any(m in message for m in _FULL) and time.monotonic() < deadline:
            attempt += 1
            await asyncio.sleep(rule.delay(attempt))
            continue
        detail = message.strip().splitlines()
        raise BackupError(f"{what} failed (exit {proc.returncode}): {detail[-1] if detail else 'no message'}")


class _Snapshot:
    """A PostgreSQL transaction holding an exported snapshot until the dump is done."""

    def __init__(self, service: str, url: URL, tls_ca: Path | None = None) -> None:
        self.service, self.url, self.tls_ca = service, url, tls_ca
        self.conn: Any = None
        self.id = ""
        self.asked = self.at = 0.0
        self.started_at = ""

    async def open(self) -> None:
        import asyncpg

        try:
            self.conn = await connect_waiting(_asyncpg_dsn(self.url), **_tls(self.tls_ca))
        except (OSError, asyncpg.PostgresError) as exc:
            raise BackupError(f"{self.service}: cannot connect to {public_url(self.url)}: {exc}") from exc

    async def take(self) -> None:
        await self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        # The snapshot is taken somewhere between asking and the answer.
        self.asked = time.time()
        self.id = await self.conn.fetchval("SELECT pg_export_snapshot()")
        self.at = time.time()
        self.started_at = datetime.fromtimestamp(self.at, UTC).isoformat()

    async def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                await self.conn.execute("ROLLBACK")
            await self.conn.close()


async def _dump_postgres(snap: _Snapshot, path: Path, compress: int) -> tuple[Facts, float]:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupError("pg_dump is not installed (PostgreSQL's client tools)")
    dsn, env = _libpq(snap.url, snap.tls_ca)
    argv = [pg_dump, "--format=custom", f"--compress={compress}", f"--snapshot={snap.id}"]
    argv += [f"--file={path}", f"--dbname={dsn}"]
    dumping = asyncio.create_task(_run(argv, env, f"{snap.service}: pg_dump of {public_url(snap.url)}"))
    facts: Facts | None = None
    try:
        await snap.conn.execute("SET LOCAL row_security = off")
        facts = await _pg_facts(snap.conn)
    finally:
        # pg_dump reads the snapshot this transaction holds: it stays open until the
        # dump is done, whatever happened to the counting.
        await asyncio.wait([dumping])
        dumping.result()
    return facts, time.time() - snap.at


def _dump_sqlite(service: str, url: URL, path: Path, compress: int) -> tuple[Facts, str, float]:
    source = Path(url.database or "")
    if not source.is_file():
        raise NoDatabase(
            f"{service}: no SQLite database at {source} (give --data-dir or --database-url where the system is)"
        )
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        copy = Path(tmp) / f"{service}.db"
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        dst = sqlite3.connect(copy)
        try:
            at = time.time()
            # One step: the whole database read in one transaction (consistent; in WAL
            # mode the system's writers carry on meanwhile).
            src.backup(dst, pages=-1)
        finally:
            dst.close()
            src.close()
        facts = _sqlite_facts(copy)
        with copy.open("rb") as f_in, gzip.open(path, "wb", compresslevel=compress) as f_out:
            shutil.copyfileobj(f_in, f_out, CHUNK)
    return facts, datetime.fromtimestamp(at, UTC).isoformat(), time.time() - at


async def backup(
    system: _System,
    dbs_or_urls: Mapping[str, ServiceDatabase | str | URL],
    folder: Path,
    *,
    services: Iterable[str] | None = None,
    compress: int = 6,
    progress: Progress | None = None,
    now: datetime | None = None,
    tls_ca: Path | None = None,
) -> Manifest:
    """Back up ``services`` (default: every service of ``system``) into a new folder
    ``folder/<UTC timestamp>/``; the manifest (also written there, last). ``tls_ca``:
    PostgreSQL over TLS verified against that CA (the services' ``ISLES_DATABASE_TLS_CA``)."""
    names = [s.name for s in system.services]
    wanted = list(services) if services else names
    unknown = [n for n in wanted if n not in names or n not in dbs_or_urls]
    if unknown:
        raise BackupError(f"no service {', '.join(unknown)} in {system.name}; services: {', '.join(names)}")
    note = progress or (lambda _s, _w: None)
    urls = {n: _url_of(dbs_or_urls[n]) for n in wanted}
    for n, url in urls.items():
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise BackupError(f"{n}: cannot back up a {url.get_backend_name()} database")
    created = now or datetime.now(UTC)
    target = folder / _stamp(created)
    try:
        target.mkdir(parents=True, exist_ok=False)
    except FileExistsError as exc:
        raise BackupError(f"{target} exists already") from exc
    except OSError as exc:
        raise BackupError(f"cannot make the backup folder {target}: {exc}") from exc
    snaps = [_Snapshot(n, u, tls_ca) for n, u in urls.items() if u.get_backend_name() == "postgresql"]
    entries: dict[str, ServiceBackup] = {}
    try:
        await _all(s.open() for s in snaps)
        # Every snapshot at once: the spread between the first and the last is the cut.
        await asyncio.gather(*(s.take() for s in snaps))
        # An upper bound: from the first request to the last answer.
        spread = (max(s.at for s in snaps) - min(s.asked for s in snaps)) * 1000 if snaps else None

        async def postgres(snap: _Snapshot) -> None:
            note(snap.service, "started")
            path = target / f"{snap.service}.dump"
            facts, seconds = await _dump_postgres(snap, path, compress)
            entries[snap.service] = _entry(snap.service, snap.url, path, facts, snap.started_at, seconds)
            note(snap.service, "done")

        async def sqlite(name: str) -> None:
            note(name, "started")
            path = target / f"{name}.db.gz"
            facts, started, seconds = await asyncio.to_thread(_dump_sqlite, name, urls[name], path, compress)
            entries[name] = _entry(name, urls[name], path, facts, started, seconds)
            note(name, "done")

        jobs = [postgres(s) for s in snaps]
        jobs += [sqlite(n) for n, u in urls.items() if u.get_backend_name() == "sqlite"]
        await _all(jobs)
        manifest = Manifest(
            system=system.name,
            created_at=created.isoformat(),
            folder=target,
            services=[entries[n] for n in wanted],
            tools=await asyncio.to_thread(tool_versions),
            spread_ms=round(spread, 3) if spread is not None else None,
        )
        partial = target / f"{MANIFEST}.partial"
        partial.write_text(json.dumps(manifest.to_json(), indent=2, default=str) + "\n")
        partial.replace(target / MANIFEST)
        return manifest
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    finally:
        for s in snaps:
            await s.close()


async def _all(jobs: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run ``jobs`` at once and wait for every one (none left running behind a
    failure, writing into a folder being removed); then raise the first failure."""
    done = await asyncio.gather(*jobs, return_exceptions=True)
    for d in done:
        if isinstance(d, BaseException):
            raise d


def _entry(service: str, url: URL, path: Path, facts: Facts, started: str, seconds: float) -> ServiceBackup:
    return ServiceBackup(
        service=service,
        database=public_url(url),
        dialect=url.get_backend_name(),
        file=path.name,
        size=path.stat().st_size,
        sha256=sha256(path),
        revision=facts.revision,
        kernel_revision=facts.kernel_revision,
        started_at=started,
        seconds=round(seconds, 3),
        outbox=facts.outbox,
        inbox=facts.inbox,
        rows=facts.rows,
    )


# ---------------------------------------------------------------------------------------
# Restore and verify


@dataclass
class RestoreResult:
    service: str
    target: str  # where it was restored (URL without password, or the file)
    problems: list[str] = field(default_factory=list)
    rows: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


def check_files(manifest: Manifest, services: Iterable[str] | None = None) -> None:
    """Every selected service's file is there with its recorded size and sha256;
    :class:`BackupError` naming the first that is not."""
    for entry in _chosen(manifest, services):
        path = manifest.folder / entry.file
        if not path.is_file():
            raise BackupError(f"{path}: missing ({entry.service}'s backup)")
        if path.stat().st_size != entry.size:
            raise BackupError(f"{path}: {path.stat().st_size} bytes, the manifest says {entry.size} (corrupt)")
        if sha256(path) != entry.sha256:
            raise BackupError(f"{path}: sha256 differs from the manifest's (corrupt)")


def _chosen(manifest: Manifest, services: Iterable[str] | None) -> list[ServiceBackup]:
    if not services:
        return list(manifest.services)
    wanted = list(services)
    have = [s.service for s in manifest.services]
    missing = [s for s in wanted if s not in have]
    if missing:
        raise BackupError(f"{manifest.folder / MANIFEST}: no service {', '.join(missing)}; it holds {', '.join(have)}")
    return [manifest[s] for s in wanted]


def compare(entry: ServiceBackup, facts: Facts) -> list[str]:
    """How a restored database differs from what the manifest recorded."""
    problems = []
    if facts.revision != entry.revision:
        problems.append(f"schema revision {facts.revision} != manifest's {entry.revision}")
    if facts.kernel_revision != entry.kernel_revision:
        problems.append(f"kernel revision {facts.kernel_revision} != manifest's {entry.kernel_revision}")
    for table in sorted(set(entry.rows) | set(facts.rows)):
        want, got = entry.rows.get(table), facts.rows.get(table)
        if want != got:
            problems.append(f"{table}: {got} rows, manifest {want}")
    return problems


async def _pg_has_tables(url: URL, tls_ca: Path | None) -> bool:
    import asyncpg

    try:
        conn = await connect_waiting(_asyncpg_dsn(url), **_tls(tls_ca))
    except asyncpg.InvalidCatalogNameError:
        return False
    try:
        n = await conn.fetchval(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        )
        return bool(n)
    finally:
        await conn.close()


async def _restore_postgres(entry: ServiceBackup, file: Path, url: URL, *, force: bool, tls_ca: Path | None) -> Facts:
    """Restore one service's dump; a database error is a :class:`BackupError` naming
    the service and the database (one line for the command, not a traceback)."""
    import asyncpg

    try:
        return await _restore_postgres_now(entry, file, url, force=force, tls_ca=tls_ca)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise BackupError(f"{entry.service}: {public_url(url)}: {type(exc).__name__}: {exc}") from exc


async def _restore_postgres_now(
    entry: ServiceBackup, file: Path, url: URL, *, force: bool, tls_ca: Path | None
) -> Facts:
    pg_restore = shutil.which("pg_restore")
    if pg_restore is None:
        raise BackupError("pg_restore is not installed (PostgreSQL's client tools)")
    if not force and await _pg_has_tables(url, tls_ca):
        raise BackupError(f"{entry.service}: {public_url(url)} holds tables already (give --force to replace them)")
    await create_postgres_database(url, ssl=tls_context(tls_ca))
    dsn, env = _libpq(url, tls_ca)
    argv = [pg_restore, "--no-owner", "--clean", "--if-exists", "--single-transaction", f"--dbname={dsn}", str(file)]
    await _run(argv, env, f"{entry.service}: pg_restore into {public_url(url)}")

    conn = await connect_waiting(_asyncpg_dsn(url), **_tls(tls_ca))
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            await conn.execute("SET LOCAL row_security = off")
            return await _pg_facts(conn)
    finally:
        await conn.close()


def _unwritable(path: Path) -> str | None:
    """Why a file cannot be made at ``path`` (its folder, or the nearest one there, is a
    file, or is not writable), or None; nothing is made to find out."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder} is not a folder (the database would be {path})"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{folder}: not writable (the database would be {path})"
    return None


def _restore_sqlite(entry: ServiceBackup, file: Path, target: Path, *, force: bool) -> Facts:
    if target.exists() and not force:
        raise BackupError(f"{entry.service}: {target} exists (give --force to replace it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.restoring")
    try:
        with gzip.open(file, "rb") as f_in, partial.open("wb") as f_out:
            shutil.copyfileobj(f_in, f_out, CHUNK)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        partial.unlink(missing_ok=True)
        raise CorruptBackup(f"{file}: cannot be unpacked ({exc})") from exc
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"{entry.service}: cannot write {partial}: {exc.strerror or exc}") from exc
    # Checked before it takes the target's place (immutable: nothing written beside it):
    # a file that matches its checksum and is no database is a backup made wrong.
    try:
        conn = sqlite3.connect(f"file:{quote(str(partial.resolve()))}?immutable=1", uri=True)
        try:
            (check,) = conn.execute("PRAGMA integrity_check").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        check = str(exc)
    if check != "ok":
        partial.unlink(missing_ok=True)
        raise CorruptBackup(f"{file}: not a sound SQLite database ({check}); nothing restored")
    # A write-ahead log beside the old file belongs to it, not to the restored one.
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    partial.replace(target)
    return _sqlite_facts(target)


async def restore(
    manifest_folder: Path,
    targets: Mapping[str, ServiceDatabase | str | URL],
    *,
    services: Iterable[str] | None = None,
    verify: bool = False,
    force: bool = False,
    progress: Progress | None = None,
    tls_ca: Path | None = None,
) -> list[RestoreResult]:
    """Restore the backup in ``manifest_folder`` into ``targets`` (service -> database).

    Every file's sha256 is checked first (a corrupt folder: :class:`BackupError`
    naming the file). Then each service's database is restored (PostgreSQL: created
    if missing, ``pg_restore --clean``; SQLite: unpacked to the target's path; an
    existing target is replaced only with ``force``) and compared with the manifest:
    schema revisions and every table's row count. With ``verify``, each goes into a
    scratch database instead (``isles_verify_<random>_<service>`` on the target's
    server, or a temporary folder), which is dropped afterwards. ``tls_ca``: PostgreSQL
    over TLS verified against that CA, as :func:`backup`."""
    manifest = Manifest.read(manifest_folder)
    chosen = _chosen(manifest, services)
    check_files(manifest, [e.service for e in chosen])
    missing = [e.service for e in chosen if e.service not in targets]
    if missing:
        raise BackupError(f"no target database for {', '.join(missing)}")
    note = progress or (lambda _s, _w: None)
    token = secrets.token_hex(4)
    for entry in chosen:
        if verify and entry.dialect == "sqlite":
            continue  # verified in a temporary folder, whatever the system is configured with
        dialect = _url_of(targets[entry.service]).get_backend_name()
        if dialect != entry.dialect:
            where = public_url(_url_of(targets[entry.service]))
            if verify:
                raise WrongTarget(
                    f"{entry.service}: the backup is {entry.dialect}: --verify restores it into a scratch database "
                    f"on the configured server, and the system is configured with {where}: give --database-url "
                    "of a PostgreSQL server"
                )
            raise WrongTarget(f"{entry.service}: the backup is {entry.dialect}, the target {where} is not")
    if not verify:  # a SQLite target's folder: bad input before any is restored, nothing made
        for entry in chosen:
            if entry.dialect == "sqlite":
                problem = _unwritable(Path(_url_of(targets[entry.service]).database or ""))
                if problem:
                    raise WrongTarget(f"{entry.service}: {problem}")
    if not verify and not force:  # refused before any is restored, not one by one
        import asyncpg

        taken = []
        for entry in chosen:
            url = _url_of(targets[entry.service])
            if entry.dialect == "postgresql":
                try:
                    full = await _pg_has_tables(url, tls_ca)
                except (OSError, asyncpg.PostgresError):
                    continue  # the restore meets it too, and says it naming the service
                if full:
                    taken.append(f"{entry.service} ({public_url(url)} holds tables)")
            elif os.path.exists(url.database or ""):  # noqa: ASYNC240 (a stat, before any work)
                taken.append(f"{entry.service} ({url.database} exists)")
        if taken:
            raise TargetExists(
                f"the targets of {', '.join(taken)}: stop the system and give --force to replace them, "
                "or restore into new databases (--database-url, --data-dir)"
            )
    scratch_dbs: list[URL] = []
    with tempfile.TemporaryDirectory(prefix="isles-verify-") as scratch:

        async def one(entry: ServiceBackup) -> RestoreResult:
            url = _url_of(targets[entry.service])
            file = manifest.folder / entry.file
            started = time.monotonic()
            note(entry.service, "started")
            if entry.dialect == "postgresql":
                if verify:
                    url = url.set(database=f"isles_verify_{token}_{entry.service}")
                    scratch_dbs.append(url)
                facts = await _restore_postgres(entry, file, url, force=force, tls_ca=tls_ca)
                where = public_url(url)
            else:
                path = Path(scratch) / f"{entry.service}.db" if verify else Path(url.database or "")
                facts = await asyncio.to_thread(_restore_sqlite, entry, file, path, force=force)
                where = str(path)
            note(entry.service, "done")
            seconds = round(time.monotonic() - started, 3)
            return RestoreResult(entry.service, where, compare(entry, facts), sum(facts.rows.values()), seconds)

        try:
            # The services one beside the other: each its own database and process.
            done = await asyncio.gather(*(one(e) for e in chosen), return_exceptions=True)
            for d in done:
                if isinstance(d, BaseException):
                    raise d
            return [d for d in done if isinstance(d, RestoreResult)]
        finally:
            # Scratch databases dropped together: a DROP DATABASE waits for a
            # checkpoint, and drops at once share them.
            drops = await asyncio.gather(
                *(drop_postgres_database(u, ssl=tls_context(tls_ca)) for u in scratch_dbs), return_exceptions=True
            )
            failed = [(u, d) for u, d in zip(scratch_dbs, drops, strict=True) if isinstance(d, BaseException)]
            if failed:
                raise BackupError(f"could not drop the scratch database {public_url(failed[0][0])}: {failed[0][1]}")


def history_note(entry: ServiceBackup, service: Any) -> tuple[str, bool]:
    """Where ``entry``'s schema revisions stand in this code's migration histories
    (``service``: the service's declaration, with ``migrations``): a note, and
    whether this code can run on it (its revisions are known to the histories;
    then ``isles migrate upgrade`` brings a restored database to the heads)."""
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    from isles.storage.migrations import alembic_config, kernel_config

    if getattr(service, "migrations", None) is None:
        return "no migration history", True
    notes, known = [], True
    for label, revision, config in (
        ("schema", entry.revision, alembic_config(service)),
        ("kernel", entry.kernel_revision, kernel_config(entry.service)),
    ):
        script = ScriptDirectory.from_config(config)
        head = script.get_current_head()
        if revision == head:
            notes.append(f"{label} at head")
            continue
        try:
            found = revision is not None and script.get_revision(revision) is not None
        except CommandError:
            found = False
        if found:
            notes.append(f"{label} {revision} behind head {head} (isles migrate upgrade)")
        else:
            known = False
            notes.append(f"{label} {revision} unknown to this code's history (head {head})")
    return "; ".join(notes), known


# ---------------------------------------------------------------------------------------
# Retention


def backup_time(name: str) -> datetime | None:
    """The UTC time a backup folder's name says, or None for another name."""
    m = _STAMP_RE.match(name)
    if m is None:
        return None
    try:
        return datetime.strptime(m.group(1), STAMP).replace(tzinfo=UTC, microsecond=int(m.group(2)) * 1000)
    except ValueError:
        return None


def plan_prune(
    backups: Mapping[str, Collection[str]] | Iterable[str], *, keep_daily: int, keep_weekly: int
) -> tuple[list[str], list[str]]:
    """(kept, deleted) of the backup folders ``backups`` (name -> the services it holds;
    plain names: all alike): **for each service**, the newest backup holding it of each of
    the ``keep_daily`` most recent days that have one, and of each of the ``keep_weekly``
    most recent ISO weeks that have one, are kept; a folder no service keeps goes. So a
    backup of one service never lets the last full backup of the others go. Names that
    are not backup folders are neither."""
    held = backups if isinstance(backups, Mapping) else dict.fromkeys(backups, ("",))
    dated = sorted(((t, n) for n in held if (t := backup_time(n)) is not None), reverse=True)
    kept: set[str] = set()

    def keep_newest(among: list[tuple[datetime, str]], period: Callable[[datetime], Any], count: int) -> None:
        seen: list[Any] = []
        for when, name in among:
            key = period(when)
            if key in seen:
                continue
            if len(seen) >= count:
                break
            seen.append(key)
            kept.add(name)

    for service in sorted({s for _, n in dated for s in held[n]}):
        among = [(t, n) for t, n in dated if service in held[n]]
        keep_newest(among, lambda t: t.date(), keep_daily)
        keep_newest(among, lambda t: date.isocalendar(t.date())[:2], keep_weekly)
    return [n for _, n in dated if n in kept], [n for _, n in dated if n not in kept]


@dataclass
class Pruned:
    """What :func:`prune` did under a backups folder."""

    kept: list[str]
    deleted: list[str]
    #: folders named as backups without a manifest that reads (a backup being written,
    #: or one killed mid-way): never deleted by retention; look, then remove by hand
    left: list[str]


def prune(root: Path, *, keep_daily: int, keep_weekly: int, keep: Collection[str] = ()) -> Pruned:
    """Delete the backup folders under ``root`` that :func:`plan_prune` lets go, each
    service's backups counted apart (from the folders' manifests). A folder without a
    manifest that reads is left alone (another backup may be writing it), as are the
    folders ``keep`` names (the backup just made). :class:`BackupError` for a rule that
    keeps nothing."""
    if keep_daily < 1 and keep_weekly < 1:
        raise BackupError("--keep-daily 0 --keep-weekly 0 would delete every backup: keep at least one day or week")
    if not root.is_dir():
        return Pruned([], [], [])
    backups: dict[str, Collection[str]] = {}
    left: list[str] = []
    for path in sorted(root.iterdir()):
        if not path.is_dir() or backup_time(path.name) is None:
            continue
        try:
            manifest = Manifest.read(path)
            # by system too: two systems backed up into one folder each keep their own
            backups[path.name] = {f"{manifest.system}/{s.service}" for s in manifest.services}
        except BackupError:
            left.append(path.name)
    deleted = [n for n in plan_prune(backups, keep_daily=keep_daily, keep_weekly=keep_weekly)[1] if n not in keep]
    for name in deleted:
        shutil.rmtree(root / name)
    return Pruned([n for n in sorted(backups, reverse=True) if n not in deleted], deleted, left)
