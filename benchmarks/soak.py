"""Soak: the fault tests' production-shaped HRMS (two `isles serve` processes, their
own PostgreSQL databases, a NATS server of their own) under a steady stream of
renames and new assignments for minutes, with a fault every few seconds, chosen in
turn: kill -9 of the project service, kill -9 of the employee service, NATS killed
and restarted. At the end the databases are compared row by row, as in the tests.

    python benchmarks/soak.py                     # 120 s, a fault every 15 s
    python benchmarks/soak.py --seconds 600 --every 10
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.hrms.cluster import Cluster, Driver, converge  # noqa: E402


async def soak(seconds: float, every: float, root: Path) -> int:
    cluster = Cluster(root, extra_env={"ISLES_LOG_LEVEL": "error"})
    await cluster.start()
    faults: list[tuple[float, str, float]] = []
    try:
        driver = Driver(cluster)
        async with httpx.AsyncClient(headers=cluster.headers) as client:
            await driver.setup(client, employees=20, projects=3)
            start = time.monotonic()

            async def inject() -> None:
                kinds = ["kill -9 project", "kill -9 employee", "restart NATS"]
                n = 0
                while (n + 1) * every < seconds:  # a fault at every, 2*every, ... within the stream
                    await asyncio.sleep(max(0.0, start + (n + 1) * every - time.monotonic()))
                    kind = kinds[n % len(kinds)]
                    n += 1
                    began = time.monotonic()
                    if kind == "restart NATS":
                        cluster.nats.kill()
                        await asyncio.sleep(2)
                        cluster.nats.start()
                    else:
                        name = kind.rsplit(" ", 1)[1]
                        cluster[name].kill()
                        await asyncio.sleep(1)
                        await cluster.restart(name)
                    faults.append((began - start, kind, time.monotonic() - began))
                    print(f"  t={began - start:6.1f}s {kind} (back after {time.monotonic() - began:.1f}s)", flush=True)

            await asyncio.gather(driver.run(client, seconds), inject())
        began = time.monotonic()
        v = await converge(cluster, timeout=300)
        settle = time.monotonic() - began
    finally:
        await cluster.stop()
    dead = {str(d["event_id"]) for d in v.dead}
    lost = v.published - v.applied - dead
    t = driver.tally
    print(f"{seconds:.0f} s, {len(faults)} faults; writes: {t.renames_ok} renames, {t.assignments_ok} assignments,")
    print(f"  {t.refused} refused while a service was down, {t.ambiguous} without an answer")
    print(f"events committed by employee: {len(v.published)}, applied by project: {len(v.applied)}")
    print(f"lost: {len(lost)}, dead letters: {len(dead)}, stale assignments: {len(v.stale)}")
    print(f"assignments: {v.assignments}, converged {settle:.1f} s after the stream stopped")
    ok = not lost and not dead and not v.stale and not v.versions_behind
    print("OK: every committed change reflected exactly once" if ok else "FAILED")
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120.0, help="length of the write stream")
    parser.add_argument("--every", type=float, default=15.0, help="seconds between faults")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="isles-soak-") as tmp:
        sys.exit(asyncio.run(soak(args.seconds, args.every, Path(tmp))))


if __name__ == "__main__":
    main()
