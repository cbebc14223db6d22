"""The order benchmark still runs and prints its tables (tiny sizes; its figures are not checked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import IN_CI, NATS_SERVER_BIN, require_postgres

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


@pytest.mark.e2e
@pytest.mark.postgres
@pytest.mark.nats
def test_order_benchmark_runs_the_saga_over_nats_processes() -> None:
    require_postgres()
    if not Path(NATS_SERVER_BIN).exists():  # the benchmark runs a NATS server of its own
        if IN_CI:
            pytest.fail(f"{NATS_SERVER_BIN} is required under CI")
        pytest.skip("nats-server is not installed here")
    result = _run("--part", "saga", "--count", "3", "--clients", "2", "--backends", "nats")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split()[:2] for line in lines[2:4]] == [["nats", "plain"], ["nats", "PlaceOrder"]]
    assert "dead letters: none" in result.stderr
    assert "6 completed" in result.stderr  # every PlaceOrder saga completed (3 one at a time, 3 concurrent)
    assert not any("rebuild" in line for line in lines)


def test_order_benchmark_refuses_bad_arguments() -> None:
    result = _run("--backends", "mysql")
    assert result.returncode == 2
    assert "unknown backend(s): mysql" in result.stderr
