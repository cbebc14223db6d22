"""Kernel benchmark (issue 13): the event pipeline and the write path, for embedded
SQLite, embedded PostgreSQL and PostgreSQL + NATS processes, side by side in one run.

Each setup runs the real system as processes: ``isles up --no-demo`` (SQLite files in a
temporary folder, or PostgreSQL databases of the run's own), or one ``isles serve``
process per service over a NATS JetStream server of the run's own. Everything is
measured from outside: HTTP, SQL on the service databases, /proc.

* raw/s: single-row INSERT commits per second on the same server, measured in the
  same run (PostgreSQL: 8 connections; SQLite: one writer, WAL, synchronous=NORMAL).
* write path: renames (PATCH /api/employee/employees/{id}) from 8 and 32 clients,
  each its own keep-alive connection renaming its own employee: renames/s, p50/p99.
* propagation: renames offered open loop at a fixed rate; per event, the project
  inbox's processed_at minus the employee outbox's created_at: p50/p99/max.
* pipeline: N EmployeeUpdated events over A synthetic employees of a real company,
  written straight into the employee outbox in a few transactions; from the first
  commit until each consuming service's inbox holds them all: events/s per consumer,
  and the slowest consumer's ratio to raw/s. CPU per event: the system's processes
  (and, on PostgreSQL, its database backends) over that phase, divided by N.
* peak RSS: VmHWM of each system process at the end.

Every phase is bounded in time; a bound that cuts a phase short is reported with
what was reached. The run checks that every event reached every consumer, that no
dead letter was written and that every rename was answered 200.

Progress goes to stderr, the table to stdout.

    python benchmarks/kernel.py                       # full: 20,000 events over 1,000 aggregates
    python benchmarks/kernel.py --quick               # what `make bench` runs (under two minutes)
    python benchmarks/kernel.py --quick --setups sqlite,postgres --events 5000
    python benchmarks/kernel.py --quick --setups nats,nats-tls   # the cost of TLS to NATS
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from hrms.contracts.employee import EmployeeCreated, EmployeeUpdated  # noqa: E402
from isles.core.events import Envelope  # noqa: E402
from isles.core.settings import IslesSettings  # noqa: E402
from isles.security.certs import issue  # noqa: E402
from isles.storage.db import connect_waiting, drop_postgres_databases  # noqa: E402
from tests.hrms.cluster import FAST_ENV, Cluster  # noqa: E402
from tests.support import PG_SERVER, free_port, operator_headers  # noqa: E402

UPDATED = EmployeeUpdated.event_type
CONSUMERS = ("project", "company", "notification")  # every service that applies EmployeeUpdated
BENCH_APP = "isles-kernel-bench"  # application_name of the benchmark's own PostgreSQL connections
SETUPS = {
    "sqlite": "embedded SQLite",
    "postgres": "embedded PostgreSQL",
    "nats": "PostgreSQL + NATS",
    "nats-tls": "PostgreSQL + NATS/TLS",
}


_T0 = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - _T0:6.1f} s] {message}", file=sys.stderr, flush=True)


# --- sizes ---------------------------------------------------------------------------


@dataclass
class Sizes:
    events: int
    aggregates: int
    pipeline_bound: float  # seconds the pipeline may take before what was reached is reported
    clients: tuple[int, ...]
    write_seconds: float
    rate: float
    propagation_seconds: float
    raw_seconds: float
    drain_bound: float  # seconds to wait for a backlog to clear between phases


FULL = Sizes(20_000, 1_000, 300.0, (8, 32), 10.0, 200.0, 10.0, 5.0, 120.0)
QUICK = Sizes(8_000, 1_000, 6.0, (8, 32), 1.5, 200.0, 2.0, 1.0, 2.0)


# --- processes -----------------------------------------------------------------------


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
    return found


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


class CpuMeter:
    """CPU seconds of a changing set of processes, from first to last sight of each."""

    def __init__(self) -> None:
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}

    def sample(self, pids: Sequence[int], *, new_from_zero: bool) -> None:
        for pid in pids:
            now = cpu_seconds(pid)
            self.first.setdefault(pid, 0.0 if new_from_zero else now)
            self.last[pid] = now

    @property
    def seconds(self) -> float:
        return sum(self.last[p] - self.first[p] for p in self.last)


# --- databases -----------------------------------------------------------------------


def epoch(value: Any) -> float:
    """A timestamp column as epoch seconds (SQLite keeps naive UTC text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return float(value.timestamp())


def pg_dsn(database: str) -> str:
    base = PG_SERVER.replace("postgresql+asyncpg://", "postgresql://")
    return f"{base}/{database}"


async def pg_connect(database: str) -> asyncpg.Connection:
    """A connection of the benchmark's own; waits a little while the shared server is full."""
    for attempt in range(30):
        try:
            return await connect_waiting(pg_dsn(database), server_settings={"application_name": BENCH_APP})
        except asyncpg.TooManyConnectionsError:
            if attempt == 29:
                raise
            await asyncio.sleep(1)
    raise AssertionError("unreachable")


class Db:
    """One service database, as the benchmark reads and writes it: plain SQL with ``?``."""

    sqlite = False

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    async def insert_outbox(self, rows: list[tuple[Any, ...]], channel: str) -> None:
        raise NotImplementedError

    def uuid(self, value: uuid.UUID) -> Any:
        return value.hex if self.sqlite else value

    def ts(self, value: datetime) -> Any:
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else value

    def as_text(self, column: str) -> str:
        return column if self.sqlite else f"{column}::text"

    async def scalar(self, sql: str, *args: Any) -> Any:
        rows = await self.fetch(sql, *args)
        return rows[0][0] if rows else None

    async def close(self) -> None:
        pass


OUTBOX_COLUMNS = (
    "event_id",
    "event_type",
    "aggregate_type",
    "aggregate_id",
    "aggregate_version",
    "tenant_id",
    "payload",
    "created_at",
)


class PgDb(Db):
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    @classmethod
    async def open(cls, database: str) -> PgDb:
        return cls(await pg_connect(database))

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        parts = sql.split("?")
        sql = parts[0] + "".join(f"${i}{p}" for i, p in enumerate(parts[1:], 1))
        return [tuple(r) for r in await self.conn.fetch(sql, *args)]

    async def insert_outbox(self, rows: list[tuple[Any, ...]], channel: str) -> None:
        async with self.conn.transaction():
            await self.conn.copy_records_to_table("isles_outbox_events", records=rows, columns=OUTBOX_COLUMNS)
            await self.conn.execute("SELECT pg_notify($1, '')", channel)  # wakes the relay at commit

    async def close(self) -> None:
        await self.conn.close()


class SqliteDb(Db):
    sqlite = True

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA busy_timeout=30000")

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        return await asyncio.to_thread(lambda: list(self.conn.execute(sql, args).fetchall()))

    async def insert_outbox(self, rows: list[tuple[Any, ...]], channel: str) -> None:
        sql = f"INSERT INTO isles_outbox_events ({', '.join(OUTBOX_COLUMNS)}) VALUES ({', '.join('?' * 8)})"

        def write() -> None:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany(sql, rows)
            self.conn.execute("COMMIT")

        await asyncio.to_thread(write)

    async def close(self) -> None:
        self.conn.close()


async def raw_postgres(seconds: float, writers: int = 8) -> float:
    """Single-row INSERT commits per second from ``writers`` connections (autocommit)."""
    name = f"isles_kb_raw_{uuid.uuid4().hex[:8]}"
    admin = await pg_connect("postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        setup = await pg_connect(name)
        await setup.execute("CREATE TABLE raw (id bigserial PRIMARY KEY, payload text NOT NULL)")
        await setup.close()
        payload, done = "x" * 700, 0  # about one event envelope
        conns = [await pg_connect(name) for _ in range(writers)]
        deadline = time.perf_counter() + seconds

        async def writer(conn: asyncpg.Connection) -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await conn.execute("INSERT INTO raw (payload) VALUES ($1)", payload)
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(writer(c) for c in conns))
        rate = done / (time.perf_counter() - start)
        for c in conns:
            await c.close()
        return rate
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def raw_sqlite(path: Path, seconds: float) -> float:
    """Single-row INSERT commits per second, one writer, the kernel's pragmas."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE raw (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
        payload, done = "x" * 700, 0
        start = time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO raw (payload) VALUES (?)", (payload,))
            conn.execute("COMMIT")
            done += 1
        return done / (time.perf_counter() - start)
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


# --- setups --------------------------------------------------------------------------


def _default_env() -> dict[str, str]:
    """The platform's defaults for the knobs ``Cluster`` tunes for fault tests: the
    benchmark measures the system as shipped."""
    fields = IslesSettings.model_fields
    env = {}
    for key in FAST_ENV:
        name = key.removeprefix("ISLES_").lower()
        if name in fields and fields[name].default is not None:
            env[key] = str(fields[name].default)
    return env


class Setup:
    """A running system: where its APIs answer, its databases, its processes."""

    key: str
    headers: dict[str, str]
    pg_prefix: str | None = None  # PostgreSQL database names start with it

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def url(self, service: str) -> str:
        raise NotImplementedError

    def processes(self) -> dict[str, int]:
        raise NotImplementedError

    async def db(self, service: str) -> Db:
        if self.pg_prefix is None:
            raise NotImplementedError
        return await PgDb.open(f"{self.pg_prefix}_{service}")

    async def raw_rate(self, seconds: float) -> float:
        return await raw_postgres(seconds)

    @property
    def label(self) -> str:
        return SETUPS[self.key]


class Embedded(Setup):
    """``isles up --no-demo``: every service in one process, the embedded bus."""

    def __init__(self, key: str, root: Path) -> None:
        self.key, self.root = key, root
        self.port = free_port()
        self.keys = root / "keys"
        self.data = root / "data"
        self.headers = operator_headers(self.keys)
        self.log = root / "isles-up.log"
        self.proc: subprocess.Popen[bytes] | None = None
        if key == "postgres":
            self.pg_prefix = f"isles_kb_{uuid.uuid4().hex[:8]}"

    def _spawn(self) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "isles.cli", "up", "--no-demo", "--port", str(self.port)]
        cmd += ["--data-dir", str(self.data)]
        if self.pg_prefix is not None:
            cmd += ["--database-url", f"{PG_SERVER}/{self.pg_prefix}_{{service}}"]
        env = {**os.environ, "ISLES_KEYS_DIR": str(self.keys), "ISLES_LOG_LEVEL": "error"}
        with self.log.open("wb") as out:
            return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.root)

    async def start(self) -> None:
        self.proc = self._spawn()
        async with httpx.AsyncClient(timeout=2) as client:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"{self.url('employee')}/ready")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"isles up did not become ready:\n{self.log.read_text()[-3000:]}")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # nothing of it is kept: no need to wait for a graceful stop
            self.proc.wait()
        if self.pg_prefix is not None:
            await drop_databases(self.pg_prefix)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.port}"

    def processes(self) -> dict[str, int]:
        assert self.proc is not None
        return {"isles up": self.proc.pid}

    async def db(self, service: str) -> Db:
        if self.pg_prefix is None:
            return SqliteDb(self.data / f"{service}.db")
        return await super().db(service)

    async def raw_rate(self, seconds: float) -> float:
        if self.pg_prefix is None:
            return await asyncio.to_thread(raw_sqlite, self.root / "raw.db", seconds)
        return await super().raw_rate(seconds)


class Distributed(Setup):
    """One ``isles serve`` process per service, each on its own PostgreSQL database,
    over a NATS JetStream server of the run's own."""

    def __init__(self, root: Path, *, tls: bool = False) -> None:
        self.key = "nats-tls" if tls else "nats"
        env = {**_default_env(), "ISLES_LOG_LEVEL": "error", "ISLES_DATA_DIR": str(root / "data")}
        config = None
        if tls:  # a NATS server that accepts TLS only; every service verifies its certificate
            pair = issue(root / "certs", "nats", ["127.0.0.1", "localhost"])
            config = root / "nats.conf"
            config.write_text(f'tls {{\n  cert_file: "{pair.cert}"\n  key_file: "{pair.key}"\n}}\n')
            env["ISLES_NATS_TLS_CA"] = str(root / "certs" / "ca.pem")
        self.cluster = Cluster(root, extra_env=env)
        self.cluster.nats.config = config
        self.headers = self.cluster.headers
        self.pg_prefix = self.cluster.prefix

    async def start(self) -> None:
        # Cluster.start, with room for a slow start on a busy machine.
        self.cluster.nats.start()
        for service in self.cluster.services.values():
            service.start()
        for service in self.cluster.services.values():
            await service.wait_ready(timeout=180)

    async def stop(self) -> None:
        await self.cluster.stop()

    def url(self, service: str) -> str:
        return self.cluster[service].url

    def processes(self) -> dict[str, int]:
        procs = {name: s.proc.pid for name, s in self.cluster.services.items() if s.proc is not None}
        if self.cluster.nats.proc is not None:
            procs["nats-server"] = self.cluster.nats.proc.pid
        return procs


async def drop_databases(prefix: str) -> None:
    """Drop the databases of a setup, side by side (they share the checkpoints a drop waits for)."""
    from sqlalchemy.engine import make_url

    admin = await pg_connect("postgres")
    try:
        rows = await admin.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", f"{prefix}\\_%")
    finally:
        await admin.close()
    await drop_postgres_databases(make_url(f"{PG_SERVER}/{name}") for (name,) in rows)


# --- a cheap HTTP client -------------------------------------------------------------


class Http:
    """One keep-alive HTTP/1.1 connection over asyncio streams: the load generator
    shares the cores with the system, so it spends as little as it can."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        host, _, port = base.removeprefix("http://").partition(":")
        self.host, self.port = host, int(port)
        self.head = f"Host: {host}:{port}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(self, method: str, path: str, body: bytes) -> int:
        """The answer's status; 0 if the connection failed."""
        try:
            await self.connect()
            assert self.reader is not None
            assert self.writer is not None
            self.writer.write(
                f"{method} {path} HTTP/1.1\r\n{self.head}Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            headers = {k.strip().lower(): v.strip().lower() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
            if "content-length" in headers:
                await self.reader.readexactly(int(headers["content-length"]))
            elif headers.get("transfer-encoding") == "chunked":
                while size := int((await self.reader.readline()).split(b";")[0], 16):
                    await self.reader.readexactly(size + 2)
                await self.reader.readline()
            if headers.get("connection") == "close":
                await self.close()
            return status
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            await self.close()
            return 0

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


# --- the figures ---------------------------------------------------------------------


@dataclass
class Write:
    clients: int
    renames: int = 0
    rate: float = 0.0
    p50: float = 0.0
    p99: float = 0.0
    generator_cpu: float = 0.0  # seconds of the benchmark process while generating
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)


@dataclass
class Propagation:
    offered: float = 0.0
    seconds: float = 0.0
    sent: int = 0
    dropped: int = 0  # no idle connection at the scheduled instant
    ok: int = 0
    achieved: float = 0.0
    seen: int = 0
    expected: int = 0
    p50: float = 0.0
    p99: float = 0.0
    max: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)


