"""The backup benchmark still runs: three services of the HR system (fewer databases to
create and drop in the suite) with 300 employees backed up, restored
into new databases and verified by the tool, beside pg_dump/pg_restore by hand, and the
restored row counts equal the source's (tiny size; its times are not checked)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.support import require_postgres

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.postgres

SERVICES = ("--services", "auth,employee,project")
STEPS = [
    "isles backup (3 services)",
    "isles restore, new databases (3)",
    "isles restore --verify (3)",
    "isles backup (",
    "pg_dump (",
    "isles restore (",
    "pg_restore (",
]


def test_backup_benchmark_prints_every_step_and_restores_every_row() -> None:
    require_postgres()
    prefix = f"isles_smoke_backup_{uuid.uuid4().hex[:8]}"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "backup.py"), *("--quick", "--prefix", prefix), *SERVICES],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("step")))
    steps = lines[header + 1 : header + 1 + len(STEPS)]
    assert [s.startswith(p) for s, p in zip(steps, STEPS, strict=True)] == [True] * len(STEPS), result.stdout
    for step in steps:
        seconds, mb, rows_s = step.split()[-3:]
        assert float(seconds) > 0, step
        assert float(mb) > 0, step
        assert int(rows_s.replace(",", "")) > 0, step
    # The benchmark compares every restored table's count with the source's and says so
    # (a difference is a "!" line and exit 1).
    assert not [line for line in lines if line.strip().startswith("!")], result.stdout
    assert any("restored row counts: every table of every service equals the source's" in x for x in lines)
    assert any(x.startswith("total ") for x in lines), result.stdout
    assert any("isles backup / pg_dump time" in x for x in lines), result.stdout
    assert any("peak RSS" in x for x in lines), result.stdout
