"""The split benchmark still runs: a tiny monolith split into PostgreSQL, verified, and
(where pgloader is installed) loaded by pgloader beside it; its times are not checked."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import require_postgres

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.postgres


def test_split_benchmark_runs_and_prints_its_figures() -> None:
    require_postgres()
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "split.py"), "--employees", "100"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    tools = [line.split("  ")[0] for line in lines if line.startswith(("isles split", "pgloader"))]
    expected = [
        "isles split run",
        "isles split run (rerun: no change)",
        "isles split verify",
        "isles split run + verify",
        "isles split run --verify",
    ]
    if shutil.which("pgloader"):
        expected.append("pgloader (one database, as is)")
        assert any("isles split run / pgloader time" in line for line in lines), result.stdout
        assert any("isles split run --verify / pgloader time" in line for line in lines), result.stdout
    else:  # a machine without it (.ci/run does not install it): the benchmark says so
        expected.append("pgloader: not installed (apt-get install pgloader); no comparison")
    assert tools == expected, result.stdout