@dataclass
class Pipeline:
    events: int = 0
    aggregates: int = 0
    applied: dict[str, int] = field(default_factory=dict)  # consumer -> processed
    reached: dict[str, int] = field(default_factory=dict)  # consumer -> inbox rows (any status)
    rates: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    complete: bool = False
    replicas_current: int = 0
    cpu_system: float = 0.0
    cpu_db: float | None = None


@dataclass
class Result:
    setup: str
    raw: float = 0.0
    writes: list[Write] = field(default_factory=list)
    propagation: Propagation = field(default_factory=Propagation)
    pipeline: Pipeline = field(default_factory=Pipeline)
    rss: dict[str, float] = field(default_factory=dict)
    dead_letters: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def non_200(self) -> int:
        answers = Counter[int]()
        for w in self.writes:
            answers.update(w.statuses)
        answers.update(self.propagation.statuses)
        return sum(n for status, n in answers.items() if status != 200)


def quantiles(values: list[float]) -> tuple[float, float, float]:
    if not values:
        return 0.0, 0.0, 0.0
    values = sorted(values)
    p99 = statistics.quantiles(values, n=100, method="inclusive")[98] if len(values) > 1 else values[0]
    return statistics.median(values), p99, values[-1]


# --- the phases ----------------------------------------------------------------------


