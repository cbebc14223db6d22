"""The attendance benchmark still runs and prints its table (tiny size; its figures are
not checked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_attendance_benchmark_prints_its_table() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "attendance.py"), "--quick", "--backends", "sqlite"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].split() == ["backend", "employees", "checkins", "rows", "first", "s", "again", "s", "employees/s"]
    row = lines[2].split()
    assert row[0] == "sqlite"
    assert row[1] == row[3] == "200", "one attendance row per employee"
    assert float(row[-1]) > 0
