"""A production-shaped HRMS on this machine for fault tests and the soak: every
service an ``isles serve`` process, each on its own PostgreSQL database, over a NATS
server of the test's own (which may be killed and started again). A driver writes a
steady stream of renames and new assignments through the services' APIs, and the
checks compare the databases row by row."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from hrms.system import build
from isles import System
from isles.runtime.keys import generate_system_keys
from isles.storage.db import connect_waiting
from tests import preload
from tests.preload import PreloadedProcess
from tests.support import PG_SERVER, NatsServer, drop_in_background, free_port, operator_headers

#: The services the fault cluster runs as processes: the core of the HR system (the
#: workforce services consume its events but take no part in what these tests check).
SERVICES = ("auth", "company", "employee", "project", "notification")
#: Every service of the HR system (what ``isles up --distributed`` starts).
ALL_SERVICES = tuple(s.name for s in build().services)


def core() -> System:
    """The HR system's core services alone (``--system tests.hrms.cluster:core``): what
    the crash and saga tests are about, without the workforce services' databases,
    migrations and consumers to start on every (re)start."""
    full = build()
    return System(name="hrms-core", services=[s for s in full.services if s.name in SERVICES], demo=full.demo)


def core_with_leave() -> System:
    """The core services and the leave service (``--system tests.hrms.cluster:core_with_leave``):
    the system of a test marked ``services("leave")``, for a command it runs."""
    full = build()
    kept = [s for s in full.services if s.name in SERVICES or s.name == "leave"]
    return System(name="hrms-core-leave", services=kept, demo=full.demo)


HANDLED_BY_PROJECT = ("employee.EmployeeCreated", "employee.EmployeeUpdated", "employee.EmployeeDeactivated")

FAST_ENV = {
    "ISLES_NATS_ACK_WAIT": "2",
    "ISLES_RELAY_POLL_INTERVAL": "0.2",
    "ISLES_RELAY_LEASE_SECONDS": "2",
    "ISLES_RETRY_MAX_ATTEMPTS": "12",
    "ISLES_RETRY_BASE_DELAY": "0.1",
    "ISLES_RETRY_MAX_DELAY": "1.0",
    "ISLES_SAGA_LEASE_SECONDS": "2",
    "ISLES_SAGA_POLL_INTERVAL": "0.2",
    "ISLES_LOG_LEVEL": "warning",
    "ISLES_LOG_FORMAT": "json",
    # Connections a process no longer uses closed soon (the default is a minute): the
    # test workers share the server's 100 connections.
    "ISLES_POOL_IDLE_TIMEOUT": "2",
}


@dataclass
class ServiceProcess:
    name: str
    port: int
    args: list[str]
    env: dict[str, str]
    log: Path
    proc: PreloadedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """``isles serve <name>``, forked from the preloader (tests/preload.py): these
        tests are about killing and restarting services, not about their start."""
        self.proc = preload.start(["serve", self.name, *self.args], {**os.environ, **self.env}, self.log)

    async def wait_ready(self, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
                try:
                    if (await client.get(f"{self.url}/ready")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.name} not ready within {timeout}s:\n{self.tail()}")
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def terminate(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.wait(timeout=30)

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""


@dataclass
class Cluster:
    root: Path
    prefix: str = field(default_factory=lambda: f"isles_f_{uuid.uuid4().hex[:10]}")
    extra_env: Mapping[str, str] = field(default_factory=dict)
    service_env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # one service's own extras

    def __post_init__(self) -> None:
        self.nats = NatsServer(self.root / "nats")
        self.template = f"{PG_SERVER}/{self.prefix}_{{service}}"
        ports = {name: free_port() for name in SERVICES}
        self.keys = self.root / "keys"
        generate_system_keys(build(), self.keys)  # signing keys and the employee's data key
        self.headers = operator_headers(self.keys)
        env = {**FAST_ENV, "ISLES_NATS_PREFIX": self.prefix, "ISLES_KEYS_DIR": str(self.keys), **self.extra_env}
        self.services: dict[str, ServiceProcess] = {}
        for name, port in ports.items():
            args = ["--port", str(port), "--bus", "nats", "--nats-url", self.nats.url, "--database-url", self.template]
            for other, p in ports.items():
                if other != name:
                    args += ["--peer", f"{other}=http://127.0.0.1:{p}"]
            own = {**env, **self.service_env.get(name, {})}
            self.services[name] = ServiceProcess(name, port, args, own, self.root / f"{name}.log")

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.services[name]

    async def start(self) -> None:
        """Start NATS and every service; if one does not come up, kill them all (no
        process outlives the test) and say which."""
        self.nats.start()
        try:
            for service in self.services.values():
                service.start()
            for service in self.services.values():
                await service.wait_ready()
        except BaseException:
            await self.stop()
            raise

    async def restart(self, name: str) -> None:
        self.services[name].start()
        await self.services[name].wait_ready()

    async def stop(self) -> None:
        for service in self.services.values():
            service.kill()
        self.nats.kill()
        for name in self.services:  # in the background: a drop waits for a checkpoint
            drop_in_background(self.template.replace("{service}", name))

    def dsn(self, service: str) -> str:
        url = make_url(self.template.replace("{service}", service)).set(drivername="postgresql")
        return url.render_as_string(hide_password=False)

    async def execute(self, service: str, script: str) -> None:
        """Run a script (several statements) as the admin on ``service``'s database."""
        conn = await connect_waiting(self.dsn(service))
        try:
            await conn.execute(script)
        finally:
            await conn.close()

    async def query(self, service: str, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await connect_waiting(self.dsn(service))
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()


@dataclass
class Tally:
    renames_ok: int = 0
    assignments_ok: int = 0
    refused: int = 0  # an answer that says nothing was done (connection refused, 4xx/5xx)
    ambiguous: int = 0  # no answer: the write may or may not have committed


class Driver:
    """Writes through the APIs: renames of employees, new assignments."""

    def __init__(self, cluster: Cluster, *, seed: int = 7) -> None:
        self.cluster = cluster
        self.rng = random.Random(seed)
        self.employees: list[str] = []
        self.projects: list[str] = []
        self.tally = Tally()
        self._n = 0
        self._pairs: list[tuple[str, str]] = []
        self._lock = asyncio.Lock()
        self.company = ""

    def _api(self, service: str) -> str:
        return f"{self.cluster[service].url}/api/{service}"

    async def setup(self, client: httpx.AsyncClient, employees: int = 8, projects: int = 2) -> None:
        r = await client.post(f"{self._api('company')}/companies", json={"name": "Fault Test Co"})
        assert r.status_code == 201, r.text
        company = self.company = r.json()["id"]
        for i in range(employees):
            body = {
                "employee_number": f"F-{i}-{uuid.uuid4().hex[:6]}",
                "company_id": company,
                "first_name": f"First{i}",
                "last_name": f"Last{i}",
                "email": f"f{i}.{uuid.uuid4().hex[:8]}@example.com",
                "hire_date": "2024-03-01",
            }
            r = await client.post(f"{self._api('employee')}/employees", json=body)
            assert r.status_code == 201, r.text
            self.employees.append(r.json()["id"])
        for i in range(projects):
            body = {"name": f"P{i}", "client": "C", "capacity": 10_000, "company_id": company}
            r = await client.post(f"{self._api('project')}/projects", json=body)
            assert r.status_code == 201, r.text
            self.projects.append(r.json()["id"])
        self._pairs = [(e, p) for e in self.employees for p in self.projects]
        self.rng.shuffle(self._pairs)

    async def _write(self, client: httpx.AsyncClient, method: str, url: str, body: dict[str, Any]) -> int | None:
        try:
            r = await client.request(method, url, json=body, timeout=5)
        except httpx.ConnectError:
            self.tally.refused += 1
            return None
        except httpx.TransportError:
            self.tally.ambiguous += 1
            return None
        if r.status_code >= 400:
            self.tally.refused += 1
        return r.status_code

    async def rename(self, client: httpx.AsyncClient, employee: str) -> None:
        self._n += 1
        url = f"{self._api('employee')}/employees/{employee}"
        if await self._write(client, "PATCH", url, {"first_name": f"N{self._n}"}) == 200:
            self.tally.renames_ok += 1

    async def _free_pair(self, client: httpx.AsyncClient) -> tuple[str, str] | None:
        """An (employee, project) not assigned yet (one live assignment per pair): a new
        project when every pair is taken."""
        async with self._lock:
            if not self._pairs:
                body = {"name": f"P-{uuid.uuid4().hex[:8]}", "client": "C", "capacity": 10_000}
                try:
                    r = await client.post(
                        f"{self._api('project')}/projects", json={**body, "company_id": self.company}, timeout=5
                    )
                except httpx.ConnectError:
                    self.tally.refused += 1  # a write the service refused (it was down)
                    return None
                except httpx.TransportError:
                    self.tally.ambiguous += 1
                    return None
                if r.status_code != 201:
                    self.tally.refused += 1
                    return None
                self.projects.append(r.json()["id"])
                self._pairs = [(e, self.projects[-1]) for e in self.employees]
                self.rng.shuffle(self._pairs)
            return self._pairs.pop()

    async def new_assignment(self, client: httpx.AsyncClient) -> None:
        pair = await self._free_pair(client)
        if pair is None:
            return
        body = {
            "employee_id": pair[0],
            "project_id": pair[1],
            "role": "Engineer",
            "allocation": 1,  # many per employee stay within the 100 % limit
            "start_date": "2025-01-01",
        }
        if await self._write(client, "POST", f"{self._api('project')}/assignments", body) == 201:
            self.tally.assignments_ok += 1

    async def run(self, client: httpx.AsyncClient, seconds: float, *, writers: int = 3, renames: int = 0) -> None:
        """Write for ``seconds``, and on until ``renames`` renames have succeeded (a test
        that needs that many events around its fault gets them however loaded the
        machine is), for at most five times ``seconds``."""
        start = time.monotonic()
        deadline, limit = start + seconds, start + 5 * seconds

        def going() -> bool:
            now = time.monotonic()
            return now < deadline or (self.tally.renames_ok < renames and now < limit)

        async def writer() -> None:
            i = 0
            while going():
                i += 1
                if i % 3 == 0:
                    await self.new_assignment(client)
                else:
                    await self.rename(client, self.rng.choice(self.employees))
                await asyncio.sleep(0.01)

        await asyncio.gather(*(writer() for _ in range(writers)))


@dataclass
class Verdict:
    """What the databases say, row by row."""

    published: set[str]  # employee outbox: events the project service must apply
    applied: set[str]  # project inbox, status processed
    dead: list[asyncpg.Record]
    stale: list[tuple[str, str, str, str]]  # (assignment, employee, has name, should have)
    versions_behind: list[tuple[str, int, int]]
    assignments: int


async def verdict(cluster: Cluster) -> Verdict:
    published = {
        str(r["event_id"])
        for r in await cluster.query(
            "employee", "SELECT event_id FROM isles_outbox_events WHERE event_type = ANY($1)", list(HANDLED_BY_PROJECT)
        )
    }
    applied = {
        str(r["event_id"])
        for r in await cluster.query("project", "SELECT event_id FROM isles_inbox_events WHERE status = 'processed'")
    }
    dead = await cluster.query("project", "SELECT event_id, aggregate_id, event_type, error FROM isles_dead_letters")
    people = {
        str(r["id"]): (f"{r['first_name']} {r['last_name']}", r["version"])
        for r in await cluster.query("employee", "SELECT id, first_name, last_name, version FROM employees")
    }
    rows = await cluster.query("project", "SELECT id, employee_id, employee_name, employee_version FROM assignments")
    stale = [
        (str(r["id"]), str(r["employee_id"]), r["employee_name"], people[str(r["employee_id"])][0])
        for r in rows
        if r["employee_name"] != people[str(r["employee_id"])][0]
    ]
    behind = [
        (str(r["id"]), r["employee_version"], people[str(r["employee_id"])][1])
        for r in rows
        if r["employee_version"] != people[str(r["employee_id"])][1]
    ]
    return Verdict(published, applied, dead, stale, behind, len(rows))


async def converge(cluster: Cluster, *, timeout: float = 60.0, ignore: set[str] | None = None) -> Verdict:  # noqa: ASYNC109
    """Wait until every published event is applied (or parked) and no assignment is
    stale, but for the employees in ``ignore``."""
    deadline = time.monotonic() + timeout
    while True:
        v = await verdict(cluster)
        dead_ids = {str(d["event_id"]) for d in v.dead}
        missing = v.published - v.applied - dead_ids
        stale = [s for s in v.stale if not ignore or s[1] not in ignore]
        if not missing and not stale:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(
                f"not converged after {timeout}s: {len(missing)} events not applied, {len(stale)} stale assignments\n"
                + "\n".join(f"--- {s.name}\n{s.tail()}" for s in cluster.services.values())
            )
        await asyncio.sleep(0.25)
