"""Audit benchmark (issue 20): one copy checked against its owner, ``isles audit``'s
streamed merge beside reladiff (bisection by checksums), on PostgreSQL, two databases.

The owner database holds ``employees (id uuid, version int, name text)``, the copy's
``employee_copies`` the same rows. Two scenarios: clean, and with a fraction of the
copy's rows one version behind, scattered over the key range (0.1 % by default).
Each tool runs in its own process (its peak RSS is its own), on the same pair, in the
same run:

* isles: ``isles.service.audit.check_copy`` (stale, missing and extra rows);
* reladiff: ``reladiff <db_a> employees <db_b> employee_copies -k id -c version``
  (which rows differ, by key and version);
* with the values too (unless ``--no-values``): ``check_copy(values=True)`` (every
  row's values compared at the owner's version: the owner's rows as ORM objects, its
  Resend event projected as the copy projects it) beside ``reladiff ... -c version
  -c name``.

It prints, per scenario and tool, the seconds, rows/s, what was found and the peak
RSS, and the ratio of the two times.

    python benchmarks/audit.py                    # 1,000,000 rows
    python benchmarks/audit.py --rows 100000 --stale 0.001
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432"
OWNER_DB, COPY_DB = "isles_bench_audit_owner", "isles_bench_audit_copy"  # --prefix changes them


def _psql_url(db: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{db}"


async def _exec(db: str, *statements: str) -> None:
    from isles.storage.db import connect_waiting

    conn = await connect_waiting(_psql_url(db))
    try:
        for s in statements:
            await conn.execute(s)
    finally:
        await conn.close()


async def setup(rows: int) -> None:
    """Both databases anew, the same rows in each (made by the server: fast)."""
    for db in (OWNER_DB, COPY_DB):
        await _exec("postgres", f'DROP DATABASE IF EXISTS "{db}"', f'CREATE DATABASE "{db}"')
    fill = (
        "INSERT INTO {t} SELECT md5(i::text)::uuid, 3, 'Person ' || i FROM generate_series(1, %d) i" % rows  # noqa: UP031
    )
    for db, table in ((OWNER_DB, "employees"), (COPY_DB, "employee_copies")):
        await _exec(
            db,
            f"CREATE TABLE {table} (id uuid PRIMARY KEY, version integer NOT NULL, name text NOT NULL)",
            fill.format(t=table),
            f"VACUUM ANALYZE {table}",
        )


async def make_stale(fraction: float) -> int:
    """One version back for about ``fraction`` of the copy's rows, scattered by key hash."""
    every = max(1, round(1 / fraction))
    await _exec(
        COPY_DB,
        "UPDATE employee_copies SET version = version - 1"
        f" WHERE ('x' || substr(md5(name), 1, 8))::bit(32)::int % {every} = 0",
        "VACUUM ANALYZE employee_copies",
    )
    from isles.storage.db import connect_waiting

    conn = await connect_waiting(_psql_url(COPY_DB))
    try:
        return int(await conn.fetchval("SELECT count(*) FROM employee_copies WHERE version = 2"))
    finally:
        await conn.close()


def run_isles(chunk: int, values: bool = False) -> dict[str, Any]:
    """In this (child) process: the audit's copy check (``values``: every row's values too)."""
    import uuid
    from typing import ClassVar

    from fastapi import APIRouter
    from sqlalchemy import Column, Integer, Table, Text, Uuid
    from sqlalchemy.orm import registry

    from isles import Event, Resend
    from isles.core.settings import IslesSettings
    from isles.messaging.replicas import ReplicaTable
    from isles.service.audit import check_copy
    from isles.service.declaration import Service, System
    from isles.storage.db import ServiceDatabase
    from isles.storage.schema import new_metadata

    owner_md, copy_md = new_metadata(), new_metadata()

    def shape(name: str, metadata: Any) -> Table:
        return Table(
            name, metadata, Column("id", Uuid, primary_key=True), Column("version", Integer), Column("name", Text)
        )

    class EmployeeSaved(Event):
        event_type: ClassVar[str] = "owner.EmployeeSaved"
        schema_version: ClassVar[int] = 1
        id: uuid.UUID
        name: str

    class Employee:  # the owner's model (what its Resend makes events of)
        id: uuid.UUID
        name: str
        version: int

    registry().map_imperatively(Employee, shape("employees", owner_md))
    copies = shape("employee_copies", copy_md)
    replica = ReplicaTable(
        table=copies,
        source="owner.employees",
        events=(EmployeeSaved,),
        project=lambda e: {"name": e.name},
        columns=("name",),
    )
    resend = Resend(Employee, "owner.Employee", lambda row: EmployeeSaved(id=row.id, name=row.name), lambda _r: "")
    owner = Service(name="owner", metadata=owner_md, router=APIRouter(), migrations=None, resend=[resend])
    copy = Service(name="copy", metadata=copy_md, router=APIRouter(), migrations=None, replicas=(replica,))
    system = System(name="bench", services=[owner, copy])
    settings = IslesSettings(database_url=f"{SERVER}/{{service}}")

    async def go() -> dict[str, Any]:
        dbs = {
            "owner": ServiceDatabase("owner", f"{SERVER}/{OWNER_DB}", settings),
            "copy": ServiceDatabase("copy", f"{SERVER}/{COPY_DB}", settings),
        }
        started = time.perf_counter()
        report = await check_copy(dbs, system, "copy", replica, chunk=chunk, samples=5, values=values)
        assert not report.note, report.note
        seconds = time.perf_counter() - started
        for db in dbs.values():
            await db.dispose()
        return {"seconds": seconds, "rows": report.checked, "found": report.findings, "counts": report.counts}

    return asyncio.run(go())