async def seed(setup: Setup, employees: int) -> tuple[str, list[str]]:
    """A company, ``employees`` employees each with one assignment (not measured)."""
    async with httpx.AsyncClient(timeout=60, headers=setup.headers) as client:

        async def post(service: str, path: str, body: dict[str, Any]) -> str:
            r = await client.post(f"{setup.url(service)}/api/{service}/{path}", json=body)
            if r.status_code not in (200, 201):
                raise RuntimeError(f"seeding: POST {path} answered {r.status_code}: {r.text[:500]}")
            return str(r.json()["id"])

        company = await post("company", "companies", {"name": "Kernel Bench Co"})
        gate = asyncio.Semaphore(4)

        async def employee(i: int) -> str:
            body = {
                "employee_number": f"KB-{i}",
                "company_id": company,
                "first_name": "Bench",
                "last_name": f"Writer{i}",
                "email": f"kb{i}@example.com",
                "hire_date": "2024-01-01",
            }
            async with gate:
                return await post("employee", "employees", body)

        ids = list(await asyncio.gather(*(employee(i) for i in range(employees))))
        log("  seeded employees")
        project = await post(
            "project", "projects", {"name": "KB", "client": "KB", "capacity": 1000, "company_id": company}
        )

        async def assign(e: str) -> None:
            body = {"employee_id": e, "project_id": project, "role": "KB", "allocation": 10, "start_date": "2025-01-01"}
            async with gate:
                await post("project", "assignments", body)

        await asyncio.gather(*(assign(e) for e in ids))
    return company, ids


