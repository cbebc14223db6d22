"""The leave accrual benchmark still runs and prints its table (tiny size; its figures
are not checked, but the rerun must add nothing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_leave_accrual_benchmark_prints_its_table() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "leave_accrual.py"), "--quick", "--backends", "sqlite"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].split()[:4] == ["backend", "employees", "types", "entries"]
    backend, employees, types, entries, _s, _rate, rerun_added, *_ = lines[2].split()
    assert (backend, employees, types, entries, rerun_added) == ("sqlite", "200", "5", "1000", "0")
