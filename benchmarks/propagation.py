"""Propagation benchmark: employee rename -> every assignment shows the new name.

Runs the HR system embedded (every service on its own database, embedded bus) on
SQLite and on PostgreSQL, and prints one table:

* latency: from the commit of a rename to the commit of the project service's inbox
  transaction that rewrote all that employee's assignments (they show the new name
  from that instant), over N sequential renames: p50, p99, max;
* throughput: a burst of renames from concurrent writers, events per second through
  outbox -> relay -> bus -> inbox (first commit to last applied), beside the writers'
  own commit rate.

Every run ends by checking that each assignment carries its employee's final name.

    python benchmarks/propagation.py                     # 1,000 renames per backend
    python benchmarks/propagation.py --renames 200 --backends sqlite
    python benchmarks/propagation.py --backends postgres,postgres-tls   # the cost of TLS (ratio)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]  # tests.support: the TLS cluster of --backends postgres-tls

from hrms.services.employee import service as employees  # noqa: E402
from hrms.services.project.models import Assignment  # noqa: E402
from hrms.system import build  # noqa: E402
from isles import ACROSS_TENANTS  # noqa: E402
from isles.core.events import Envelope  # noqa: E402
from isles.core.logging import configure  # noqa: E402
from isles.core.settings import IslesSettings  # noqa: E402
from isles.messaging.consumer import Outcome  # noqa: E402
from isles.runtime.system import SystemRuntime  # noqa: E402
from isles.storage.db import drop_postgres_databases  # noqa: E402

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432"


@dataclass
class Result:
    backend: str
    renames: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    burst: int
    writers: int
    events_per_s: float
    commits_per_s: float


async def seed(rt: SystemRuntime, n_employees: int, per_employee: int) -> list[uuid.UUID]:
    """Employees, projects and assignments through the public API (the sagas), as a
    client would make them; not measured."""
    async with rt.client() as api:

        async def post(path: str, body: dict[str, object]) -> dict[str, str]:
            r = await api.post(path, json=body)
            assert r.status_code == 201, r.text
            created: dict[str, str] = r.json()
            return created

        company = await post("/api/company/companies", {"name": "Bench Co"})
        ids = []
        for i in range(n_employees):
            e = await post(
                "/api/employee/employees",
                {
                    "employee_number": f"B-{i}",
                    "company_id": company["id"],
                    "first_name": "Bench",
                    "last_name": f"Person{i}",
                    "email": f"bench{i}@example.com",
                    "hire_date": "2024-01-01",
                },
            )
            ids.append(uuid.UUID(e["id"]))
        projects = [
            await post(
                "/api/project/projects",
                {"name": f"Bench {p}", "client": "Bench", "capacity": n_employees, "company_id": company["id"]},
            )
            for p in range(per_employee)
        ]
        for e_id in ids:
            for project in projects:
                body = {
                    "employee_id": str(e_id),
                    "project_id": project["id"],
                    "role": "Bench",
                    "allocation": 1,  # many per employee stay within 100 %
                    "start_date": "2025-01-01",
                }
                await post("/api/project/assignments", body)
    await rt.settle(timeout=120)
    return ids


async def rename(rt: SystemRuntime, employee_id: uuid.UUID, last_name: str) -> tuple[str, float]:
    async with rt["employee"].uow(tenant=ACROSS_TENANTS) as uow:  # as an operator's request
        await employees.update_employee(uow=uow, employee_id=employee_id, changes={"last_name": last_name})
        committed = time.perf_counter()
        event_id = uow.emitted[0].id
    return event_id, committed


async def run_backend(backend: str, args: argparse.Namespace) -> Result:
    tmp = tempfile.TemporaryDirectory(prefix="isles-bench-")
    prefix = f"isles_bench_{uuid.uuid4().hex[:10]}"
    options = {
        "relay_batch_size": 500,
        "relay_max_in_flight": 1024,
        "consumer_concurrency": 8,
        "keys_dir": Path(tmp.name) / "keys",
        "generate_keys": True,
    }
    tls: contextlib.ExitStack = contextlib.ExitStack()
    if backend == "sqlite":
        settings = IslesSettings(data_dir=Path(tmp.name), **options)  # type: ignore[arg-type]
    elif backend == "postgres-tls":
        # A PostgreSQL cluster of its own that takes TLS only, verified against a local CA.
        from isles.security.certs import issue
        from tests.support import TlsPostgres

        pair = issue(Path(tmp.name) / "certs", "postgres", ["127.0.0.1", "localhost"])
        pg = tls.enter_context(TlsPostgres(pair.cert, pair.key))
        settings = IslesSettings(
            database_url=f"{pg.url}/{prefix}_{{service}}",
            database_tls_ca=Path(tmp.name) / "certs" / "ca.pem",
            **options,  # type: ignore[arg-type]
        )
    else:
        settings = IslesSettings(database_url=f"{PG}/{prefix}_{{service}}", **options)  # type: ignore[arg-type]
    rt = SystemRuntime(build(), settings, environ={})
    applied: dict[str, float] = {}
    waiters: dict[str, asyncio.Future[None]] = {}

    def observe(consumer: str, env: Envelope, outcome: Outcome) -> None:
        if consumer == "project" and env.type == "employee.EmployeeUpdated" and outcome is Outcome.APPLIED:
            applied[env.id] = time.perf_counter()
            fut = waiters.pop(env.id, None)
            if fut is not None and not fut.done():
                fut.set_result(None)

    try:
        await rt.start()
        rt.observe(observe)
        ids = await seed(rt, args.employees, args.assignments_per_employee)

        # Latency: one rename at a time, each waited for.
        latencies = []
        loop = asyncio.get_running_loop()
        for i in range(args.renames):
            fut = loop.create_future()
            event_id, committed = await rename(rt, ids[i % len(ids)], f"L{i}")
            if event_id in applied:
                fut.set_result(None)
            else:
                waiters[event_id] = fut
            await asyncio.wait_for(fut, timeout=30)
            latencies.append((applied[event_id] - committed) * 1000)

        # Throughput: a burst from concurrent writers, measured until the last is applied.
        applied.clear()
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(args.burst):
            queue.put_nowait(i)
        commits: list[float] = []

        async def writer() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                _, t = await rename(rt, ids[i % len(ids)], f"B{i}")
                commits.append(t)

        start = time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(args.writers)))
        writers_done = time.perf_counter()
        await rt.settle(timeout=300)
        last = max(applied.values())
        assert len(applied) == args.burst, f"{len(applied)} of {args.burst} renames applied"

        await verify(rt, args)
        q = statistics.quantiles(latencies, n=100, method="inclusive")
        return Result(
            backend,
            args.renames,
            statistics.median(latencies),
            q[98],
            max(latencies),
            args.burst,
            args.writers,
            args.burst / (last - start),
            len(commits) / (writers_done - start),
        )
    finally:
        await rt.stop()
        if backend == "postgres":
            await drop_postgres_databases(make_url(f"{PG}/{prefix}_{name}") for name in rt.services)
        tls.close()  # the TLS cluster goes with its databases
        tmp.cleanup()


async def verify(rt: SystemRuntime, args: argparse.Namespace) -> None:
    """Every assignment carries its employee's final name."""
    from hrms.services.employee.models import Employee

    async with rt["employee"].db.read_session(tenant=ACROSS_TENANTS) as s:
        names = {e.id: e.full_name for e in await s.scalars(select(Employee))}
    async with rt["project"].db.read_session(tenant=ACROSS_TENANTS) as s:
        rows = list(await s.scalars(select(Assignment)))
    wrong = [a for a in rows if a.employee_name != names[a.employee_id]]
    assert len(rows) == args.employees * args.assignments_per_employee
    assert not wrong, f"{len(wrong)} assignments carry a stale name"


