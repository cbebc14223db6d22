"""The lint benchmark still runs and prints its table and ratio (tiny sizes; its
figures are not checked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_lint_benchmark_prints_its_table_and_ratio() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "lint.py"), "--tables", "20", "--migrations", "40", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["tool", "input"]
    assert any(line.startswith("isles lint") and "40 migrations" in line for line in lines)
    assert any(line.startswith("squawk ") for line in lines), "squawk-cli is a dev dependency"
    assert "ratio isles lint / squawk" in lines[-1]