def run_reladiff(values: bool = False) -> dict[str, Any]:
    exe = shutil.which("reladiff") or str(Path(sys.executable).with_name("reladiff"))
    columns = ["-c", "version", "-c", "name"] if values else ["-c", "version"]
    started = time.perf_counter()
    done = subprocess.run(
        [
            exe,
            _psql_url(OWNER_DB),
            "employees",
            _psql_url(COPY_DB),
            "employee_copies",
            "-k",
            "id",
            *columns,
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"reladiff failed: {done.stderr.strip().splitlines()[-1:]}")
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("[")]
    keys = {line[1][0] for line in lines}
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"seconds": seconds, "found": len(keys), "diff_lines": len(lines), "rss_kib": child}


TOOLS = ("isles", "reladiff", "isles-values", "reladiff-values")


def child(tool: str, chunk: int) -> None:
    values = tool.endswith("-values")
    result = run_isles(chunk, values) if tool.startswith("isles") else run_reladiff(values)
    result.setdefault("rss_kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    print(json.dumps(result))


def measure(tool: str, chunk: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", tool, "--chunk", str(chunk), "--prefix", OWNER_DB.removesuffix("_owner")],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{tool}: {done.stderr.strip()[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--stale", type=float, default=0.001, help="fraction of the copy's rows one version behind")
    parser.add_argument("--chunk", type=int, default=5000)
    parser.add_argument("--prefix", default="isles_bench_audit", help="the two databases' names begin so")
    parser.add_argument("--no-values", action="store_true", help="key and version only (not the values too)")
    parser.add_argument("--child", choices=TOOLS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    global OWNER_DB, COPY_DB
    OWNER_DB, COPY_DB = f"{args.prefix}_owner", f"{args.prefix}_copy"
    if args.child:
        child(args.child, args.chunk)
        return
    print(f"audit of one copy: {args.rows:,} rows on each side, PostgreSQL, two databases", flush=True)
    t0 = time.perf_counter()
    asyncio.run(setup(args.rows))
    print(f"  set up in {time.perf_counter() - t0:.1f} s", flush=True)
    print(f"{'scenario':<22}{'tool':<16}{'seconds':>9}{'rows/s':>12}{'found':>8}{'peak RSS MiB':>14}")
    tools = TOOLS[:2] if args.no_values else TOOLS
    for scenario in ("clean", "stale"):
        expected = 0
        if scenario == "stale":
            expected = asyncio.run(make_stale(args.stale))
        times = {}
        for tool in tools:
            r = measure(tool, args.chunk)
            times[tool] = r["seconds"]
            label = f"{scenario} ({expected:,} stale)" if scenario == "stale" else scenario
            print(
                f"{label:<22}{tool:<16}{r['seconds']:>9.2f}{args.rows / r['seconds']:>12,.0f}"
                f"{r['found']:>8,}{r['rss_kib'] / 1024:>14.1f}",
                flush=True,
            )
            if r["found"] != expected:
                print(f"  ! {tool} found {r['found']}, expected {expected}", flush=True)
        print(f"  isles / reladiff time: {times['isles'] / times['reladiff']:.2f}x", flush=True)
        if "isles-values" in times:
            ratio = times["isles-values"] / times["reladiff-values"]
            print(f"  with the values: isles / reladiff time: {ratio:.2f}x", flush=True)
    for db in (OWNER_DB, COPY_DB):
        asyncio.run(_exec("postgres", f'DROP DATABASE IF EXISTS "{db}"'))


if __name__ == "__main__":
    main()