async def backlog(dbs: dict[str, Db]) -> int:
    """Employee events (created, updated) not yet in the inbox of every consumer."""
    types = (EmployeeCreated.event_type, UPDATED)
    sql = "SELECT COUNT(*) FROM {} WHERE event_type IN (?, ?)"
    published = await dbs["employee"].scalar(sql.format("isles_outbox_events"), *types)
    seen = [await dbs[c].scalar(sql.format("isles_inbox_events"), *types) for c in CONSUMERS]
    return max(int(published) - int(s) for s in seen)


async def drain(dbs: dict[str, Db], bound: float, result: Result, before: str) -> None:
    deadline = time.monotonic() + bound
    while (left := await backlog(dbs)) > 0:
        if time.monotonic() > deadline:
            result.notes.append(f"{left} employee events still in flight after {bound:.0f} s, before {before}")
            return
        await asyncio.sleep(0.2)


async def write_path(setup: Setup, ids: list[str], clients: int, seconds: float) -> Write:
    """Each client renames its own employee over its own connection, back to back."""
    conns = [Http(setup.url("employee"), setup.headers) for _ in range(clients)]
    for c in conns:
        await c.connect()
    out = Write(clients)
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client(i: int) -> None:
        path, n = f"/api/employee/employees/{ids[i % len(ids)]}", 0
        while time.perf_counter() < deadline:
            n += 1
            body = json.dumps({"last_name": f"W{clients}x{i}x{n}"}).encode()
            t = time.perf_counter()
            status = await conns[i].request("PATCH", path, body)
            latencies.append((time.perf_counter() - t) * 1000)
            out.statuses[status] += 1

    cpu, start = time.process_time(), time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    out.seconds = time.perf_counter() - start
    out.generator_cpu = time.process_time() - cpu
    for c in conns:
        await c.close()
    out.renames = out.statuses[200]
    out.rate = out.renames / out.seconds
    out.p50, out.p99, _ = quantiles(latencies)
    return out


