"""One database per service: URL resolution, engines, and the database's own set-up.

A service gets a :class:`ServiceDatabase` holding one engine bound to its own URL and
nothing else; no API here hands out another service's engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import ssl as ssl_module
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import MetaData, event, exc, inspect
from sqlalchemy.engine import URL, Dialect, ExceptionContext, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry
from sqlalchemy.util import await_only, greenlet_spawn
from sqlalchemy.util import queue as sqla_queue

from isles.core.backoff import Backoff
from isles.core.settings import IslesSettings, PoolSettings, ServiceEnvironment
from isles.storage import sqlite_driver, tenancy
from isles.storage.errors import typed_error

log = structlog.get_logger("isles.db")

_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class DatabaseConfigError(ValueError):
    """The database configuration cannot work (shared database, bad URL, ...)."""


def check_service_name(name: str) -> str:
    if not _SERVICE_NAME.match(name):
        raise DatabaseConfigError(f"service name {name!r} must be lowercase letters, digits and underscores")
    return name


def resolve_database_url(service: str, settings: IslesSettings, environ: Mapping[str, str]) -> str:
    """The URL of ``service``'s own database.

    Precedence: ``ISLES_<SERVICE>_DATABASE_URL``, then ``ISLES_DATABASE_URL`` (which
    must contain ``{service}``), then a SQLite file in the data directory.
    """
    own = ServiceEnvironment(environ).database_url(service)
    if own:
        return own
    template = settings.database_url
    if template:
        if "{service}" not in template:
            raise DatabaseConfigError(
                "the database URL (--database-url, ISLES_DATABASE_URL) must contain a {service} placeholder: "
                "services never share a database"
            )
        return template.replace("{service}", service)
    path = settings.data_dir.expanduser().resolve() / f"{service}.db"
    return f"sqlite+aiosqlite:///{path}"


def resolve_migrator_url(service: str, settings: IslesSettings, environ: Mapping[str, str]) -> str:
    """The URL migrations of ``service`` run with: ``ISLES_<SERVICE>_MIGRATOR_URL`` (the
    schema owner's, see ``isles db provision``), else the service's own."""
    return ServiceEnvironment(environ).migrator_url(service) or resolve_database_url(service, settings, environ)


def resolve_pool(service: str, settings: IslesSettings, environ: Mapping[str, str]) -> PoolSettings:
    """``ISLES_<SERVICE>_POOL_SIZE`` (and ``_POOL_MAX_OVERFLOW``, ``_POOL_TIMEOUT``,
    ``_POOL_RECYCLE``, ``_POOL_PING_IDLE``, ``_POOL_IDLE_TIMEOUT``) override the system-wide ``ISLES_POOL_*``
    for one service."""
    try:
        return ServiceEnvironment(environ).pool(service, settings.pool)
    except ValueError as exc:
        raise DatabaseConfigError(str(exc)) from exc


def check_distinct(urls: Mapping[str, str]) -> None:
    """Refuse a configuration where two services would share one database."""
    seen: dict[str, str] = {}
    for service, url in urls.items():
        key = make_url(url).render_as_string(hide_password=True)
        if key in seen:
            raise DatabaseConfigError(f"services {seen[key]!r} and {service!r} resolve to the same database {key}")
        seen[key] = service


_IDLE_SINCE = "isles_idle_since"


def _ping_when_idle(engine: AsyncEngine, idle: float) -> None:
    """Ping a pooled connection before use if it sat idle ``idle`` seconds or more
    (a restarted server or a firewall may have dropped it); a dead one is replaced.
    Instead of ``pool_pre_ping``, which costs a round trip on every checkout."""
    dialect: Dialect = engine.dialect

    def checkin(_dbapi: Any, record: ConnectionPoolEntry) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    def checkout(dbapi: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < idle:
            return
        try:
            dialect.do_ping(dbapi)
        except Exception as error:
            raise exc.DisconnectionError(f"pooled connection failed its ping: {error!r}") from error

    event.listen(engine.sync_engine, "checkin", checkin)
    event.listen(engine.sync_engine, "checkout", checkout)


class _IdleClosingPool(AsyncAdaptedQueuePool):
    """A PostgreSQL engine's pool that can close the connections it does not use.

    Handed out last in, first out (``use_lifo``): under a light load the same few
    connections serve and the rest stay in the queue, unused, until
    :meth:`close_idle` closes them. A service that had a burst would otherwise keep
    ``size`` connections of the server's ``max_connections`` for as long as it runs
    (as HikariCP's ``idleTimeout`` or PgBouncer's ``server_idle_timeout`` prevent)."""

    def close_idle(self, older_than: float) -> int:
        """Close the connections checked in ``older_than`` seconds ago or more and not
        used since; the others stay, in their order. Runs in SQLAlchemy's greenlet
        (the driver's close awaits). The number closed."""
        now = time.monotonic()
        queue = self._pool
        held: list[ConnectionPoolEntry] = []  # newest first (LIFO)
        while True:
            try:
                held.append(queue.get(False))
            except sqla_queue.Empty:
                break
        stale = [r for r in held if now - r.info.get(_IDLE_SINCE, now) >= older_than]
        # Put the others back before closing anything: a close awaits, and a checkout
        # meanwhile must find them (oldest first, so the newest is on top again).
        for record in reversed(held):
            if not any(record is s for s in stale):
                queue.put(record, False)
        for record in stale:
            try:
                record.close()
            except Exception as error:  # a dead connection: gone all the same
                log.debug("database.close_failed", error=repr(error))
            finally:
                self._dec_overflow()  # as QueuePool does for a connection it closes
        return len(stale)


#: SQLSTATE of "too many connections" (the server's max_connections reached).
_TOO_MANY_CONNECTIONS = "53300"


def _server_full(error: BaseException) -> bool:
    cause = getattr(error, "driver_exception", None) or error.__cause__ or error
    return getattr(cause, "sqlstate", None) == _TOO_MANY_CONNECTIONS


def _wait_when_full(engine: AsyncEngine, wait: float) -> None:
    """A new connection refused because the server has none to spare (its
    ``max_connections`` reached: a burst elsewhere) is tried again, with the platform's
    backoff, for up to ``wait`` seconds (the pool's own timeout) — as a checkout waits
    for a pooled connection — instead of failing the request at once."""
    rule = Backoff(base=0.05, ceiling=1.0)

    def connect(dialect: Dialect, _record: ConnectionPoolEntry, cargs: Any, cparams: Any) -> Any:
        deadline = time.monotonic() + wait
        attempt = 0
        while True:
            try:
                return dialect.connect(*cargs, **cparams)
            except Exception as error:
                attempt += 1
                if not _server_full(error) or time.monotonic() >= deadline:
                    raise
                if attempt == 1:
                    log.warning("database.full", error=str(error).splitlines()[0], waiting_up_to=wait)
                await_only(asyncio.sleep(rule.delay(attempt)))

    event.listen(engine.sync_engine, "do_connect", connect)


def _sqlite_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # We issue BEGIN ourselves (see _sqlite_on_begin), so the driver must not. The
    # driver waits out another process's lock itself (busy_timeout 0, see sqlite_driver).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=NORMAL",
        "PRAGMA foreign_keys=ON",
    ):
        cursor.execute(pragma)
    cursor.close()


def _sqlite_on_begin(conn: Any) -> None:
    # Writers take the write lock up front, so a read-modify-write inside a unit of
    # work cannot interleave with another writer (SQLite's answer to FOR UPDATE).
    readonly = conn.get_execution_options().get("isles_readonly", False)
    # Straight to the driver's cursor: SQLAlchemy's statement machinery cost more
    # than the BEGIN itself, and there is no result to read.
    statement = "BEGIN" if readonly else "BEGIN IMMEDIATE"
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(statement)
    except sqlite3.Error as error:  # as SQLAlchemy would have raised it
        raise exc.DBAPIError.instance(statement, None, error, sqlite3.Error) from error
    finally:
        cursor.close()


class ServiceDatabase:
    """The engine and session factories of exactly one service's database."""

    def __init__(
        self,
        service: str,
        url: str,
        settings: IslesSettings,
        pool: PoolSettings | None = None,
        *,
        metadata: MetaData | None = None,
    ) -> None:
        """``metadata`` (the service's tables) names the constraint of a unique
        violation on SQLite, and its columns where PostgreSQL leaves them out."""
        self.service = check_service_name(service)
        self.metadata = metadata
        self.url: URL = make_url(url)
        self.dialect = self.url.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise DatabaseConfigError(f"{service}: unsupported database {self.dialect!r}")
        self._settings = settings
        self.pool = pool or settings.pool
        self.engine: AsyncEngine = self._create_engine()
        event.listen(self.engine.sync_engine, "handle_error", self._typed_error)
        self._write = async_sessionmaker(self.engine, expire_on_commit=False, sync_session_class=tenancy.TenantSession)
        self._read_engine = self.engine.execution_options(isles_readonly=True)
        self._read = async_sessionmaker(
            self._read_engine,
            expire_on_commit=False,
            sync_session_class=tenancy.TenantSession,
        )
        self._write_lock: contextlib.AbstractAsyncContextManager[Any] = (
            asyncio.Lock() if self.is_sqlite else contextlib.nullcontext()
        )

    def _typed_error(self, context: ExceptionContext) -> BaseException | None:
        """A unique violation is raised as :class:`~isles.storage.errors.UniqueViolation`."""
        return typed_error(context.sqlalchemy_exception, self.metadata) if context.sqlalchemy_exception else None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def _create_engine(self) -> AsyncEngine:
        if self.is_sqlite:
            engine = create_async_engine(self.url, connect_args={"timeout": 30}, module=sqlite_driver.dbapi())
            event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
            event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
            return engine
        p = self.pool
        engine = create_async_engine(
            self.url,
            pool_size=p.size,
            max_overflow=p.max_overflow,
            pool_timeout=p.timeout,
            pool_recycle=p.recycle,
            poolclass=_IdleClosingPool,
            pool_use_lifo=True,
            # No isles.tenant here: a connection names no tenant (row security shows it
            # no tenant row) until a session does, for its transaction.
            connect_args={"server_settings": {"application_name": f"isles-{self.service}"}, **self._tls()},
        )
        _ping_when_idle(engine, p.ping_idle)
        _wait_when_full(engine, p.timeout)
        return engine

    @property
    def ssl(self) -> ssl_module.SSLContext | None:
        """The TLS context PostgreSQL connections use (``ISLES_DATABASE_TLS_CA``:
        verify-full), or None for plain connections."""
        return tls_context(self._settings.database_tls_ca)

    def _tls(self) -> dict[str, Any]:
        return ssl_args(self.ssl)

    async def ping(self, timeout: float = 2.0) -> None:  # noqa: ASYNC109 - a bound for a health check
        """Raise if the database does not answer ``SELECT 1`` within ``timeout`` seconds."""
        async with asyncio.timeout(timeout), self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    @asynccontextmanager
    async def writing(self, *, tenant: tenancy.Tenant = None) -> AsyncIterator[AsyncSession]:
        """A session whose transaction may write (BEGIN IMMEDIATE on SQLite).

        On SQLite, writers of this process queue on an asyncio lock instead of racing
        for the database lock; a writer of another process holding it is waited out
        without blocking the loop (see :mod:`isles.storage.sqlite_driver`), up to 30 s.
        """
        async with self._write_lock, self._write(info={tenancy.INFO_KEY: tenant}) as session:
            yield session

    def reading(self) -> AsyncConnection:
        """A connection for reads only, without a session: the kernel's own Core
        statements on its own tables (no tenant scoping; never SQLite's write lock)."""
        return self._read_engine.connect()

    def read_session(self, *, tenant: tenancy.Tenant = None) -> AsyncSession:
        """A session for reads only; it never takes SQLite's write lock. With a
        ``tenant`` it sees only that company's rows, with ``ACROSS_TENANTS`` every
        company's, without one none (see :mod:`isles.storage.tenancy`)."""
        return self._read(info={tenancy.INFO_KEY: tenant})

    async def ensure_exists(self) -> None:
        """Create the database (PostgreSQL) or its directory (SQLite) if missing."""
        if self.is_sqlite:
            database = self.url.database
            if database and database != ":memory:":
                folder = Path(database).parent
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                except OSError as exc:  # a folder that cannot be made: the configuration's fault
                    raise DatabaseConfigError(
                        f"{folder}: cannot make the folder of {self.service}'s database: {exc.strerror or exc} "
                        "(give --data-dir or ISLES_DATA_DIR a folder that can be made)"
                    ) from exc
            return
        await create_postgres_database(self.url, ssl=self.ssl)

    async def exists(self) -> bool:
        """Whether the database is there (nothing is created to find out)."""
        if self.is_sqlite:
            database = self.url.database
            return not database or database == ":memory:" or _is_file(database)
        import asyncpg

        try:
            conn = await connect_waiting(_asyncpg_dsn(self.url, self.url.database or ""), **self._tls())
        except asyncpg.InvalidCatalogNameError:
            return False
        await conn.close()
        return True

    async def has_table(self, name: str) -> bool:
        def look(conn: Any) -> bool:
            return bool(inspect(conn).has_table(name))

        async with self.engine.connect() as conn:
            return await conn.run_sync(look)

    async def close_idle(self) -> int:
        """Close the pooled connections unused for the pool's ``idle_timeout`` seconds
        (PostgreSQL; SQLite keeps none open). The number closed."""
        pool = self.engine.sync_engine.pool
        if not self.pool.idle_timeout or not isinstance(pool, _IdleClosingPool):
            return 0
        return await greenlet_spawn(pool.close_idle, self.pool.idle_timeout)

    async def close_idle_forever(self) -> None:
        """:meth:`close_idle` every half ``idle_timeout`` (at most every 30 s), until
        cancelled: the running service's task (:class:`isles.runtime.system.ServiceRuntime`)."""
        if not self.pool.idle_timeout or self.is_sqlite:
            return
        every = min(max(self.pool.idle_timeout / 2, 0.5), 30.0)
        while True:
            await asyncio.sleep(every)
            closed = await self.close_idle()
            if closed:
                log.debug("database.closed_idle", service=self.service, closed=closed)

    async def dispose(self) -> None:
        await self.engine.dispose()

    def __repr__(self) -> str:
        return f"ServiceDatabase({self.service!r}, {self.url.render_as_string(hide_password=True)})"


def ssl_args(context: ssl_module.SSLContext | None) -> dict[str, Any]:
    """asyncpg's ``ssl`` keyword for ``context``: none without one (the connection as
    the driver makes it)."""
    return {"ssl": context} if context is not None else {}


def tls_context(ca: Path | None) -> ssl_module.SSLContext | None:
    """Full verification against ``ca`` (the chain and the server's name), or None."""
    if ca is None:
        return None
    if not ca.is_file():
        raise DatabaseConfigError(f"TLS CA certificate {ca} does not exist")
    context = ssl_module.create_default_context(cafile=str(ca))
    context.check_hostname = True
    context.verify_mode = ssl_module.CERT_REQUIRED
    return context


def _is_file(path: str) -> bool:
    return Path(path).is_file()  # a stat of a local file: not worth a thread


def _asyncpg_dsn(url: URL, database: str) -> str:
    return url.set(drivername="postgresql", database=database).render_as_string(hide_password=False)


async def connect_waiting(dsn: str, *, wait: float = 30.0, **kwargs: Any) -> Any:
    """``asyncpg.connect``, tried again with the platform's backoff for up to ``wait``
    seconds while the server has no connection to spare (SQLSTATE 53300): the
    connections of tooling and administration (create, drop, look) ride out a burst as
    the pools do (:func:`_wait_when_full`)."""
    import asyncpg

    rule = Backoff(base=0.05, ceiling=1.0)
    deadline = time.monotonic() + wait
    attempt = 0
    while True:
        try:
            return await asyncpg.connect(dsn, **kwargs)
        except asyncpg.TooManyConnectionsError:
            attempt += 1
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(rule.delay(attempt))


async def create_postgres_database(url: URL, *, ssl: ssl_module.SSLContext | None = None) -> bool:
    """Create the database named in ``url`` if it does not exist. True if created."""
    import asyncpg

    name = url.database
    if not name:
        raise DatabaseConfigError(f"no database name in {url.render_as_string()}")
    conn = await connect_waiting(_asyncpg_dsn(url, "postgres"), **ssl_args(ssl))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        try:
            await conn.execute(f'CREATE DATABASE "{_pg_ident(name)}"')
        except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):  # a concurrent creator won
            return False
        return True
    finally:
        await conn.close()


