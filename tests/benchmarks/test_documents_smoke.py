"""The documents benchmark still runs and prints its table (tiny sizes, the file
store and S3 on moto; its figures are not checked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_documents_benchmark_prints_its_table() -> None:
    pytest.importorskip("moto.server", reason="moto[server] comes with the dev extra")
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "documents.py"), "--sizes", "0.25", "--rounds", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].split() == ["store", "size", "MiB", "upload", "MiB/s", "download", "MiB/s"]
    rows = [line.split() for line in lines[2:]]
    assert [(r[0], r[1]) for r in rows] == [("file", "0.25"), ("s3", "0.25")]
    assert all(float(r[2]) > 0 and float(r[3]) > 0 for r in rows)
