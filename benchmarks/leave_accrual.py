"""Leave accrual benchmark: the monthly ``accrue`` job for many employees.

Runs the leave service alone (its migrated database, no HTTP) on SQLite and on
PostgreSQL, side by side. Per backend: one company, ``--employees`` replica rows
(``leave_request_users``, inserted directly in bulk, as the employee events would
leave them) and ``--types`` leave types with a monthly accrual. Then, timed:

* **accrue** — the job for one month: one ledger entry per employee and type, and
  the ``leave_balances`` projection updated in the same transaction;
* **rerun** — the same month again: the unique (employee, type, period) key means it
  adds nothing (the figure is what checking costs);
* **check** — ``leave_balances`` compared with the ledger's sums (must agree).

    python benchmarks/leave_accrual.py                   # 10,000 employees x 5 types
    python benchmarks/leave_accrual.py --quick           # 200 employees (the smoke test)
    python benchmarks/leave_accrual.py --backends sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from hrms.services import leave  # noqa: E402
from hrms.services.leave import jobs, ledger  # noqa: E402
from hrms.services.leave.models import LeaveRequestUser, LeaveType  # noqa: E402
from isles import ACROSS_TENANTS, System  # noqa: E402
from isles.core.logging import configure  # noqa: E402
from isles.core.settings import IslesSettings  # noqa: E402
from isles.runtime.system import SystemRuntime  # noqa: E402
from isles.storage.db import drop_postgres_databases  # noqa: E402

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432"
MONTH = date(2030, 3, 1)


@dataclass
class Row:
    backend: str
    employees: int
    types: int
    entries: int
    seconds: float
    rerun_entries: int
    rerun_seconds: float
    check_seconds: float

    @property
    def rate(self) -> float:
        return self.entries / self.seconds if self.seconds else 0.0


async def _seed(rt: Any, employees: int, types: int) -> None:
    company = uuid.uuid4()
    async with rt.uow(tenant=ACROSS_TENANTS) as uow:
        for n in range(types):
            uow.session.add(
                LeaveType(
                    id=uuid.uuid4(),
                    company_id=company,
                    name=f"Type {n}",
                    allowance_days=Decimal(0),
                    monthly_accrual=Decimal("2.08"),
                    carry_forward_cap=Decimal(0),
                )
            )
        rows = [
            {
                "id": uuid.uuid4(),
                "company_id": company,
                "user_id": uuid.uuid4(),
                "email": f"e{n}@example.com",
                "first_name": "Bench",
                "last_name": str(n),
                "manager_id": None,
                "department_id": None,
                "is_active": True,
                "version": 1,
            }
            for n in range(employees)
        ]
        for start in range(0, len(rows), 5000):
            await uow.session.execute(insert(LeaveRequestUser), rows[start : start + 5000])
        await uow.commit()


async def _accrue(rt: Any) -> tuple[int, float]:
    started = time.perf_counter()
    async with rt.uow(tenant=ACROSS_TENANTS) as uow:
        added = await jobs.accrue(uow, MONTH)
        await uow.commit()
    return added, time.perf_counter() - started


async def run_backend(backend: str, employees: int, types: int) -> Row:
    tmp = tempfile.TemporaryDirectory(prefix="isles-leavebench-")
    prefix = f"isles_lb_{uuid.uuid4().hex[:10]}"
    options: dict[str, Any] = {"keys_dir": Path(tmp.name) / "keys", "generate_keys": True}
    if backend == "sqlite":
        settings = IslesSettings(data_dir=Path(tmp.name), **options)
    else:
        settings = IslesSettings(database_url=f"{PG}/{prefix}_{{service}}", data_dir=Path(tmp.name), **options)
    runtime = SystemRuntime(System(name="leavebench", services=[leave.build()]), settings, environ={})
    try:
        await runtime.start()
        rt = runtime["leave"]
        await _seed(rt, employees, types)
        entries, seconds = await _accrue(rt)
        again, again_seconds = await _accrue(rt)
        started = time.perf_counter()
        async with rt.db.read_session(tenant=ACROSS_TENANTS) as session:
            mismatches = await ledger.check(session)
        check_seconds = time.perf_counter() - started
        if entries != employees * types or again != 0 or mismatches:
            raise SystemExit(f"{backend}: {entries} entries, rerun {again}, {len(mismatches)} mismatches")
    finally:
        await runtime.stop()
        if backend == "postgres":
            await drop_postgres_databases(make_url(f"{PG}/{prefix}_{name}") for name in runtime.services)
        tmp.cleanup()
    return Row(backend, employees, types, entries, seconds, again, again_seconds, check_seconds)


def table(rows: list[Row]) -> str:
    head = f"{'backend':<10} {'employees':>9} {'types':>5} {'entries':>8} {'accrue s':>9} {'entries/s':>10} "
    head += f"{'rerun added':>11} {'rerun s':>8} {'check s':>8}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.backend:<10} {r.employees:>9} {r.types:>5} {r.entries:>8} {r.seconds:>9.2f} {r.rate:>10.0f} "
            f"{r.rerun_entries:>11} {r.rerun_seconds:>8.2f} {r.check_seconds:>8.2f}"
        )
    return "\n".join(lines)


async def main(backends: list[str], employees: int, types: int) -> None:
    rows = [await run_backend(b, employees, types) for b in backends]
    print(table(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--employees", type=int, default=10_000)
    parser.add_argument("--types", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="200 employees: a smoke run")
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    args = parser.parse_args()
    configure("warning")
    asyncio.run(main(args.backends.split(","), 200 if args.quick else args.employees, args.types))