async def propagation(setup: Setup, dbs: dict[str, Db], ids: list[str], sizes: Sizes) -> Propagation:
    """Renames offered open loop at ``sizes.rate``; each on an idle connection of its
    employee (none idle: dropped, so a slow system is reported, not queued without end)."""
    out = Propagation(offered=sizes.rate, seconds=sizes.propagation_seconds)
    emp, project = dbs["employee"], dbs["project"]
    mark = int(await emp.scalar("SELECT COALESCE(MAX(id), 0) FROM isles_outbox_events"))
    since = datetime.now(UTC)
    conns = [Http(setup.url("employee"), setup.headers) for _ in ids]
    for c in conns:
        await c.connect()
    idle, tasks = deque(range(len(ids))), set()

    async def rename(j: int, i: int) -> None:
        status = await conns[j].request(
            "PATCH", f"/api/employee/employees/{ids[j]}", f'{{"last_name":"P{i}"}}'.encode()
        )
        out.statuses[status] += 1
        idle.append(j)

    start = time.perf_counter()
    for i in range(int(sizes.rate * sizes.propagation_seconds)):
        delay = start + i / sizes.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if not idle:
            out.dropped += 1
            continue
        out.sent += 1
        task = asyncio.create_task(rename(idle.popleft(), i))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=sizes.drain_bound)
    for c in conns:
        await c.close()
    out.ok = out.statuses[200]
    out.achieved = out.ok / sizes.propagation_seconds

    deadline = time.monotonic() + sizes.drain_bound
    while True:
        written = await emp.fetch(
            "SELECT event_id, created_at FROM isles_outbox_events WHERE id > ? AND event_type = ?", mark, UPDATED
        )
        applied = await project.fetch(
            "SELECT event_id, processed_at FROM isles_inbox_events WHERE event_type = ? AND status = 'processed' "
            "AND processed_at >= ?",
            UPDATED,
            project.ts(since),
        )
        done = {uuid.UUID(str(e)): epoch(t) for e, t in applied}
        pairs = [(epoch(t), done.get(uuid.UUID(str(e)))) for e, t in written]
        if all(b is not None for _, b in pairs) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    latencies = [(b - a) * 1000 for a, b in pairs if b is not None]
    out.expected, out.seen = len(pairs), len(latencies)
    out.p50, out.p99, out.max = quantiles(latencies)
    return out


