"""``isles up --distributed``: a process per service on PostgreSQL and NATS, the
gateway in front, demo data, propagation across processes, clean stop."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid

import httpx
import pytest
from sqlalchemy.engine import make_url

from isles.db import drop_postgres_database
from tests.support import NATS_URL, PG_SERVER, free_port, require_nats, require_postgres

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_up_distributed_runs_each_service_as_a_process_behind_the_gateway() -> None:
    require_postgres()
    require_nats()
    prefix = f"isles_d_{uuid.uuid4().hex[:10]}"
    template = f"{PG_SERVER}/{prefix}_{{service}}"
    port = free_port()
    env = {**os.environ, "ISLES_NATS_PREFIX": prefix}
    proc = subprocess.Popen(
        [
            sys.executable,
            *("-m", "isles.cli", "up", "--distributed", "--port", str(port)),
            "--database-url",
            template,
            "--nats-url",
            NATS_URL,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=5) as api:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if (api.get("/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "not ready within 90 s"
                time.sleep(0.2)
            services = children_of(proc.pid)
            assert len(services) == 2, "one process per service"
            index = (api.get("/")).json()
            assert set(index["services"]) == {"employee", "project"}
            people = (api.get("/api/employee/employees", params={"limit": 50})).json()
            assert people["total"] == 6, "demo data loaded through the gateway"
            ada = next(p for p in people["items"] if p["first_name"] == "Ada")
            r = api.patch(f"/api/employee/employees/{ada['id']}", json={"last_name": "King"})
            assert r.status_code == 200
            for _ in range(100):
                rows = (api.get("/api/project/assignments", params={"employee_id": ada["id"]})).json()["items"]
                if rows and all(a["employee_name"] == "Ada King" for a in rows):
                    break
                time.sleep(0.1)
            assert rows
            assert {a["employee_name"] for a in rows} == {"Ada King"}, "the rename crossed processes over NATS"
            bad = api.post("/api/project/assignments", json={"employee_id": "nope"})
            assert bad.status_code == 422
            assert bad.headers["content-type"] == "application/problem+json"
            missing = api.get("/api/nosuch/things")
            assert missing.status_code == 404
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        for pid in services:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        for service in ("employee", "project"):
            asyncio.run(drop_postgres_database(make_url(template.replace("{service}", service))))