async def drop_postgres_database(url: URL, *, ssl: ssl_module.SSLContext | None = None) -> None:
    """Drop the database named in ``url`` if it exists, ending its sessions. It waits
    for a checkpoint of the server: to drop several, :func:`drop_postgres_databases`."""
    name = url.database
    if not name:
        raise DatabaseConfigError(f"no database name in {url.render_as_string()}")
    conn = await connect_waiting(_asyncpg_dsn(url, "postgres"), **ssl_args(ssl))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{_pg_ident(name)}" WITH (FORCE)')
    finally:
        await conn.close()


async def drop_postgres_databases(urls: Iterable[URL], *, at_once: int = 8) -> None:
    """Drop the databases named in ``urls``, side by side. A DROP DATABASE waits for a
    checkpoint of the server, and drops in flight together share one; one after the
    other, ten databases wait for ten (a checkpoint took 30-44 s on a busy test
    server). ``at_once`` connections at most. Every drop is tried; the first failure is
    raised after."""
    gate = asyncio.Semaphore(at_once)

    async def one(url: URL) -> None:
        async with gate:
            await drop_postgres_database(url)

    for outcome in await asyncio.gather(*(one(url) for url in urls), return_exceptions=True):
        if isinstance(outcome, BaseException):
            raise outcome


def _pg_ident(name: str) -> str:
    if not re.match(r"^[A-Za-z0-9_\-]{1,63}$", name):
        raise DatabaseConfigError(f"refusing unusual database name {name!r}")
    return name