def pipeline_rows(
    db: Db, company: str, source: str, events: int, aggregates: int, tag: str
) -> tuple[list[list[tuple[Any, ...]]], dict[uuid.UUID, int]]:
    """The events as outbox rows, version 1..k of every aggregate in position order,
    cut into a few transactions of at most 5,000 rows; and each aggregate's last version."""
    per = -(-events // aggregates)
    people = [uuid.UUID(tag + uuid.uuid4().hex[8:]) for _ in range(aggregates)]
    users = [uuid.uuid4() for _ in range(aggregates)]
    rows: list[tuple[Any, ...]] = []
    final: dict[uuid.UUID, int] = {}
    for version in range(1, per + 1):
        for n, person in enumerate(people):
            if len(rows) == events:
                break
            event = EmployeeUpdated(
                id=person,
                employee_number=f"KP-{n}",
                company_id=uuid.UUID(company),
                user_id=users[n],
                first_name="Pipeline",
                last_name=f"V{version}",
                email=f"kp{n}@example.com",
                is_active=True,
                changes=["last_name"],
            )
            env = Envelope.new(
                event,
                source=source,
                aggregate_type="employee",
                aggregate_id=str(person),
                aggregate_version=version,
                tenant_id=company,
                traceparent=f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01",
            )
            row = (db.uuid(uuid.UUID(env.id)), env.type, env.aggregatetype, env.aggregateid, version, company)
            rows.append((*row, env.to_json()))
            final[person] = version
    size = min(5000, max(1, -(-len(rows) // 4)))
    return [rows[i : i + size] for i in range(0, len(rows), size)], final


async def pipeline(setup: Setup, dbs: dict[str, Db], company: str, sizes: Sizes) -> Pipeline:
    emp = dbs["employee"]
    out = Pipeline(events=sizes.events, aggregates=min(sizes.aggregates, sizes.events))
    first = (await emp.fetch("SELECT payload FROM isles_outbox_events ORDER BY id LIMIT 1"))[0][0]
    source = Envelope.from_json(first).source  # whatever the kernel writes
    tag = uuid.uuid4().hex[:8]
    batches, final = pipeline_rows(emp, company, source, out.events, out.aggregates, tag)
    system, backends = CpuMeter(), CpuMeter()
    pids = [p for pid in setup.processes().values() for p in _tree(pid)]
    admin = await PgDb.open("postgres") if setup.pg_prefix else None

    async def sample_backends(new_from_zero: bool) -> None:
        if admin is not None:
            rows = await admin.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname LIKE ? AND application_name <> ?",
                f"{setup.pg_prefix}\\_%",
                BENCH_APP,
            )
            backends.sample([r[0] for r in rows], new_from_zero=new_from_zero)

    system.sample(pids, new_from_zero=False)
    await sample_backends(False)
    t0 = 0.0
    for batch in batches:
        now = emp.ts(datetime.now(UTC))
        await emp.insert_outbox([(*r, now) for r in batch], "isles_outbox_employee")
        t0 = t0 or time.time()
    log(f"  pipeline: {out.events} events over {out.aggregates} aggregates written in {len(batches)} transactions")
    count = "SELECT COUNT(*), SUM(CASE WHEN status = 'processed' THEN 1 ELSE 0 END), MAX(processed_at) "
    count += "FROM isles_inbox_events WHERE aggregate_id LIKE ?"
    deadline, last = t0 + sizes.pipeline_bound, dict.fromkeys(CONSUMERS, 0.0)
    while True:
        for c in CONSUMERS:
            reached, applied, latest = (await dbs[c].fetch(count, f"{tag}%"))[0]
            out.reached[c], out.applied[c] = int(reached), int(applied or 0)
            last[c] = epoch(latest) if latest is not None else t0
        system.sample(pids, new_from_zero=False)
        await sample_backends(True)
        out.complete = all(out.reached[c] >= out.events for c in CONSUMERS)
        if out.complete or time.time() > deadline:
            break
        await asyncio.sleep(0.25)
    out.seconds = max(last.values()) - t0
    out.rates = {c: out.applied[c] / (last[c] - t0) if last[c] > t0 else 0.0 for c in CONSUMERS}
    done = max(1, min(out.applied.values()))
    out.cpu_system = system.seconds / done
    if admin is not None:
        out.cpu_db = backends.seconds / done
        await admin.close()
    project = dbs["project"]
    copies = await project.fetch(
        f"SELECT id, version FROM employee_copies WHERE {project.as_text('id')} LIKE ?", f"{tag}%"
    )
    out.replicas_current = sum(1 for key, version in copies if final.get(uuid.UUID(str(key))) == version)
    return out


async def measure(setup: Setup, sizes: Sizes) -> Result:
    result = Result(setup.label)
    log(f"{setup.label}: raw commit rate ...")
    result.raw = await setup.raw_rate(sizes.raw_seconds)
    dbs: dict[str, Db] = {}
    try:
        log(f"{setup.label}: starting ...")
        await setup.start()
        for service in ("employee", *CONSUMERS, "auth"):
            dbs[service] = await setup.db(service)
        log(f"{setup.label}: seeding ...")
        company, ids = await seed(setup, max(sizes.clients))
        await drain(dbs, sizes.drain_bound, result, "the write path")
        for clients in sizes.clients:
            log(f"{setup.label}: write path, {_clients(clients)} ...")
            result.writes.append(await write_path(setup, ids, clients, sizes.write_seconds))
        await drain(dbs, sizes.drain_bound, result, "propagation")
        log(f"{setup.label}: propagation at {sizes.rate:.0f}/s ...")
        result.propagation = await propagation(setup, dbs, ids, sizes)
        await drain(dbs, sizes.drain_bound, result, "the pipeline")
        log(f"{setup.label}: pipeline ...")
        result.pipeline = await pipeline(setup, dbs, company, sizes)
        for service, db in dbs.items():
            result.dead_letters[service] = int(await db.scalar("SELECT COUNT(*) FROM isles_dead_letters"))
        result.rss = {name: max(peak_rss_mb(p) for p in _tree(pid)) for name, pid in setup.processes().items()}
    finally:
        for db in dbs.values():
            await db.close()
        log(f"{setup.label}: stopping ...")
        await setup.stop()
        log(f"{setup.label}: stopped")
    return result


# --- the table -----------------------------------------------------------------------


def missed(r: Result, key: str) -> list[str]:
    """The issue's targets this row misses."""
    p = r.pipeline
    slowest = min(p.rates.values()) if p.rates else 0.0
    misses = []
    if slowest < (2000 if key == "sqlite" else 3000):
        misses.append("pipeline")
    if key != "sqlite" and slowest < 0.3 * r.raw:
        misses.append("ratio")
    w32 = [w for w in r.writes if w.clients == 32]
    if w32 and w32[0].rate < 400:
        misses.append("write32")
    pr = r.propagation
    if pr.p99 >= 50 or pr.achieved < 0.95 * pr.offered or pr.seen < pr.expected:
        misses.append("propagation")
    return misses


TARGETS = (
    "targets: pipeline >=3000 events/s per consuming service on PostgreSQL (embedded and NATS) and >=0.3x raw/s, "
    ">=2000 on embedded SQLite; write path >=400 renames/s from 32 clients; propagation p99 <50 ms with the offered "
    "200 renames/s achieved"
)


def _clients(n: int) -> str:
    return f"{n} client{'s' if n > 1 else ''}"


def _n(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(results: list[tuple[str, Result]], sizes: Sizes) -> str:
    """Rows: setups; columns in groups; then the targets in the same columns."""
    groups: list[tuple[str, list[tuple[str, int]]]] = [
        ("", [("setup", 20)]),
        (
            "pipeline: events/s per consumer",
            [("project", 7), ("company", 7), ("notif.", 7), ("raw/s", 6), ("ratio", 6)],
        ),
        *((f"write path, {_clients(c)}", [("ren/s", 5), ("p50 ms", 6), ("p99 ms", 6)]) for c in sizes.clients),
        (f"propagation, {sizes.rate:g}/s offered", [("ren/s", 5), ("p50 ms", 7), ("p99 ms", 7), ("max ms", 7)]),
        ("CPU ms/event", [("procs", 6), ("db", 5)]),
        ("peak RSS", [("MB max", 8)]),
        ("", [("targets missed", 0)]),
    ]

    widths = [max(len(title), sum(w for _, w in cols) + len(cols) - 1) for title, cols in groups]

    def line(cells: list[list[str]]) -> str:
        parts = [
            " ".join(v.rjust(w) for (_, w), v in zip(cols, values, strict=True))
            for (_, cols), values in zip(groups, cells, strict=True)
        ]
        parts[0] = cells[0][0].ljust(widths[0])
        return " | ".join(p.rjust(w) for p, w in zip(parts, widths, strict=True)).rstrip()

    head = " | ".join(title.ljust(w) for (title, _), w in zip(groups, widths, strict=True))
    rows = [head.rstrip(), line([[c for c, _ in cols] for _, cols in groups])]
    rows.append("-" * len(rows[1]))
    for key, r in results:
        p, pr = r.pipeline, r.propagation
        slowest = min(p.rates.values()) if p.rates else 0.0
        ratio = f"{slowest / r.raw:.3f}" if r.raw else "-"
        cells = [
            [r.setup],
            [*(_n(p.rates.get(c)) for c in CONSUMERS), _n(r.raw), ratio + ("*" if not p.complete else "")],
            *([_n(w.rate), _n(w.p50, 1), _n(w.p99, 1)] for w in r.writes),
            [_n(pr.achieved), _n(pr.p50, 1), _n(pr.p99, 1), _n(pr.max, 1)],
            [_n(p.cpu_system * 1000, 2), _n(None if p.cpu_db is None else p.cpu_db * 1000, 2)],
            [_n(max(r.rss.values(), default=0))],
            [" ".join(missed(r, key)) or "none"],
        ]
        rows.append(line(cells))
    target = [
        ["target"],
        [">=3000", ">=3000", ">=3000", "", ">=0.3"],
        *([">=400" if c == 32 else "", "", ""] for c in sizes.clients),
        [f"{sizes.rate:g}", "", "<50", ""],
        ["", ""],
        [""],
        [""],
    ]
    rows.append(line(target))
    return "\n".join(rows)


def details(results: list[tuple[str, Result]]) -> Iterator[str]:
    for _, r in results:
        p, pr = r.pipeline, r.propagation
        dead = sum(r.dead_letters.values())
        reached = ", ".join(f"{c} {p.applied.get(c, 0)}/{p.events}" for c in CONSUMERS)
        if p.complete:
            lost = sum(p.events - p.applied.get(c, 0) for c in CONSUMERS)
            verdict = f"lost: {lost}, dead letters: {dead}"
            yield f"{r.setup}: pipeline {reached} applied in {p.seconds:.1f} s (first commit to last effect)"
        else:
            verdict = f"lost: not known (bound reached before the end), dead letters: {dead}"
            yield f"{r.setup}: pipeline stopped at its bound: {reached} applied in {p.seconds:.1f} s (* rates of that)"
        yield f"  replicas at the final version (project): {p.replicas_current}/{p.aggregates}; {verdict}"
        for w in r.writes:
            share = w.generator_cpu / w.seconds * 100 if w.seconds else 0
            yield (
                f"  write path, {_clients(w.clients)}: {w.renames} renames in {w.seconds:.1f} s, answers "
                f"{dict(w.statuses)}; load generator CPU {w.generator_cpu:.2f} s ({share:.0f}% of one core)"
            )
        yield (
            f"  propagation: {pr.sent} renames sent, {pr.dropped} dropped (no idle connection), {pr.ok} answered 200"
            f" ({pr.achieved:.0f}/s of {pr.offered:.0f}/s offered); effects seen {pr.seen}/{pr.expected}"
        )
        yield "  peak RSS MB: " + ", ".join(f"{name} {mb:.0f}" for name, mb in r.rss.items())
        for note in r.notes:
            yield f"  note: {note}"


# --- main ----------------------------------------------------------------------------


def parse(argv: Sequence[str] | None = None) -> tuple[list[str], Sizes, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        prog="kernel.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short sizes (what `make bench` runs)")
    parser.add_argument(
        "--setups",
        default="sqlite,postgres,nats",
        help="any of sqlite, postgres, nats, nats-tls (default sqlite,postgres,nats)",
    )

    def both(field: str) -> str:
        full, quick = getattr(FULL, field), getattr(QUICK, field)
        return f"(default {full:g})" if full == quick else f"(full {full:g}, quick {quick:g})"

    parser.add_argument("--events", type=int, help=f"pipeline events {both('events')}")
    parser.add_argument("--aggregates", type=int, help=f"aggregates the events are spread over {both('aggregates')}")
    parser.add_argument("--pipeline-bound", type=float, help=f"seconds the pipeline may take {both('pipeline_bound')}")
    parser.add_argument("--clients", help="concurrent clients of the write path, comma-separated (default 8,32)")
    parser.add_argument("--write-seconds", type=float, help=f"seconds per write-path run {both('write_seconds')}")
    parser.add_argument("--rate", type=float, help=f"renames/s offered in the propagation phase {both('rate')}")
    parser.add_argument(
        "--propagation-seconds", type=float, help=f"seconds of offered load {both('propagation_seconds')}"
    )
    parser.add_argument("--raw-seconds", type=float, help=f"seconds of raw INSERT commits {both('raw_seconds')}")
    parser.add_argument(
        "--drain-bound", type=float, help=f"seconds to wait for a backlog between phases {both('drain_bound')}"
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    overrides: dict[str, Any] = {
        k: v for k, v in vars(args).items() if v is not None and k not in ("quick", "setups", "clients")
    }
    if args.clients:
        overrides["clients"] = tuple(int(c) for c in args.clients.split(","))
    sizes = Sizes(**{**vars(sizes), **overrides})
    setups = [s.strip() for s in args.setups.split(",") if s.strip()]
    bad = [s for s in setups if s not in SETUPS]
    if bad:
        parser.error(f"unknown setup(s): {', '.join(bad)}; choose from {', '.join(SETUPS)}")
    if sizes.events < 1 or sizes.aggregates < 1 or not sizes.clients:
        parser.error("--events, --aggregates and --clients must be positive")
    return setups, sizes, args


def make_setup(key: str, root: Path) -> Setup:
    if key.startswith("nats"):
        return Distributed(root, tls=key == "nats-tls")
    return Embedded(key, root)


async def run(setups: list[str], sizes: Sizes) -> list[tuple[str, Result]]:
    results = []
    for key in setups:
        with tempfile.TemporaryDirectory(prefix=f"isles-kernel-{key}-") as tmp:
            results.append((key, await measure(make_setup(key, Path(tmp)), sizes)))
    return results


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> int:
    setups, sizes, _ = parse(argv)
    started = time.monotonic()
    results = asyncio.run(run(setups, sizes))
    per = -(-sizes.events // min(sizes.aggregates, sizes.events))
    out(
        f"Kernel benchmark: pipeline {sizes.events} events over {min(sizes.aggregates, sizes.events)} aggregates "
        f"({per} each); write path {sizes.write_seconds:g} s per client count; propagation "
        f"{sizes.propagation_seconds:g} s at {sizes.rate:g}/s; {os.cpu_count()} CPUs"
    )
    out(table(results, sizes))
    out(TARGETS)
    if any(not r.pipeline.complete for _, r in results):
        out("* the pipeline reached its time bound before every event was applied: rates of what was reached")
    out("")
    for line in details(results):
        out(line)
    out(f"run took {time.monotonic() - started:.0f} s")
    failed = [r.setup for _, r in results if r.non_200 or sum(r.dead_letters.values())]
    failed += [
        r.setup for _, r in results if r.pipeline.complete and min(r.pipeline.applied.values()) < r.pipeline.events
    ]
    if failed:
        out(f"FAILED: {', '.join(failed)} (answers other than 200, dead letters or lost events)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
