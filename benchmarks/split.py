"""Split benchmark (issue 21): the example monolith split into the HR system's PostgreSQL
databases by ``isles split run`` (ids rewritten to UUIDs, values converted, rejects
reported, replicas filled) and verified by ``isles split verify``, beside ``pgloader``
loading the same SQLite file into one PostgreSQL database (no split, no id rewrite, no
verification), in the same run.

    python benchmarks/split.py                       # 20,000 employees (about 150,000 rows)
    python benchmarks/split.py --employees 2000

It prints, per tool, the wall time, the monolith's rows per second and the peak RSS
(the run twice: the second finds every row there and writes nothing), and the ratio of
the two loads (the first run's). The target databases are migrated before the clock
starts (``isles migrate upgrade``) and dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432"


def _timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int, str]:
    """(seconds, peak RSS KiB of the command, output) of one command (``/usr/bin/time``
    reports the peak of the command's process alone)."""
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *argv], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(
            f"{' '.join(argv[:6])} ...: exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    peak = int(done.stderr.strip().splitlines()[-1])
    return seconds, peak, done.stdout


async def _drop(url: str) -> None:
    from sqlalchemy.engine import make_url

    from isles.storage.db import drop_postgres_database

    await drop_postgres_database(make_url(url))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--employees", type=int, default=20_000)
    args = parser.parse_args()

    from hrms.system import build
    from isles.storage import crypto
    from tests.fixtures.monolith import make_monolith
    from tests.isles.test_split_run import hr_plan

    pgloader = shutil.which("pgloader")
    prefix = f"isles_bench_split_{uuid.uuid4().hex[:8]}"
    template = f"{SERVER}/{prefix}_{{service}}"
    services = [s.name for s in build().services]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        stats = make_monolith(root / "monolith.sqlite", employees=args.employees, seed=1)
        rows = stats.total_rows
        print(f"split of a monolith: {args.employees:,} employees, {rows:,} rows in {len(stats.rows)} tables")
        print(f"  monolith made in {time.perf_counter() - t0:.1f} s", flush=True)
        plan = root / "plan.toml"
        hr_plan(stats, plan)
        keys = root / "keys"
        crypto.generate_data_key(crypto.data_keys_dir(keys, "employee"))
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
            "ISLES_DATA_DIR": str(root / "data"),
            "ISLES_KEYS_DIR": str(keys),
            "ISLES_DATABASE_URL": template,
            "COLUMNS": "200",
        }
        isles = [sys.executable, "-m", "isles.cli"]
        try:
            t0 = time.perf_counter()
            _timed([*isles, "migrate", "upgrade"], env, root)
            print(f"  {len(services)} service databases migrated in {time.perf_counter() - t0:.1f} s", flush=True)
            print(f"{'tool':<34}{'seconds':>9}{'rows/s':>11}{'peak RSS MiB':>14}")
            run_s, run_rss, _out = _timed([*isles, "split", "run", "--plan", str(plan), str(stats.path)], env, root)
            print(f"{'isles split run':<34}{run_s:>9.2f}{rows / run_s:>11,.0f}{run_rss / 1024:>14.1f}", flush=True)
            again_s, again_rss, _out = _timed([*isles, "split", "run", "--plan", str(plan), str(stats.path)], env, root)
            print(
                f"{'isles split run (rerun: no change)':<34}{again_s:>9.2f}{rows / again_s:>11,.0f}"
                f"{again_rss / 1024:>14.1f}",
                flush=True,
            )
            ver_s, ver_rss, _out = _timed([*isles, "split", "verify", "--plan", str(plan), str(stats.path)], env, root)
            print(f"{'isles split verify':<34}{ver_s:>9.2f}{rows / ver_s:>11,.0f}{ver_rss / 1024:>14.1f}", flush=True)
            both = run_s + ver_s
            print(f"{'isles split run + verify':<34}{both:>9.2f}{rows / both:>11,.0f}", flush=True)
            if pgloader is None:
                print("pgloader: not installed (apt-get install pgloader); no comparison")
                return
            one = f"{prefix}_pgloader"
            subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", one], check=True)
            pg_s, pg_rss, _out = _timed(
                [pgloader, "--quiet", f"sqlite://{stats.path}", f"pgsql://postgres@127.0.0.1:5432/{one}"], env, root
            )
            print(f"{'pgloader (one database, as is)':<34}{pg_s:>9.2f}{rows / pg_s:>11,.0f}{pg_rss / 1024:>14.1f}")
            print(f"  isles split run / pgloader time: {run_s / pg_s:.2f}x (rows/s: {pg_s / run_s:.2f}x pgloader's)")
        finally:
            for service in services:
                asyncio.run(_drop(template.replace("{service}", service)))
            asyncio.run(_drop(f"{SERVER}/{prefix}_pgloader"))


if __name__ == "__main__":
    main()
