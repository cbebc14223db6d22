"""The saga benchmark still runs and prints its table (tiny sizes; its figures are not checked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_saga_benchmark_prints_its_table_and_ratios() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "sagas.py"),
            "--count",
            "5",
            "--clients",
            "2",
            "--backends",
            "sqlite",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].split()[:4] == ["backend", "kind", "count", "p50"]
    kinds = [" ".join(line.split()[1:-4]) for line in lines[2:5]]
    assert kinds == ["plain write", "CreateAssignment", "CreateEmployee"]
    for line in lines[2:5]:
        assert float(line.split()[-1]) > 0, "a throughput figure"
    assert any("CreateEmployee" in line and "x" in line for line in lines[6:])


def test_saga_benchmark_refuses_bad_arguments() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "sagas.py"), "--backends", "mysql"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "unknown backend(s): mysql" in result.stderr
