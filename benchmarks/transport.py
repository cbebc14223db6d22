"""Transport benchmark: PostgreSQL + NATS JetStream in production shape, beside the
embedded bus and beside the raw commit rate of the same PostgreSQL, in one run.

Rows of the table:

* raw insert: single-row INSERT commits per second into the same PostgreSQL server
  from W concurrent connections (asyncpg, autocommit) - the ceiling of any
  commit-per-event pipeline on this machine;
* embedded: ``isles up`` on PostgreSQL, one process, the in-process bus;
* nats: ``isles serve employee`` and ``isles serve project`` as two processes over a
  NATS JetStream server (file storage).

For each system: employee renames sent over HTTP at a fixed offered rate; latency per
event from its outbox insert in the employee database to its inbox insert in the
project database (the effect's transaction: every assignment of that employee shows
the new name when it commits), p50 / p99 / max; then a burst of renames from W
concurrent writers, and the sustained end-to-end events per second (first outbox
insert to last inbox insert), with its ratio to the raw insert rate.

    python benchmarks/transport.py                       # 20 s at 100/s, burst 3000
    python benchmarks/transport.py --rate 50 --seconds 5 --burst 500   # quick
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from isles.storage.db import connect_waiting, drop_postgres_databases  # noqa: E402
from tests.hrms.cluster import ALL_SERVICES, Cluster  # noqa: E402
from tests.support import (  # noqa: E402
    PG_SERVER,
    free_port,
    operator_headers,
)

UPDATED = "employee.EmployeeUpdated"


@dataclass
class Row:
    name: str
    offered: float = 0.0
    p50: float = 0.0
    p99: float = 0.0
    max: float = 0.0
    sent: int = 0
    burst_rate: float = 0.0
    write_rate: float = 0.0


def dsn(template: str, service: str) -> str:
    return template.replace("{service}", service).replace("postgresql+asyncpg://", "postgresql://")


async def raw_inserts(seconds: float, writers: int) -> float:
    name = f"isles_raw_{uuid.uuid4().hex[:8]}"
    admin = await connect_waiting(dsn(f"{PG_SERVER}/postgres", ""))
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        setup = await connect_waiting(dsn(f"{PG_SERVER}/{name}", ""))
        await setup.execute("CREATE TABLE raw (id bigserial PRIMARY KEY, payload text NOT NULL)")
        await setup.close()
        payload = "x" * 700  # about one event envelope
        done = 0
        deadline = time.perf_counter() + seconds

        async def writer() -> None:
            nonlocal done
            conn = await connect_waiting(dsn(f"{PG_SERVER}/{name}", ""))
            try:
                while time.perf_counter() < deadline:
                    await conn.execute("INSERT INTO raw (payload) VALUES ($1)", payload)
                    done += 1
            finally:
                await conn.close()

        start = time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(writers)))
        return done / (time.perf_counter() - start)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


class System:
    """Something that serves /api/employee and /api/project over HTTP on PostgreSQL."""

    template: str
    employee_url: str
    headers: dict[str, str]
    project_url: str
    company_url: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Embedded(System):
    def __init__(self, root: Path) -> None:
        self.template = f"{PG_SERVER}/isles_tb_{uuid.uuid4().hex[:8]}_{{service}}"
        self.port = free_port()
        self.employee_url = self.project_url = self.company_url = f"http://127.0.0.1:{self.port}"
        self.log = root / "embedded.log"
        self.keys = root / "keys"
        self.headers = operator_headers(self.keys)
        self.proc: subprocess.Popen[bytes] | None = None

    def _spawn(self) -> None:
        cmd = [sys.executable, "-m", "isles.cli", "up", "--port", str(self.port), "--no-demo"]
        with self.log.open("wb") as out:
            env = {**os.environ, "ISLES_KEYS_DIR": str(self.keys)}
            self.proc = subprocess.Popen(
                [*cmd, "--database-url", self.template], stdout=out, stderr=subprocess.STDOUT, env=env
            )

    async def start(self) -> None:
        self._spawn()
        async with httpx.AsyncClient() as client:
            for _ in range(600):
                try:
                    if (await client.get(f"{self.employee_url}/ready")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"isles up did not start: {self.log.read_text()[-2000:]}")

    async def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        from sqlalchemy.engine import make_url

        await drop_postgres_databases(make_url(self.template.replace("{service}", s)) for s in ALL_SERVICES)


class Distributed(System):
    def __init__(self, root: Path) -> None:
        self.cluster = Cluster(root, extra_env={"ISLES_LOG_LEVEL": "error"})
        self.headers = self.cluster.headers
        self.template = self.cluster.template

    async def start(self) -> None:
        await self.cluster.start()
        self.employee_url = self.cluster["employee"].url
        self.project_url = self.cluster["project"].url
        self.company_url = self.cluster["company"].url

    async def stop(self) -> None:
        await self.cluster.stop()


async def seed(system: System, client: httpx.AsyncClient, employees: int, per: int) -> list[str]:
    company = await client.post(f"{system.company_url}/api/company/companies", json={"name": "Bench Co"})
    company.raise_for_status()
    ids = []
    for i in range(employees):
        body = {
            "employee_number": f"T-{i}",
            "company_id": company.json()["id"],
            "first_name": "Bench",
            "last_name": f"P{i}",
            "email": f"t{i}@example.com",
            "hire_date": "2024-01-01",
        }
        r = await client.post(f"{system.employee_url}/api/employee/employees", json=body)
        r.raise_for_status()
        ids.append(r.json()["id"])
    for p in range(per):
        r = await client.post(
            f"{system.project_url}/api/project/projects",
            json={"name": f"B{p}", "client": "B", "capacity": employees, "company_id": company.json()["id"]},
        )
        r.raise_for_status()
        for e in ids:
            body = {"employee_id": e, "project_id": r.json()["id"], "role": "B", "allocation": 1}
            (
                await client.post(
                    f"{system.project_url}/api/project/assignments", json={**body, "start_date": "2025-01-01"}
                )
            ).raise_for_status()
    return ids


async def timings(system: System, since: float) -> dict[str, tuple[float, float | None]]:
    """event id -> (outbox insert, inbox insert) as epoch seconds."""
    emp = await connect_waiting(dsn(system.template, "employee"))
    proj = await connect_waiting(dsn(system.template, "project"))
    try:
        out = await emp.fetch(
            "SELECT event_id, extract(epoch FROM created_at) AS t FROM isles_outbox_events "
            "WHERE event_type = $1 AND created_at >= to_timestamp($2)",
            UPDATED,
            since,
        )
        inn = await proj.fetch(
            "SELECT event_id, extract(epoch FROM processed_at) AS t FROM isles_inbox_events WHERE event_type = $1",
            UPDATED,
        )
    finally:
        await emp.close()
        await proj.close()
    applied = {r["event_id"]: float(r["t"]) for r in inn}
    return {str(r["event_id"]): (float(r["t"]), applied.get(r["event_id"])) for r in out}


async def wait_applied(
    system: System, since: float, expected: int, limit: float = 300
) -> dict[str, tuple[float, float | None]]:
    deadline = time.monotonic() + limit
    while True:
        t = await timings(system, since)
        if len(t) >= expected and all(v[1] is not None for v in t.values()):
            return t
        if time.monotonic() > deadline:
            missing = sum(1 for v in t.values() if v[1] is None)
            raise RuntimeError(f"{missing} of {len(t)} events not applied after {limit}s")
        await asyncio.sleep(0.5)


def phase(name: str, started: float) -> float:
    """Say on stderr how long a step took (a slow or stuck run shows where its time went)."""
    now = time.perf_counter()
    print(f"  {name}: {now - started:.1f} s", file=sys.stderr, flush=True)
    return now


async def measure(name: str, system: System, args: argparse.Namespace) -> Row:
    row = Row(name)
    clock = time.perf_counter()
    await system.start()
    clock = phase("started", clock)
    try:
        limits = httpx.Limits(max_connections=args.writers * 2)
        async with httpx.AsyncClient(timeout=30, limits=limits, headers=system.headers) as client:
            ids = await seed(system, client, args.employees, args.assignments_per_employee)
            clock = phase("seeded", clock)
            await asyncio.sleep(1)
            n = 0

            async def rename(i: int) -> None:
                nonlocal n
                r = await client.patch(
                    f"{system.employee_url}/api/employee/employees/{ids[i % len(ids)]}", json={"last_name": f"R{i}"}
                )
                r.raise_for_status()
                n += 1

            # Fixed offered load (open loop): one rename every 1/rate seconds.
            since = time.time()
            total = int(args.rate * args.seconds)
            start = time.perf_counter()
            tasks = []
            for i in range(total):
                delay = start + i / args.rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(rename(i)))
            await asyncio.gather(*tasks)
            clock = phase("offered load sent", clock)
            t = await wait_applied(system, since, total)
            clock = phase("offered load applied", clock)
            latencies = sorted((b - a) * 1000 for a, b in t.values() if b is not None)
            q = statistics.quantiles(latencies, n=100, method="inclusive")
            row.offered, row.sent = args.rate, len(latencies)
            row.p50, row.p99, row.max = statistics.median(latencies), q[98], latencies[-1]

            # Sustained: a burst from concurrent writers, until the last effect commits.
            await asyncio.sleep(1)
            since = time.time()
            queue = list(range(total, total + args.burst))

            async def writer() -> None:
                while queue:
                    await rename(queue.pop())

            await asyncio.gather(*(writer() for _ in range(args.writers)))
            clock = phase("burst sent", clock)
            t = await wait_applied(system, since, args.burst)
            clock = phase("burst applied", clock)
            first = min(a for a, _ in t.values())
            last = max(b for _, b in t.values() if b is not None)
            row.burst_rate = len(t) / (last - first)
            row.write_rate = len(t) / (max(a for a, _ in t.values()) - first)
    finally:
        await system.stop()
        phase("stopped", clock)
    return row


def table(rows: list[Row], raw: float, writers: int) -> str:
    head = (
        f"{'pipeline':<34} {'offered/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'API writes/s':>12}"
        f" {'events/s':>9} {'vs raw':>7}"
    )
    lines = [head, "-" * len(head)]
    lines.append(
        f"{f'raw INSERT commit, {writers} conns':<34} {'':>9} {'':>8} {'':>8} {'':>8} {'':>12} {raw:>9.0f} {1:>7.2f}"
    )
    for r in rows:
        lines.append(
            f"{r.name:<34} {r.offered:>9.0f} {r.p50:>8.2f} {r.p99:>8.2f} {r.max:>8.2f} {r.write_rate:>12.0f}"
            f" {r.burst_rate:>9.0f} {r.burst_rate / raw:>7.3f}"
        )
    if len(rows) == 2:
        a, b = rows
        lines.append(
            f"ratio {b.name} / {a.name}: p50 {b.p50 / a.p50:.2f}x, p99 {b.p99 / a.p99:.2f}x, "
            f"events/s {b.burst_rate / a.burst_rate:.2f}x"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=100.0, help="offered renames per second (default 100)")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the offered load lasts")
    parser.add_argument("--burst", type=int, default=3000, help="renames in the sustained burst")
    parser.add_argument("--writers", type=int, default=8, help="concurrent writers (burst and raw inserts)")
    parser.add_argument("--employees", type=int, default=50)
    parser.add_argument("--assignments-per-employee", type=int, default=3)
    parser.add_argument("--raw-seconds", type=float, default=5.0)
    parser.add_argument("--only", default="embedded,nats", help="embedded, nats or both")
    args = parser.parse_args()

    async def run() -> str:
        print("raw insert ...", file=sys.stderr, flush=True)
        raw = await raw_inserts(args.raw_seconds, args.writers)
        rows = []
        with tempfile.TemporaryDirectory(prefix="isles-transport-") as tmp:
            for kind in [k.strip() for k in args.only.split(",") if k.strip()]:
                print(f"{kind} ...", file=sys.stderr, flush=True)
                if kind == "embedded":
                    rows.append(await measure("embedded bus, 1 process", Embedded(Path(tmp)), args))
                elif kind == "nats":
                    rows.append(await measure("NATS JetStream, 2 processes", Distributed(Path(tmp)), args))
                else:
                    parser.error(f"unknown pipeline {kind!r}")
        return table(rows, raw, args.writers)

    print(asyncio.run(run()))


if __name__ == "__main__":
    main()
