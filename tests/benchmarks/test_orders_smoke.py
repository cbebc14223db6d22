"""The order benchmark still runs and prints its tables (tiny sizes; its figures are not checked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "orders.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.e2e
def test_order_benchmark_prints_the_saga_and_rebuild_tables() -> None:
    result = _run("--count", "4", "--clients", "2", "--events", "40", "--backends", "sqlite")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["backend", "kind", "count"]
    assert [line.split()[1] for line in lines[2:4]] == ["plain", "PlaceOrder"]
    rebuilt = [line.split() for line in lines if "rebuild" in line]
    assert [(r[2], int(r[3])) for r in rebuilt] == [("orders", 40), ("order_history", 40)]
    assert all(float(r[-1]) > 0 for r in rebuilt)


def test_order_benchmark_refuses_bad_arguments() -> None:
    result = _run("--backends", "mysql")
    assert result.returncode == 2
    assert "unknown backend(s): mysql" in result.stderr
