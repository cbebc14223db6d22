"""The field-encryption benchmark still runs and prints its table (tiny sizes; its
figures are not checked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_encryption_benchmark_prints_its_ratios() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "encryption.py"), "--rounds", "4", "--backends", "sqlite"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].split()[:2] == ["backend", "operation"]
    assert [line.split()[1] for line in lines[2:4]] == ["read", "rename"]
    for line in lines[2:4]:
        assert line.endswith("x"), "a ratio"
    assert "decrypt" in lines[-1]
