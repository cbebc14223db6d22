"""Saga benchmark: what a saga costs beside one plain write.

Runs the HR system embedded (every service on its own database, in-process HTTP
between them) on SQLite and on PostgreSQL and, per backend, times through the public
API:

* plain: ``POST /projects`` — one transaction of one database (row + outbox event);
* CreateAssignment: validate over the employee API, reserve, write, confirm — one
  remote call, three local steps, its state written before and after each;
* CreateEmployee: a company (and department) check, a user (auth), the employee,
  activate the user (auth), activate — three remote calls, two local steps.

Each kind runs twice: one request at a time (latency p50, p99) and from concurrent
clients (requests/s). The table ends with each saga's ratio to the plain write.

    python benchmarks/sagas.py                       # 300 of each, 8 clients, both backends
    python benchmarks/sagas.py --count 100 --backends sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from hrms.system import build  # noqa: E402
from isles.core.logging import configure  # noqa: E402
from isles.core.settings import IslesSettings  # noqa: E402
from isles.runtime.system import SystemRuntime  # noqa: E402
from isles.storage.db import drop_postgres_databases  # noqa: E402

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432"
KINDS = ("plain write", "CreateAssignment", "CreateEmployee")


@dataclass
class Row:
    backend: str
    kind: str
    count: int
    p50_ms: float
    p99_ms: float
    per_s: float


Request = Callable[[httpx.AsyncClient, int], Awaitable[None]]


async def _ok(response: Awaitable[httpx.Response]) -> dict[str, str]:
    r = await response
    if r.status_code != 201:
        raise SystemExit(f"unexpected answer {r.status_code}: {r.text}")
    body: dict[str, str] = r.json()
    return body


class Workload:
    """The three requests, each with data of its own so they never collide."""

    def __init__(self, api: httpx.AsyncClient, count: int, clients: int) -> None:
        self.api = api
        self.count = count
        self.clients = clients
        self.company = ""
        self.employees: list[str] = []
        self.project = ""
        self._run = uuid.uuid4().hex[:6]

    async def seed(self) -> None:
        self.company = (await _ok(self.api.post("/api/company/companies", json={"name": "Bench"})))["id"]
        for i in range(self.count * 2):  # latency and throughput rounds assign different people
            self.employees.append(
                (await _ok(self.api.post("/api/employee/employees", json=self._person(f"s{i}"))))["id"]
            )
        capacity = {"name": "Bench project", "client": "B", "capacity": self.count * 2, "company_id": self.company}
        self.project = (await _ok(self.api.post("/api/project/projects", json=capacity)))["id"]

    def _person(self, tag: str) -> dict[str, str]:
        return {
            "employee_number": f"B-{self._run}-{tag}",
            "company_id": self.company,
            "first_name": "Bench",
            "last_name": tag,
            "email": f"{self._run}.{tag}@example.com",
            "hire_date": "2024-01-01",
        }

    def request(self, kind: str, round_: int) -> Request:
        async def plain(api: httpx.AsyncClient, i: int) -> None:
            await _ok(
                api.post(
                    "/api/project/projects",
                    json={"name": f"P{round_}-{i}", "client": "C", "capacity": 1, "company_id": self.company},
                )
            )

        async def assignment(api: httpx.AsyncClient, i: int) -> None:
            body = {
                "employee_id": self.employees[round_ * self.count + i],
                "project_id": self.project,
                "role": "Bench",
                "allocation": 10,
                "start_date": "2025-01-01",
            }
            await _ok(api.post("/api/project/assignments", json=body))

        async def employee(api: httpx.AsyncClient, i: int) -> None:
            await _ok(api.post("/api/employee/employees", json=self._person(f"r{round_}-{i}")))

        return {"plain write": plain, "CreateAssignment": assignment, "CreateEmployee": employee}[kind]

    async def latency(self, request: Request) -> list[float]:
        times = []
        for i in range(self.count):
            started = time.perf_counter()
            await request(self.api, i)
            times.append(time.perf_counter() - started)
        return times

    async def throughput(self, request: Request) -> float:
        queue = iter(range(self.count))

        async def client() -> None:
            for i in queue:
                await request(self.api, i)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(self.clients)))
        return self.count / (time.perf_counter() - started)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def run_backend(backend: str, args: argparse.Namespace) -> list[Row]:
    tmp = tempfile.TemporaryDirectory(prefix="isles-sagabench-")
    prefix = f"isles_sb_{uuid.uuid4().hex[:10]}"
    options = {
        "pool_size": max(5, args.clients),
        "pool_max_overflow": args.clients * 2,
        "keys_dir": Path(tmp.name) / "keys",
        "generate_keys": True,
    }
    if backend == "sqlite":
        settings = IslesSettings(data_dir=Path(tmp.name), **options)  # type: ignore[arg-type]
    else:
        settings = IslesSettings(database_url=f"{PG}/{prefix}_{{service}}", **options)  # type: ignore[arg-type]
    rt = SystemRuntime(build(), settings, environ={})
    rows = []
    try:
        await rt.start()
        async with rt.client() as api:
            work = Workload(api, args.count, args.clients)
            await work.seed()
            await rt.settle(timeout=120)
            for kind in KINDS:
                times = await work.latency(work.request(kind, 0))
                per_s = await work.throughput(work.request(kind, 1))
                rows.append(Row(backend, kind, args.count, statistics.median(times) * 1000, _pct(times, 0.99), per_s))
            await rt.settle(timeout=120)
    finally:
        await rt.stop()
        if backend == "postgres":
            await drop_postgres_databases(make_url(f"{PG}/{prefix}_{name}") for name in rt.services)
        tmp.cleanup()
    return rows


def table(rows: list[Row], clients: int) -> str:
    head = f"{'backend':<9} {'kind':<17} {'count':>6} {'p50 ms':>8} {'p99 ms':>8} {f'req/s ({clients} clients)':>20}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r.backend:<9} {r.kind:<17} {r.count:>6} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.per_s:>20.1f}")
    lines.append("")
    lines.append("ratios to the plain write of the same backend (latency p50 x, throughput x)")
    for backend in dict.fromkeys(r.backend for r in rows):
        plain = next(r for r in rows if r.backend == backend and r.kind == "plain write")
        for r in rows:
            if r.backend == backend and r is not plain:
                lines.append(
                    f"  {backend:<9} {r.kind:<17} p50 {r.p50_ms / plain.p50_ms:5.2f}x   "
                    f"req/s {r.per_s / plain.per_s:5.2f}x"
                )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=300, help="requests of each kind, per round")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients in the throughput round")
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    args = parser.parse_args()
    if args.count < 1 or args.clients < 1:
        parser.error("--count and --clients must be at least 1")
    configure("error")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    bad = [b for b in backends if b not in ("sqlite", "postgres")]
    if bad:
        parser.error(f"unknown backend(s): {', '.join(bad)}")
    rows = []
    for backend in backends:
        print(f"running {backend} ...", file=sys.stderr, flush=True)
        rows += asyncio.run(run_backend(backend, args))
    print(table(rows, args.clients))


if __name__ == "__main__":
    main()
