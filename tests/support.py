"""Test support: backends (SQLite, PostgreSQL) and helpers shared by the suites."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from isles.db import drop_postgres_database
from isles.settings import IslesSettings

PG_SERVER = os.environ.get("ISLES_TEST_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

FAST = {
    "relay_poll_interval": 0.2,
    "retry_base_delay": 0.01,
    "retry_max_delay": 0.05,
    "retry_max_attempts": 3,
}


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_postgres() -> None:
    """Skip without PostgreSQL — except under CI, where its absence is a failure."""
    url = make_url(PG_SERVER)
    if _reachable(url.host or "127.0.0.1", url.port or 5432):
        return
    if IN_CI:
        pytest.fail(f"PostgreSQL is required under CI and is not reachable at {url.host}:{url.port}")
    pytest.skip("PostgreSQL is not running here")


@dataclass
class Backend:
    name: str
    settings: IslesSettings
    prefix: str = ""

    def url(self, service: str) -> str:
        return f"{PG_SERVER}/{self.prefix}_{service}"

    async def drop(self, services: Iterable[str]) -> None:
        if self.name == "postgres":
            for service in services:
                await drop_postgres_database(make_url(self.url(service)))


def make_backend(name: str, tmp_path: Path, **overrides: object) -> Backend:
    options = {**FAST, **overrides}
    if name == "sqlite":
        return Backend(name, IslesSettings(data_dir=tmp_path, **options))  # type: ignore[arg-type]
    require_postgres()
    prefix = f"isles_t_{uuid.uuid4().hex[:12]}"
    settings = IslesSettings(database_url=f"{PG_SERVER}/{prefix}_{{service}}", **options)  # type: ignore[arg-type]
    return Backend(name, settings, prefix)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def isles_up(*args: str, env: dict[str, str] | None = None) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Run ``isles up --port <free> *args`` as a real process until it answers /health;
    yield it and its base URL; kill it on the way out if it still runs."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "isles.cli", "up", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "isles up did not answer within 60 s"
            time.sleep(0.1)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stdout is not None and not proc.stdout.closed:
            proc.communicate(timeout=30)
