"""Test support: backends (SQLite, PostgreSQL) and helpers shared by the suites."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from isles.core.settings import IslesSettings
from isles.runtime.system import SystemRuntime
from isles.service.declaration import System
from isles.storage.db import drop_postgres_database

PG_SERVER = os.environ.get("ISLES_TEST_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

FAST = {
    "relay_poll_interval": 0.2,
    "retry_base_delay": 0.01,
    "retry_max_delay": 0.05,
    "retry_max_attempts": 3,
    "jobs_enabled": False,  # a test that is about scheduled jobs turns them on
    # A request that starts a saga waits for its outcome up to this long before
    # answering 202 (the default: 10 s). The tests expect the outcome (201); under the
    # full suite both cores are busy and a saga once took longer than 10 s (a CI run
    # failed on a 202). A test about the 202 answer sets its own wait.
    "saga_wait_seconds": 60.0,
    # Argon2id at its least cost: the tests make hundreds of logins and are not about
    # the hash's cost (test_passwords.py checks the parameters are applied).
    "password_time_cost": 1,
    "password_memory_kib": 64,
    "password_parallelism": 1,
    # Fewer idle connections kept per service than the default 10: a test runs up to
    # ten services' engines on PostgreSQL, and four test workers share its 100
    # connections (fewer still, 2, made the suite half again slower: new connections).
    "pool_size": 5,
    # ...and those a test no longer uses closed soon (the default is a minute): four
    # workers' tests, clusters and benchmarks share the server's 100 connections.
    "pool_idle_timeout": 2.0,
}


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_postgres() -> None:
    """Skip without PostgreSQL — except under CI, where its absence is a failure."""
    url = make_url(PG_SERVER)
    if _reachable(url.host or "127.0.0.1", url.port or 5432):
        return
    if IN_CI:
        pytest.fail(f"PostgreSQL is required under CI and is not reachable at {url.host}:{url.port}")
    pytest.skip("PostgreSQL is not running here")


@dataclass
class Backend:
    name: str
    settings: IslesSettings
    prefix: str = ""

    def url(self, service: str) -> str:
        return f"{PG_SERVER}/{self.prefix}_{service}"

    async def drop(self, services: Iterable[str]) -> None:
        if self.name == "postgres":
            for service in services:
                await drop_postgres_database(make_url(self.url(service)))

    def drop_later(self, services: Iterable[str]) -> None:
        """Drop the test's databases in the background (a DROP DATABASE waits for a
        checkpoint: seconds under load, which the next test need not wait for);
        :func:`hand_over_drops` passes those left at the end of the session on."""
        if self.name == "postgres":
            for service in services:
                drop_in_background(self.url(service))


_DROPS: list[tuple[str, concurrent.futures.Future[None]]] = []
_DROPPER: list[Dropper] = []
#: Drops in flight at once, per process. A DROP DATABASE waits for a checkpoint (30-44 s
#: each under the suite's load, measured in the server's log): one after the other, the
#: drops of a test session fell behind its tests, and every checkpoint had the files of
#: more databases to sync. Side by side they share a checkpoint. Each holds one of the
#: server's connections while it waits (four test workers: 24 of its 100).
DROPS_AT_ONCE = 6
#: A URL so marked (``tests.dropper``'s argument) has its roles dropped after it.
ROLES = "roles:"


class Dropper:
    """Drops PostgreSQL databases on threads of its own, ``at_once`` at a time (the test
    session has one: :func:`drop_in_background`)."""

    def __init__(self, at_once: int = DROPS_AT_ONCE) -> None:
        self._threads = concurrent.futures.ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="drop-db")

    def drop(self, entry: str) -> concurrent.futures.Future[None]:
        """Drop ``entry`` (a URL, or :data:`ROLES` and a URL); the future says when it is done."""
        return self._threads.submit(_drop_now, entry)


def _dropper() -> Dropper:
    if not _DROPPER:
        _DROPPER.append(Dropper())
    return _DROPPER[0]


def drop_in_background(url: str, *, roles: bool = False) -> concurrent.futures.Future[None]:
    """Drop the PostgreSQL database ``url`` on one of the session's dropping threads (and
    then the roles ``isles db provision`` made for it, with ``roles``); the future says
    when it is done."""
    entry = ROLES + url if roles else url
    future = _dropper().drop(entry)
    _DROPS.append((entry, future))
    return future


def _drop_now(entry: str) -> None:
    """Drop one database (and its roles, for a ``roles:`` entry); while the server has
    no connection to spare (the tests' own engines at their peak), wait and try again:
    this is clean-up, not the test."""
    from isles.storage.provision import drop_roles

    roles = entry.startswith(ROLES)
    url = make_url(entry.removeprefix(ROLES))
    for attempt in range(60):
        try:
            asyncio.run(drop_postgres_database(url))
            if roles:
                asyncio.run(drop_roles(url.set(database="postgres"), url.database or ""))
            return
        except Exception as exc:
            if "too many clients" not in str(exc) or attempt == 59:
                raise
            time.sleep(1)


class HeldDrops:
    """PostgreSQL databases made for a test whose drops stay in flight until
    :meth:`release`: an open transaction on another database has commented on each,
    and holds a lock that a DROP DATABASE waits for (``WITH (FORCE)`` ends only the
    sessions connected to the database itself). :meth:`in_flight` says which of them a
    DROP DATABASE is waiting on now: drops side by side are all there at once."""

    def __init__(self, count: int) -> None:
        self.names = [f"isles_drop_{uuid.uuid4().hex[:8]}_{i}" for i in range(count)]
        self.urls = [f"{PG_SERVER}/{name}" for name in self.names]
        self._admin = PG_SERVER.replace("postgresql+asyncpg://", "postgresql://") + "/postgres"
        self._holder: Any = None
        self._tx: Any = None

    async def hold(self) -> None:
        from isles.storage.db import connect_waiting

        admin = await connect_waiting(self._admin)
        try:
            for name in self.names:
                await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        self._holder = await connect_waiting(self._admin)
        self._tx = self._holder.transaction()
        await self._tx.start()
        for name in self.names:
            await self._holder.execute(f"COMMENT ON DATABASE \"{name}\" IS 'held'")

    async def in_flight(self, within: float = 30.0) -> set[str]:
        """Those databases with a DROP DATABASE waiting, once all are or ``within`` s."""
        from isles.storage.db import connect_waiting

        seen: set[str] = set()
        deadline = time.monotonic() + within
        # Not the holder's connection: in its transaction pg_stat_activity stays as first read.
        conn = await connect_waiting(self._admin)
        try:
            while time.monotonic() < deadline and seen != set(self.names):
                rows = await conn.fetch("SELECT query FROM pg_stat_activity WHERE query LIKE 'DROP DATABASE%'")
                seen = {name for name in self.names for row in rows if f'"{name}"' in row["query"]}
                await asyncio.sleep(0.2)
        finally:
            await conn.close()
        return seen

    async def release(self) -> None:
        if self._holder is not None:
            await self._tx.rollback()
            await self._holder.close()
            self._holder = None

    async def left(self) -> list[str]:
        """Those of the databases that still exist."""
        from isles.storage.db import connect_waiting

        conn = await connect_waiting(self._admin)
        try:
            rows = await conn.fetch("SELECT datname FROM pg_database WHERE datname = ANY($1::text[])", self.names)
        finally:
            await conn.close()
        return sorted(r["datname"] for r in rows)


def hand_over_drops(also: Iterable[str] = ()) -> None:
    """At the end of a test session: the drops done so far must have worked (their
    errors surface here); those not started yet, and ``also`` (the templates), go to a
    process of their own (``python -m tests.dropper``) that outlives the session. The
    drops queue behind each other's checkpoints; waiting for them took a minute at
    the end of every run (the one in progress finishes in this process)."""
    left = [url for url, future in _DROPS if future.cancel()]
    for _url, future in _DROPS:
        if future.done() and not future.cancelled():
            future.result()
    _DROPS.clear()
    urls = [*left, *also]
    if not urls:
        return
    log = Path(tempfile.gettempdir()) / "isles-test-drops.log"
    # Started by a shell that exits at once (the dropper is nobody's child to wait for).
    subprocess.run(
        ["sh", "-c", f'"{sys.executable}" -m tests.dropper "$@" >>"{log}" 2>&1 &', "dropper", *urls],
        cwd=Path(__file__).resolve().parent.parent,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        check=True,
    )


def make_backend(name: str, tmp_path: Path, **overrides: object) -> Backend:
    options = {"data_dir": tmp_path, "keys_dir": tmp_path / "keys", "generate_keys": True, **FAST, **overrides}
    if name == "sqlite":
        return Backend(name, IslesSettings(**options))  # type: ignore[arg-type]
    require_postgres()
    prefix = f"isles_t_{uuid.uuid4().hex[:12]}"
    settings = IslesSettings(database_url=f"{PG_SERVER}/{prefix}_{{service}}", **options)  # type: ignore[arg-type]
    return Backend(name, settings, prefix)


class Templates:
    """Migrated databases of a system, made once per test session and copied for each
    test: a file copy on SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL. Each
    test still gets databases of its own; it only skips running every migration."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._made: dict[tuple[str, str], tuple[Backend, list[str]]] = {}

    async def clone(self, system: System, backend: Backend) -> None:
        """Give ``backend`` the migrated databases of ``system``'s services."""
        key = (system.name, backend.name)
        if key not in self._made:
            template = make_backend(backend.name, self.root / f"{system.name}-{backend.name}")
            runtime = SystemRuntime(system, template.settings, environ={})
            try:
                await runtime.prepare()
            finally:
                for rt in runtime.services.values():
                    await rt.db.dispose()
            self._made[key] = (template, [s.name for s in system.services])
        template, names = self._made[key]
        if backend.name == "sqlite":
            target = backend.settings.data_dir
            target.mkdir(parents=True, exist_ok=True)
            for name in names:
                shutil.copyfile(template.settings.data_dir / f"{name}.db", target / f"{name}.db")
            return
        from isles.storage.db import connect_waiting

        admin = make_url(PG_SERVER).set(drivername="postgresql", database="postgres")
        conn = await connect_waiting(admin.render_as_string(hide_password=False))
        try:
            for name in names:
                await conn.execute(f'CREATE DATABASE "{backend.prefix}_{name}" TEMPLATE "{template.prefix}_{name}"')
        finally:
            await conn.close()

    def urls(self) -> list[str]:
        """The template databases on PostgreSQL (to drop at the end of the session)."""
        return [t.url(n) for t, names in self._made.values() if t.name == "postgres" for n in names]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: The operator's headers for each system ``isles_up`` started (by base URL).
AUTH: dict[str, dict[str, str]] = {}


@contextmanager
def isles_up(
    *args: str,
    env: dict[str, str] | None = None,
    wait_for: str = "/health",
    timeout: float = 60,
    preloaded: bool = False,
) -> Iterator[tuple[Any, str]]:
    """Run ``isles up --port <free> *args`` as a real process until ``wait_for`` answers
    200; yield it and its base URL; kill it on the way out if it still runs.

    ``preloaded``: forked from this test process's preloader (:mod:`tests.preload`),
    which has imported the platform already — for a test that starts and kills many
    servers and is not about the start itself. The process yielded then has the part of
    ``Popen`` the tests use (``poll``, ``wait``, ``kill``, ``send_signal``,
    ``communicate``)."""
    port = free_port()
    env = dict(os.environ if env is None else env)
    if "ISLES_KEYS_DIR" not in env:
        env["ISLES_KEYS_DIR"] = tempfile.mkdtemp(prefix="isles-keys-")
    argv = ["up", "--port", str(port), *args]
    proc: Any
    if preloaded:
        from tests import preload

        proc = preload.start(argv, env)
    else:
        proc = subprocess.Popen(
            [sys.executable, "-m", "isles.cli", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
    base = f"http://127.0.0.1:{port}"
    AUTH[base] = operator_headers(Path(env["ISLES_KEYS_DIR"]))
    try:
        deadline = time.monotonic() + timeout
        # One client for the polling: each httpx.get() would build an SSL context
        # (tens of milliseconds of CPU), ten times a second, while the process starts.
        with httpx.Client(timeout=1) as poll:
            while True:
                try:
                    if poll.get(f"{base}{wait_for}").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None:
                    raise AssertionError(f"isles up ended with {proc.returncode}:\n{output_of(proc)[-3000:]}")
                if time.monotonic() >= deadline:  # say what the process was doing
                    proc.kill()
                    output = output_of(proc)[-3000:]
                    raise AssertionError(f"isles up: {wait_for} did not answer in {timeout} s; its output:\n{output}")
                time.sleep(0.1)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.kill()
        if preloaded or (proc.stdout is not None and not proc.stdout.closed):
            proc.communicate(timeout=30)


def output_of(proc: Any) -> str:
    """What a process started by :func:`isles_up` printed (it is waited for first)."""
    return str(proc.communicate(timeout=30)[0] or "")


NATS_URL = os.environ.get("ISLES_TEST_NATS", "nats://127.0.0.1:4222")
NATS_SERVER_BIN = "/usr/sbin/nats-server"


def require_nats() -> None:
    """Skip without NATS — except under CI, where its absence is a failure."""
    url = make_url(NATS_URL.replace("nats://", "nats+x://"))
    if _reachable(url.host or "127.0.0.1", url.port or 4222):
        return
    if IN_CI:
        pytest.fail(f"NATS is required under CI and is not reachable at {NATS_URL}")
    pytest.skip("NATS is not running here")


REDIS_URL = os.environ.get("ISLES_TEST_REDIS", "redis://127.0.0.1:6379/0")


def require_redis() -> str:
    """The test Redis's URL; skip without it — except under CI, where its absence is a failure."""
    url = make_url(REDIS_URL.replace("redis://", "redis+x://"))
    if _reachable(url.host or "127.0.0.1", url.port or 6379):
        return REDIS_URL
    if IN_CI:
        pytest.fail(f"Redis is required under CI and is not reachable at {REDIS_URL}")
    pytest.skip("Redis is not running here")


def nats_prefix() -> str:
    """A subject and stream prefix of one test's own, so tests never share streams."""
    return f"t{uuid.uuid4().hex[:10]}"


async def delete_streams(url: str, prefix: str) -> None:
    import nats

    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        jsm = nc.jsm()
        for info in await jsm.streams_info():
            if info.config.name and info.config.name.startswith(prefix.upper() + "_"):
                await jsm.delete_stream(info.config.name)
    finally:
        await nc.close()


class NatsServer:
    """A nats-server of a test's own (JetStream, file storage in ``store``), which the
    test may kill and start again on the same port with the same storage."""

    def __init__(self, store: Path, *, config: Path | None = None) -> None:
        if not Path(NATS_SERVER_BIN).exists():
            if IN_CI:
                pytest.fail(f"{NATS_SERVER_BIN} is required under CI")
            pytest.skip("nats-server is not installed here")
        self.store = store
        self.config = config
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        config = ["-c", str(self.config)] if self.config is not None else []
        self.proc = subprocess.Popen(
            [NATS_SERVER_BIN, *config, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while not _reachable("127.0.0.1", self.port):
            assert self.proc.poll() is None, "nats-server exited at start"
            assert time.monotonic() < deadline, "nats-server did not listen within 15 s"
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def __enter__(self) -> NatsServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def operator_headers(keys: Path) -> dict[str, str]:
    """An operator's bearer token from the keys folder a running system uses."""
    from isles.security.tokens import OPERATOR, KeyRing, generate_keys

    generate_keys(keys, [OPERATOR])
    signer = KeyRing.load(keys, signers=[OPERATOR]).signer(OPERATOR, ttl=3600)
    return {"Authorization": f"Bearer {signer.issue(subject='operator', tenant=None)}"}


PG_BIN = Path("/usr/lib/postgresql/15/bin")


class TlsPostgres:
    """A PostgreSQL cluster of a test's own that accepts TLS connections only
    (``hostssl`` trust, ``hostnossl`` reject), with a server certificate from
    ``isles certs``. Runs as the ``postgres`` user in a folder it owns."""

    def __init__(self, cert: Path, key: Path) -> None:
        import pwd

        if not (PG_BIN / "initdb").exists():
            if IN_CI:
                pytest.fail(f"{PG_BIN}/initdb is required under CI")
            pytest.skip("PostgreSQL server binaries are not installed here")
        self.base = Path(tempfile.mkdtemp(prefix="isles-tlspg-"))
        self.data = self.base / "data"
        self.port = free_port()
        owner = pwd.getpwnam("postgres")
        os.chmod(self.base, 0o755)
        os.chown(self.base, owner.pw_uid, owner.pw_gid)
        self._as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"])
        for source, target in ((cert, "server.crt"), (key, "server.key")):
            shutil.copy(source, self.data / target)
            os.chown(self.data / target, owner.pw_uid, owner.pw_gid)
            os.chmod(self.data / target, 0o600)
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.base}'\n"
                "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nfsync = off\n"
            )
        (self.data / "pg_hba.conf").write_text(
            "hostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\nlocal all all trust\n"
        )
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}"

    def _as_postgres(self, argv: list[str]) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True, capture_output=True, timeout=120)

    def __enter__(self) -> TlsPostgres:
        self._as_postgres(
            [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.base / "log"), "-w", "-t", "60", "start"]
        )
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self._as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(self.base, ignore_errors=True)


def check_attempts(definition: Any, saga: Any) -> None:
    """A saga killed and resumed (the crash tests): every step attempted within its
    definition's ``max_attempts``. The kill cuts off one attempt; after the restart a
    step that calls another service may itself get no definite answer within its
    timeout when the machine is loaded (the answer outlasting it: CreateEmployee's
    ``create_user``, 5 s, was attempted 3 times in three CI runs of a loaded machine)
    and is retried with the same idempotency key, as the saga's design says. So more
    than two attempts are no fault; one effect per step is what counts, and the
    tests count the effects."""
    limits = {step.name: step.max_attempts for step in definition.steps}
    for step in saga.steps:
        assert step.attempts <= limits[step.name], f"{step.name}: over its max_attempts: {saga.as_dict()}"
