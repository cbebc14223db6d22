"""Real processes, killed with SIGKILL: nothing committed is lost, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import support
from tests.hrms.cluster import SERVICES
from tests.support import Backend

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def _env(backend: Backend, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISLES_") or k == "ISLES_STATE_FILE"}
    if backend.settings.database_url:
        env["ISLES_DATABASE_URL"] = backend.settings.database_url
    env.update(extra)
    return env


@contextmanager
def isles_up(backend: Backend, data_dir: Path, **env: str) -> Iterator[tuple[Any, str]]:
    # The HR system's core services (the employee service's outbox and the project
    # service's copies are what these tests are about; the workforce services only made
    # every start migrate and seed five more databases), with the demo data, started
    # beside three other test workers on two cores: a longer bound than the default.
    # Forked from the preloader (tests/preload.py): the test is about the crash, not the start.
    args = ("--system", "tests.hrms.cluster:core", "--data-dir", str(data_dir))
    with support.isles_up(*args, env=_env(backend, **env), timeout=120, preloaded=True) as running:
        yield running


def converge(base: str, timeout: float = 30.0) -> tuple[dict[str, str], list[Any]]:
    """Poll until every assignment carries its employee's current name (a bound, not a timing)."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base, headers=support.AUTH[base]) as client:  # one client: one SSL context
        while True:
            employees = client.get("/api/employee/employees", params={"limit": 500}).json()["items"]
            names = {e["id"]: f"{e['first_name']} {e['last_name']}" for e in employees}
            assignments = client.get("/api/project/assignments", params={"limit": 500}).json()["items"]
            if all(a["employee_name"] == names[a["employee_id"]] for a in assignments):
                return names, assignments
            if time.monotonic() > deadline:
                stale = [a for a in assignments if a["employee_name"] != names[a["employee_id"]]]
                raise AssertionError(f"{len(stale)} assignments still stale: {stale[:3]}")
            time.sleep(0.1)


@pytest.fixture
def crash_backend(backend: Backend) -> Iterator[Backend]:
    yield backend

    backend.drop_later(SERVICES)


def test_rename_committed_then_process_killed_is_delivered_after_restart(
    crash_backend: Backend, tmp_path: Path
) -> None:
    with isles_up(crash_backend, tmp_path, ISLES_RELAY_ENABLED="false") as (proc, base):
        employees = httpx.get(f"{base}/api/employee/employees", headers=support.AUTH[base]).json()["items"]
        target = next(e for e in employees if e["last_name"] == "Lovelace")
        r = httpx.patch(
            f"{base}/api/employee/employees/{target['id']}", json={"last_name": "King"}, headers=support.AUTH[base]
        )
        assert r.status_code == 200
        proc.send_signal(signal.SIGKILL)  # committed, never published
        proc.wait(timeout=30)
    with isles_up(crash_backend, tmp_path) as (_proc, base):
        _names, assignments = converge(base)
        mine = [a for a in assignments if a["employee_id"] == target["id"]]
        assert mine
        assert {a["employee_name"] for a in mine} == {"Ada King"}


def test_process_killed_mid_stream_loses_no_committed_rename(crash_backend: Backend, tmp_path: Path) -> None:
    committed: dict[str, str] = {}
    with isles_up(crash_backend, tmp_path) as (proc, base):
        employees = httpx.get(f"{base}/api/employee/employees", headers=support.AUTH[base]).json()["items"]
        stop = threading.Event()

        def write() -> None:
            i = 0
            with httpx.Client(base_url=base, timeout=5, headers=support.AUTH[base]) as client:
                while not stop.is_set():
                    e = employees[i % len(employees)]
                    try:
                        r = client.patch(f"/api/employee/employees/{e['id']}", json={"last_name": f"N{i}"})
                    except httpx.TransportError:
                        return
                    if r.status_code == 200:
                        committed[e["id"]] = f"N{i}"
                    i += 1

        writer = threading.Thread(target=write)
        writer.start()
        time.sleep(1.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        stop.set()
        writer.join(timeout=30)
    assert len(committed) >= 3, "the writer got renames through before the kill"
    with isles_up(crash_backend, tmp_path) as (_proc, base):
        names, assignments = converge(base)
        for employee_id, last in committed.items():
            # The last acknowledged rename is in the employee service (a later one may
            # have committed without its answer reaching us before the kill).
            assert names[employee_id].split()[-1][1:].isdigit()
            assert int(names[employee_id].split()[-1][1:]) >= int(last[1:])
        assert len(assignments) == 10