def table(results: list[Result]) -> str:
    head = (
        f"{'backend':<9} {'renames':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'burst':>6} {'writers':>7} {'events/s':>9} {'commits/s':>9}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r.backend:<9} {r.renames:>7} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.max_ms:>8.2f} "
            f"{r.burst:>6} {r.writers:>7} {r.events_per_s:>9.0f} {r.commits_per_s:>9.0f}"
        )
    if len(results) == 2:
        a, b = results
        lines.append(
            f"ratio {b.backend}/{a.backend}: p50 {b.p50_ms / a.p50_ms:.2f}x, p99 {b.p99_ms / a.p99_ms:.2f}x, "
            f"events/s {b.events_per_s / a.events_per_s:.2f}x"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--renames", type=int, default=1000, help="sequential renames for latency (default 1000)")
    parser.add_argument("--employees", type=int, default=50)
    parser.add_argument("--assignments-per-employee", type=int, default=3)
    parser.add_argument("--burst", type=int, default=3000, help="renames in the throughput burst")
    parser.add_argument("--writers", type=int, default=8, help="concurrent writers in the burst")
    parser.add_argument(
        "--backends",
        default="sqlite,postgres",
        help="comma-separated: sqlite, postgres, postgres-tls (a TLS-only cluster of its own, verify-full)",
    )
    args = parser.parse_args()
    configure("error")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    bad = [b for b in backends if b not in ("sqlite", "postgres", "postgres-tls")]
    if bad:
        parser.error(f"unknown backend(s): {', '.join(bad)}")
    results = []
    for backend in backends:
        print(f"running {backend} ...", file=sys.stderr, flush=True)
        results.append(asyncio.run(run_backend(backend, args)))
    print(table(results))


if __name__ == "__main__":
    main()
