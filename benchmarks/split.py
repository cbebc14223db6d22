"""Split benchmark (issue 21): the example monolith split into the HR system's PostgreSQL
databases by ``isles split run`` (ids rewritten to UUIDs, values converted, rejects
reported, replicas filled) and verified by ``isles split verify``, beside ``pgloader``
loading the same SQLite file into one PostgreSQL database (no split, no id rewrite, no
verification), in the same run.

    python benchmarks/split.py                       # 20,000 employees (about 150,000 rows)
    python benchmarks/split.py --employees 2000

It prints, per tool, the wall time, the monolith's rows per second, the CPU seconds
of the tool's own process (user + system: on a machine shared with other work, the
wall time spreads more than the work done), the peak RSS, and the CPU seconds the
local PostgreSQL server spent meanwhile (its processes' times in ``/proc``; blank
where they cannot be read); the run twice (the second finds every row there and
writes nothing), the run and verify as one command (``isles split run --verify``, into
databases of their own: what issue 21's target measures, splitting, rewriting ids and
verifying), and the ratios of the loads to pgloader's. The target databases are
migrated before the clock starts (``isles migrate upgrade``) and dropped at the end.
pgloader is tried again (up to three times, into a fresh database) when it fails, as it
does when the server has no connection to spare.
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


class Failed(Exception):
    pass


def _server_cpu() -> float | None:
    """CPU seconds the local PostgreSQL server has used so far: its postmaster's and
    its live backends', plus those of the backends that ended (the postmaster reaps
    them: its children's times in ``/proc``). None where it cannot be read."""
    try:
        found = subprocess.run(["pgrep", "-o", "-x", "postgres"], capture_output=True, text=True, check=False)
        postmaster = int(found.stdout.split()[0])
        children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True, check=False)
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in [postmaster, *map(int, children.stdout.split())]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:  # ended meanwhile: counted in the postmaster's children's times
                continue
            total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
        return total / ticks
    except (OSError, IndexError, ValueError):
        return None


#: the PostgreSQL server's CPU seconds over each command timed, in order
SERVER_CPU: list[float | None] = []


def _timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int, float]:
    """(seconds, peak RSS KiB, CPU seconds) of one command (``/usr/bin/time`` reports
    the command's process alone). The PostgreSQL server's CPU over the same time goes
    to ``SERVER_CPU``."""
    server_before = _server_cpu()
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M %U %S", *argv], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    server_after = _server_cpu()
    SERVER_CPU.append(server_after - server_before if server_before is not None and server_after is not None else None)
    if done.returncode != 0:
        raise Failed(f"{' '.join(argv[:6])} ...: exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    peak, user, system = done.stderr.strip().splitlines()[-1].split()
    return seconds, int(peak), float(user) + float(system)


def _line(
    tool: str, seconds: float, rows: int, cpu: float | None = None, peak: int | None = None, server: float | None = None
) -> None:
    shown_cpu = f"{cpu:>9.2f}" if cpu is not None else f"{'':>9}"
    shown_peak = f"{peak / 1024:>14.1f}" if peak is not None else f"{'':>14}"
    shown_server = f"{server:>14.2f}" if server is not None else ""
    print(f"{tool:<34}{seconds:>9.2f}{rows / seconds:>11,.0f}{shown_cpu}{shown_peak}{shown_server}", flush=True)


def _last_server() -> float | None:
    return SERVER_CPU[-1] if SERVER_CPU else None


async def _drop(*urls: str) -> None:
    """Drop the databases side by side: a DROP DATABASE waits for a checkpoint, and
    drops in flight together share one (one after the other, the twelve of a run took
    over three minutes on a busy test server)."""
    from sqlalchemy.engine import make_url

    from isles.storage.db import drop_postgres_databases

    await drop_postgres_databases((make_url(url) for url in urls), at_once=12)


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
    template_b = f"{SERVER}/{prefix}_b_{{service}}"  # run --verify's own databases
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
        # Bytecode compiled first, as an installed package has it: where
        # PYTHONDONTWRITEBYTECODE is set, every command would compile its modules again.
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src")], check=True)
        try:
            t0 = time.perf_counter()
            _timed([*isles, "migrate", "upgrade"], env, root)
            print(f"  {len(services)} service databases migrated in {time.perf_counter() - t0:.1f} s", flush=True)
            # a second set for run --verify, with its own plan folder (its own id mapping)
            env_b = {**env, "ISLES_DATABASE_URL": template_b, "ISLES_DATA_DIR": str(root / "data_b")}
            (root / "b").mkdir()
            plan_b = shutil.copy(plan, root / "b" / "plan.toml")
            _timed([*isles, "migrate", "upgrade"], env_b, root)
            print(f"{'tool':<34}{'seconds':>9}{'rows/s':>11}{'CPU s':>9}{'peak RSS MiB':>14}{'server CPU s':>14}")
            run_s, run_rss, run_cpu = _timed([*isles, "split", "run", "--plan", str(plan), str(stats.path)], env, root)
            run_server = _last_server()
            _line("isles split run", run_s, rows, run_cpu, run_rss, run_server)
            again_s, again_rss, again_cpu = _timed(
                [*isles, "split", "run", "--plan", str(plan), str(stats.path)], env, root
            )
            _line("isles split run (rerun: no change)", again_s, rows, again_cpu, again_rss, _last_server())
            ver_s, ver_rss, ver_cpu = _timed(
                [*isles, "split", "verify", "--plan", str(plan), str(stats.path)], env, root
            )
            ver_server = _last_server()
            _line("isles split verify", ver_s, rows, ver_cpu, ver_rss, ver_server)
            both_server = run_server + ver_server if run_server is not None and ver_server is not None else None
            _line("isles split run + verify", run_s + ver_s, rows, run_cpu + ver_cpu, None, both_server)
            one_s, one_rss, one_cpu = _timed(
                [*isles, "split", "run", "--plan", str(plan_b), str(stats.path), "--verify"], env_b, root
            )
            _line("isles split run --verify", one_s, rows, one_cpu, one_rss, _last_server())
            if pgloader is None:
                print("pgloader: not installed (apt-get install pgloader); no comparison")
                return
            one = f"{prefix}_pgloader"
            for attempt in range(1, 4):
                asyncio.run(_drop(f"{SERVER}/{one}"))
                subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", one], check=True)
                try:
                    pg_s, pg_rss, pg_cpu = _timed(
                        [pgloader, "--quiet", f"sqlite://{stats.path}", f"pgsql://postgres@127.0.0.1:5432/{one}"],
                        env,
                        root,
                    )
                    break
                except Failed as exc:
                    if attempt == 3:
                        raise SystemExit(str(exc)) from None
                    print(f"  pgloader failed (attempt {attempt}), again: {str(exc).splitlines()[0][:100]}", flush=True)
            _line("pgloader (one database, as is)", pg_s, rows, pg_cpu, pg_rss, _last_server())
            print(f"  isles split run / pgloader time: {run_s / pg_s:.2f}x (rows/s: {pg_s / run_s:.2f}x pgloader's)")
            print(
                f"  isles split run --verify / pgloader time: {one_s / pg_s:.2f}x "
                f"(rows/s: {pg_s / one_s:.2f}x pgloader's; issue 21's target: 1x or more)"
            )
        except Failed as exc:
            raise SystemExit(str(exc)) from None
        finally:
            asyncio.run(
                _drop(
                    *(t.replace("{service}", s) for t in (template, template_b) for s in services),
                    f"{SERVER}/{prefix}_pgloader",
                )
            )


if __name__ == "__main__":
    main()
