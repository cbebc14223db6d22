"""``isles up --distributed``: a process per service on PostgreSQL and NATS, the
gateway in front, demo data, propagation across processes, clean stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

from hrms import demo
from shop.system import build as build_shop
from tests import support
from tests.hrms.cluster import ALL_SERVICES as SERVICES
from tests.support import NATS_URL, PG_SERVER, drop_in_background, isles_up, require_nats, require_postgres

SHOP = tuple(s.name for s in build_shop().services)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_up_distributed_runs_each_service_as_a_process_behind_the_gateway() -> None:
    require_postgres()
    require_nats()
    prefix = f"isles_d_{uuid.uuid4().hex[:10]}"
    template = f"{PG_SERVER}/{prefix}_{{service}}"
    env = {**os.environ, "ISLES_NATS_PREFIX": prefix}
    args = ("--distributed", "--database-url", template, "--nats-url", NATS_URL)
    try:
        with (
            isles_up(*args, env=env, wait_for="/ready", timeout=180) as (proc, base),
            httpx.Client(base_url=base, timeout=5, headers=support.AUTH[base]) as api,
        ):
            services = children_of(proc.pid)
            assert len(services) == len(SERVICES), "one process per service"
            assert set(api.get("/").json()["services"]) == set(SERVICES)
            people = api.get("/api/employee/employees", params={"limit": 50}).json()
            assert people["total"] == demo.EMPLOYEES, "demo data loaded through the gateway"
            # Each hire was a CreateEmployee saga across three processes.
            # The headcount follows the EmployeeCreated events, over NATS.
            for _ in range(100):
                company = api.get("/api/company/companies").json()["items"][0]
                if company["headcount"] == 6:
                    break
                time.sleep(0.1)
            assert company["headcount"] == 6
            assert api.get("/api/auth/users").json()["total"] == demo.EMPLOYEES
            ada = next(p for p in people["items"] if p["first_name"] == "Ada")
            assert api.patch(f"/api/employee/employees/{ada['id']}", json={"last_name": "King"}).status_code == 200
            for _ in range(100):
                rows = api.get("/api/project/assignments", params={"employee_id": ada["id"]}).json()["items"]
                if rows and all(a["employee_name"] == "Ada King" for a in rows):
                    break
                time.sleep(0.1)
            assert rows
            assert {a["employee_name"] for a in rows} == {"Ada King"}, "the rename crossed processes over NATS"
            bad = api.post("/api/project/assignments", json={"employee_id": "nope"})
            assert bad.status_code == 422
            assert bad.headers["content-type"] == "application/problem+json"
            assert api.get("/api/nosuch/things").status_code == 404
            # The operator console, on the proxy gateway: every service of the system,
            # its process's health and readiness, its database's numbers, its lag on NATS.
            assert 'type="password"' in api.get("/console/login").text
            overview = api.get("/console/overview.json")
            assert overview.status_code == 200, overview.text
            assert overview.json()["bus"] == "ok", "the gateway's own NATS connection"
            rows = {s["name"]: s for s in overview.json()["services"]}
            assert set(rows) == set(SERVICES)
            assert all(s["healthy"] and s["ready"] for s in rows.values()), rows
            # The databases' numbers come from the console's sampler: None until it has
            # read them (a CI run on a loaded machine looked before it had).
            for _ in range(300):
                if all(s["dead_letters"] is not None for s in rows.values()):
                    break
                time.sleep(0.2)
                rows = {s["name"]: s for s in api.get("/console/overview.json").json()["services"]}
            assert all(s["dead_letters"] == 0 for s in rows.values()), {n: s["dead_letters"] for n, s in rows.items()}
            assert isinstance(rows["company"]["lag"], int), "a consumer's lag, read from JetStream"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
            for pid in services:
                with pytest.raises(ProcessLookupError):
                    os.kill(pid, 0)
    finally:
        for service in SERVICES:
            drop_in_background(template.replace("{service}", service))


def test_children_stop_when_the_supervisor_is_killed() -> None:
    """Every service a process of its own: the shop's three (the supervisor is the
    platform's; the test above runs every HR service), started on two cores beside
    other tests: a longer bound than the other tests' for /ready."""
    require_postgres()
    require_nats()
    prefix = f"isles_d_{uuid.uuid4().hex[:10]}"
    template = f"{PG_SERVER}/{prefix}_{{service}}"
    env = {**os.environ, "ISLES_NATS_PREFIX": prefix}
    system = ("--system", "shop")
    args = (*system, "--distributed", "--no-demo", "--database-url", template, "--nats-url", NATS_URL)
    try:
        with isles_up(*args, env=env, wait_for="/ready", timeout=180) as (proc, _base):
            services = children_of(proc.pid)
            assert len(services) == len(SHOP)
            proc.send_signal(signal.SIGKILL)  # no shutdown code runs in the supervisor
            proc.wait(timeout=30)
            deadline = time.monotonic() + 30
            alive = services
            while alive and time.monotonic() < deadline:
                alive = [pid for pid in services if _alive(pid)]
                time.sleep(0.1)
            assert not alive, "no service process outlives its supervisor"
    finally:
        for service in SHOP:
            drop_in_background(template.replace("{service}", service))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout.strip()
    return bool(state) and not state.startswith("Z")


def test_a_killed_service_gets_its_port_back_though_another_process_wanted_it() -> None:
    """A killed service process is restarted on its port, and while it is down no other
    server can take the port (the supervisor holds it: tests/isles/test_reserved_ports.py
    has the cases that failed before; here, on a real run, the dead process's own
    connections also hold the port for a while, so this passes on the old code too)."""
    require_postgres()
    require_nats()
    prefix = f"isles_d_{uuid.uuid4().hex[:10]}"
    template = f"{PG_SERVER}/{prefix}_{{service}}"
    env = {**os.environ, "ISLES_NATS_PREFIX": prefix}
    args = ("--system", "shop", "--distributed", "--no-demo", "--database-url", template, "--nats-url", NATS_URL)
    try:
        with isles_up(*args, env=env, wait_for="/ready", timeout=180) as (proc, base):
            health = httpx.get(f"{base}/health", timeout=10, headers=support.AUTH[base]).json()
            assert health["status"] == "ok"
            [product] = [pid for pid in children_of(proc.pid) if " serve product " in _args(pid)]
            port = int(_args(product).split("--port")[1].split()[0])
            os.kill(product, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while _alive(product) and time.monotonic() < deadline:
                time.sleep(0.05)
            # Another server wants the port while the service is down (as uvicorn binds).
            with pytest.raises(OSError, match="in use"):
                _listen_on(port)
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the product service came back on its port"
                assert proc.poll() is None
                time.sleep(0.2)
            restarted = [pid for pid in children_of(proc.pid) if pid != product]
            assert len(restarted) == len(SHOP), "the supervisor restarted the killed service"
    finally:
        for service in SHOP:
            drop_in_background(template.replace("{service}", service))


def _args(pid: int) -> str:
    """A process's whole command line (``ps`` cuts it to the terminal's width)."""
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def _listen_on(port: int) -> None:
    """Listen on ``port`` as a server would (``SO_REUSEADDR``), then let it go."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()
