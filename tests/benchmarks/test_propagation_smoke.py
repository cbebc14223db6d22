"""The benchmark still runs and prints its table (tiny sizes; its figures are not checked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_propagation_benchmark_prints_its_table() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "propagation.py"),
            "--renames",
            "20",
            "--burst",
            "40",
            "--employees",
            "5",
            "--backends",
            "sqlite",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].split() == [
        "backend",
        "renames",
        "p50",
        "ms",
        "p99",
        "ms",
        "max",
        "ms",
        "burst",
        "writers",
        "events/s",
        "commits/s",
    ]
    row = lines[2].split()
    assert row[:2] == ["sqlite", "20"]
    assert all(float(x) > 0 for x in row[2:5])


def test_benchmark_refuses_an_unknown_backend() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "propagation.py"), "--backends", "oracle"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "unknown backend(s): oracle" in result.stderr
