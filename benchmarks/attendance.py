"""Attendance benchmark: the presence service's daily computation for one company.

Seeds, straight into the presence database in bulk (no API, no events), one company
with N employees (default 10,000), each with the day shift (09:00-17:00) and four
check-ins on the day (in, out for lunch, in, out; arrival and departure spread so
that some are late or leave early), 2 % of them on approved leave and 3 % absent.
Then times ``compute_company_day`` for that day — read the shifts, check-ins, leave
and employees, decide each day, replace the company's rows of the day — ``--repeat``
times, on SQLite and PostgreSQL side by side. The first computation also publishes
an AttendanceMarked event for every computed day (since issue 23: the analytics
service's attendance rates count them); a recomputation replaces the same rows and
publishes nothing. The table gives
the first's time (and employees/s from it) and the recomputations' median.

    python benchmarks/attendance.py                       # 10,000 employees, both backends
    python benchmarks/attendance.py --quick --backends sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from hrms.services.presence.compute import compute_company_day  # noqa: E402
from hrms.services.presence.models import (  # noqa: E402
    Checkin,
    CheckinUserInfo,
    LeaveDay,
    Shift,
    ShiftAssignment,
)
from hrms.system import build  # noqa: E402
from isles.core.logging import configure  # noqa: E402
from isles.core.settings import IslesSettings  # noqa: E402
from isles.runtime.system import SystemRuntime  # noqa: E402
from isles.storage.db import drop_postgres_databases  # noqa: E402

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432"
DAY = date(2026, 11, 23)  # a Monday
CHUNK = 2_000


@dataclass
class Result:
    backend: str
    employees: int
    checkins: int
    seconds: list[float]
    rows: int

    @property
    def first(self) -> float:
        return self.seconds[0]

    @property
    def again(self) -> float | None:
        """Median of the recomputations (None with one run)."""
        return statistics.median(self.seconds[1:]) if len(self.seconds) > 1 else None


def _at(hour: int, minute: int) -> datetime:
    return datetime.combine(DAY, clock(0), UTC) + timedelta(hours=hour, minutes=minute)


def seed_rows(company: uuid.UUID, employees: int, rng: random.Random) -> dict[Any, list[dict[str, Any]]]:
    shift_id = uuid.uuid4()
    rows: dict[Any, list[dict[str, Any]]] = {
        CheckinUserInfo: [],
        Shift: [],
        ShiftAssignment: [],
        Checkin: [],
        LeaveDay: [],
    }
    rows[Shift].append(
        {
            "id": shift_id,
            "company_id": company,
            "name": "Day",
            "start_time": clock(9),
            "end_time": clock(17),
            "weekdays": "12345",
            "late_grace_minutes": 10,
            "early_grace_minutes": 10,
            "half_day_minutes": 240,
            "version": 0,
        }
    )
    for n in range(employees):
        eid = uuid.uuid4()
        rows[CheckinUserInfo].append(
            {
                "id": eid,
                "company_id": company,
                "user_id": uuid.uuid4(),
                "email": f"e{n}@example.com",
                "first_name": "Bench",
                "last_name": f"E{n}",
                "manager_id": None,
                "is_active": True,
                "version": 1,
            }
        )
        rows[ShiftAssignment].append(
            {
                "id": uuid.uuid4(),
                "company_id": company,
                "employee_id": eid,
                "shift_id": shift_id,
                "start_date": date(2026, 1, 1),
            }
        )
        roll = rng.random()
        if roll < 0.02:
            rows[LeaveDay].append(
                {"request_id": uuid.uuid4(), "day": DAY, "company_id": company, "employee_id": eid, "part": "full"}
            )
            continue
        if roll < 0.05:
            continue  # absent
        arrive = _at(8, 40 + rng.randint(0, 35))  # about 1 in 7 late (after 09:10)
        leave = _at(16, 45 + rng.randint(0, 45))  # about 1 in 9 early (before 16:50)
        for kind, when in (("in", arrive), ("out", _at(12, 0)), ("in", _at(12, 45)), ("out", leave)):
            rows[Checkin].append(
                {
                    "id": uuid.uuid4(),
                    "company_id": company,
                    "employee_id": eid,
                    "kind": kind,
                    "at": when,
                    "source": "nfc",
                    "is_void": False,
                }
            )
    return rows


async def run_backend(backend: str, employees: int, repeat: int) -> Result:
    tmp = tempfile.TemporaryDirectory(prefix="isles-attbench-")
    prefix = f"isles_ab_{uuid.uuid4().hex[:10]}"
    options: dict[str, Any] = {"keys_dir": Path(tmp.name) / "keys", "generate_keys": True}
    if backend == "sqlite":
        settings = IslesSettings(data_dir=Path(tmp.name), **options)
    else:
        settings = IslesSettings(database_url=f"{PG}/{prefix}_{{service}}", data_dir=Path(tmp.name), **options)
    rt = SystemRuntime(build(), settings, environ={}, only=["presence"])
    company = uuid.uuid4()
    seconds: list[float] = []
    rows = 0
    try:
        await rt.start()
        presence = rt["presence"]
        seed = seed_rows(company, employees, random.Random(17))
        async with presence.uow(tenant=company) as uow:
            for model, items in seed.items():
                for i in range(0, len(items), CHUNK):
                    await uow.session.execute(insert(model), items[i : i + CHUNK])
            await uow.commit()
        for _ in range(repeat):
            started = time.perf_counter()
            async with presence.uow(tenant=company) as uow:
                done = await compute_company_day(uow=uow, company_id=company, day=DAY)
            seconds.append(time.perf_counter() - started)
            rows = done.rows
        checkins = len(seed[Checkin])
    finally:
        await rt.stop()
        if backend == "postgres":
            await drop_postgres_databases(make_url(f"{PG}/{prefix}_{name}") for name in rt.services)
        tmp.cleanup()
    return Result(backend, employees, checkins, seconds, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--employees", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="computations of the day per backend")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--quick", action="store_true", help="200 employees, one computation (the smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.employees, args.repeat = 200, 1
    configure("WARNING")
    results = [asyncio.run(run_backend(b, args.employees, args.repeat)) for b in args.backends.split(",")]
    print(
        f"{'backend':<10} {'employees':>9} {'checkins':>9} {'rows':>6} "
        f"{'first s':>8} {'again s':>8} {'employees/s':>12}"
    )
    print("-" * 68)
    for r in results:
        again = f"{r.again:>8.3f}" if r.again is not None else f"{'-':>8}"
        print(
            f"{r.backend:<10} {r.employees:>9} {r.checkins:>9} {r.rows:>6} "
            f"{r.first:>8.3f} {again} {r.employees / r.first:>12.0f}"
        )


if __name__ == "__main__":
    main()
