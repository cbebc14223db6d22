"""transport.py and soak.py still run and print their figures (tiny sizes; the
figures themselves are not checked, but the soak's exactly-once verdict is)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import PG_SERVER, require_nats, require_postgres

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]


def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    require_postgres()
    require_nats()
    try:
        return subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True, text=True, timeout=300
        )
    except subprocess.TimeoutExpired as exc:  # what it said of its steps shows where the time went
        said = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
        pytest.fail(f"{script} did not end within {exc.timeout} s; it said:\n{said[-3000:]}")


def _databases(prefix: str) -> set[str]:
    import asyncio

    from isles.storage.db import connect_waiting

    async def names() -> set[str]:
        conn = await connect_waiting(PG_SERVER.replace("postgresql+asyncpg://", "postgresql://") + "/postgres")
        try:
            rows = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", prefix + "%")
        finally:
            await conn.close()
        return {r["datname"] for r in rows}

    return asyncio.run(names())


def test_transport_benchmark_prints_its_table() -> None:
    require_postgres()
    before = _databases("isles_tb_")  # the embedded system's (isles up: every HR service)
    result = run("transport.py", "--rate", "20", "--seconds", "1", "--burst", "40", "--employees", "4")
    assert result.returncode == 0, result.stderr[-3000:]
    assert _databases("isles_tb_") - before == set(), "the benchmark drops every database it made"
    lines = result.stdout.strip().splitlines()
    assert lines[0].split()[:4] == ["pipeline", "offered/s", "p50", "ms"]
    assert lines[2].startswith("raw INSERT commit")
    assert lines[3].startswith("embedded bus")
    assert lines[4].startswith("NATS JetStream")
    assert lines[5].startswith("ratio NATS JetStream")


def test_soak_runs_faults_and_reports_exactly_once() -> None:
    result = run("soak.py", "--seconds", "10", "--every", "4")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "kill -9 project" in result.stdout
    assert "kill -9 employee" in result.stdout
    assert "lost: 0, dead letters: 0, stale assignments: 0" in result.stdout


def test_nats_pull_benchmark_prints_both_paths() -> None:
    require_nats()
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "nats_pull.py"), "--messages", "300", "--batch", "32"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line.split("|") for line in result.stdout.splitlines() if "|" in line][1:]
    assert [r[0].strip() for r in rows] == ["nats-py fetch", "isles bus"]
    assert all(float(r[2]) > 0 for r in rows), "CPU per message measured"
