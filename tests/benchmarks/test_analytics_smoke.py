"""The analytics benchmark still runs and prints its table (tiny sizes, SQLite; its
figures are not checked, only that every row is there and the checks inside it held:
every event archived, the headcount at the end as generated, DuckDB's series equal to
the SQL's)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_analytics_benchmark_prints_its_table() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "analytics.py"),
            "--events",
            "3000",
            "--employees",
            "200",
            "--requests",
            "3",
            "--take-events",
            "500",
            "--backends",
            "sqlite",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {line[:34].strip(): line[34:].split() for line in result.stdout.splitlines()}
    assert rows["events archived"] == ["3,000"]
    for label in ("ingest events/s", "GET miss p50 ms", "GET hit p50 ms"):
        assert float(rows[label][0].replace(",", "")) > 0, label
    from hrms.services.analytics.archive import ARCHIVE

    for model in ARCHIVE.read_models:  # every read model rebuilt, each with a time
        assert float(rows[f"rebuild {model} s"][0]) > 0, model
        assert f"{model}: its events" in rows, model
    assert int(rows["headcount: its events"][0].replace(",", "")) > 0
    try:
        import duckdb  # noqa: F401
    except ImportError:
        return
    assert float(rows["DuckDB: total ms"][0].replace(",", "")) > 0


def test_analytics_benchmark_refuses_an_unknown_backend() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "analytics.py"), "--backends", "oracle"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "unknown backend(s): oracle" in result.stderr
