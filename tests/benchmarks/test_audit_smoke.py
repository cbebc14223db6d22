"""The audit benchmark still runs: both tools, on versions and on values, both
scenarios, and each finds the stale rows made (tiny sizes; its times are not checked)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.support import require_postgres

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.postgres


def test_audit_benchmark_runs_both_tools_and_they_agree() -> None:
    require_postgres()
    prefix = f"isles_smoke_audit_{uuid.uuid4().hex[:8]}"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "audit.py"),
            "--rows",
            "3000",
            "--stale",
            "0.02",
            "--prefix",
            prefix,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    rows = [line.split() for line in lines if line.startswith(("clean", "stale"))]
    assert {(r[0], r[3] if r[0] == "stale" else r[1]) for r in rows} == {
        (scenario, tool)
        for scenario in ("clean", "stale")
        for tool in ("isles", "reladiff", "isles-values", "reladiff-values")
    }, result.stdout
    assert not [line for line in lines if line.strip().startswith("!")], result.stdout
    assert sum(line.strip().startswith("isles / reladiff time") for line in lines) == 2
    assert sum("with the values: isles / reladiff time" in line for line in lines) == 2
