"""A real ``isles up`` process killed (SIGKILL) at each point of a saga's life, then
the service started again: the saga finishes or compensates, and no step's effect is
applied twice. On SQLite and PostgreSQL.

The points are read off the saga definitions: after the saga is written; for each
step, after it is marked running, after its action returned (a remote step: the
participant has acted, its answer not yet written), after its completion is written;
and the same three for each compensation (a refusal of the last step starts them).
The client, cut off by the kill, sends its request again with the same
``Idempotency-Key`` after the restart and gets the saga's outcome.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from hrms.services.employee.sagas import CREATE_EMPLOYEE
from hrms.services.project.sagas import CREATE_ASSIGNMENT
from isles import ACROSS_TENANTS
from isles.core.settings import IslesSettings
from isles.http.idempotency import scoped_key
from isles.http.saga_routes import saga_id_for
from isles.runtime.system import SystemRuntime
from isles.sagas import Saga
from isles.storage.db import connect_waiting
from isles.storage.schema import outbox_table
from tests import support
from tests.hrms.cluster import SERVICES, core
from tests.hrms.helpers import count, new_company, new_employee, new_project, ok, value
from tests.support import PG_SERVER, Backend, make_backend

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

FAST = {
    "ISLES_SAGA_LEASE_SECONDS": "1",
    "ISLES_RELAY_LEASE_SECONDS": "1",  # a killed relay's claims on outbox rows (PostgreSQL)
    "ISLES_SAGA_POLL_INTERVAL": "0.1",
    "ISLES_SAGA_RETRY_BASE_DELAY": "0.01",
    "ISLES_LOG_LEVEL": "warning",  # what went wrong shows in a failure
    "ISLES_SAGA_WAIT_SECONDS": "60",  # the request waits for the kill, however loaded the machine
}


def crash_points(saga: Saga) -> list[tuple[str, dict[str, str], str]]:
    """(id, failpoints, expected outcome) for every point between two of the saga's writes."""
    prefix = f"saga.{saga.name}"
    points = [("started", {f"{prefix}.started": "kill"}, "completed")]
    for step in saga.steps:
        for moment in ("before", "after", "done"):
            if moment == "after" and step.local:
                continue  # inside the step's one transaction: the same as 'before'
            points.append((f"{step.name}.{moment}", {f"{prefix}.{step.name}.{moment}": "kill"}, "completed"))
    refuse = {f"{prefix}.{saga.steps[-1].name}.before": "refuse"}
    for step in reversed(saga.steps[:-1]):
        if step.compensation is None:
            continue
        for moment in ("before", "after", "done"):
            if moment == "after" and step.local:
                continue
            point = f"{prefix}.{step.name}.undo.{moment}"
            points.append((f"{step.name}.undo.{moment}", {**refuse, point: "kill"}, "compensated"))
    return points


@dataclass
class Seeded:
    """A company with one employee, and a project with room, in template databases."""

    backend: Backend
    root: Path
    company_id: str
    employee_id: str
    project_id: str

    def copy(self, name: str) -> Backend:
        """Fresh databases for one crash, copied from the template."""
        if self.backend.name == "sqlite":
            target = self.root / name
            shutil.copytree(self.root / "template", target)
            return Backend("sqlite", self.backend.settings.model_copy(update={"data_dir": target}))
        prefix = f"{self.backend.prefix}_{name}"

        async def clone() -> None:
            admin = make_url(PG_SERVER).set(drivername="postgresql", database="postgres")
            conn = await connect_waiting(admin.render_as_string(hide_password=False))
            try:
                for service in SERVICES:
                    source = f"{self.backend.prefix}_{service}"
                    await conn.execute(f'CREATE DATABASE "{prefix}_{service}" TEMPLATE "{source}"')
            finally:
                await conn.close()

        asyncio.run(clone())
        url = f"{PG_SERVER}/{prefix}_{{service}}"
        return Backend("postgres", self.backend.settings.model_copy(update={"database_url": url}), prefix)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    root = tmp_path_factory.mktemp("crash")
    backend = make_backend(request.param, root / "template")

    async def seed() -> Seeded:
        runtime = SystemRuntime(core(), backend.settings, environ={})
        await runtime.start()
        try:
            async with runtime.client() as api:
                company = await new_company(api, "Crash Co")
                employee = await new_employee(api, "Ada", "Lovelace", company_id=company["id"])
                project = await new_project(api, "Crash Project", capacity=5, company_id=company["id"])
            await runtime.settle()
        finally:
            await runtime.stop()
        return Seeded(backend, root, company["id"], employee["id"], project["id"])

    made = asyncio.run(seed())
    yield made
    backend.drop_later(SERVICES)


def run_until_killed(
    settings: IslesSettings, failpoints: dict[str, str], path: str, body: dict[str, Any], key: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ISLES_") or k == "ISLES_STATE_FILE"}
    env |= FAST | {"ISLES_FAILPOINTS": ",".join(f"{k}={v}" for k, v in failpoints.items())}
    args = ["--no-demo", "--system", "tests.hrms.cluster:core"]
    if settings.database_url:
        env["ISLES_DATABASE_URL"] = settings.database_url
    else:
        args += ["--data-dir", str(settings.data_dir)]
    with support.isles_up(*args, env=env, preloaded=True) as (proc, base):
        try:
            r = httpx.post(
                f"{base}{path}", json=body, headers={"Idempotency-Key": key, **support.AUTH[base]}, timeout=60
            )
        except httpx.TransportError:
            pass
        else:
            proc.kill()
            output = support.output_of(proc)[-3000:]
            pytest.fail(f"answered {r.status_code} instead of dying at {failpoints}: {r.text}\n{output}")
        assert proc.wait(timeout=30) == -signal.SIGKILL, "the process died at the failpoint"


async def restart(settings: IslesSettings) -> SystemRuntime:
    fast = settings.model_copy(
        update={
            "saga_lease_seconds": 1.0,
            "saga_poll_interval": 0.1,
            "relay_lease_seconds": 1.0,
            "relay_poll_interval": 0.2,
        }
    )
    runtime = SystemRuntime(core(), fast, environ={})
    await runtime.start()
    return runtime


async def the_saga(runtime: SystemRuntime, service: str, saga: Saga, key: str) -> Any:
    runner = runtime[service].sagas
    assert runner is not None
    _found, total = await runner.store.find(saga_type=saga.name)
    assert total == {"employee": 2, "project": 1}[service], "one saga per request, however often it came"
    state = await runner.store.load(saga_id_for(service, saga.name, scoped_key(key, "operator@*")))
    assert state is not None
    return state


EMPLOYEE_POINTS = crash_points(CREATE_EMPLOYEE)
ASSIGNMENT_POINTS = crash_points(CREATE_ASSIGNMENT)


async def retried(runtime: SystemRuntime, path: str, body: dict[str, Any], key: str) -> httpx.Response:
    """The client's retry with its Idempotency-Key after the restart, until it has the
    saga's outcome: a 202 says the resumed saga is still running (under load it can
    outlast the request's wait), and the same retry later gets the result."""
    async with runtime.client() as api:
        for _ in range(60):
            again = await api.post(path, json=body, headers={"Idempotency-Key": key})
            if again.status_code != 202:
                return again
            await asyncio.sleep(0.5)
    return again


@pytest.mark.parametrize(
    ("failpoints", "expected"), [p[1:] for p in EMPLOYEE_POINTS], ids=[p[0] for p in EMPLOYEE_POINTS]
)
def test_create_employee_killed_at_each_point(seeded: Seeded, failpoints: dict[str, str], expected: str) -> None:
    name = f"e{uuid.uuid4().hex[:8]}"
    crash = seeded.copy(name)
    settings = crash.settings
    email = f"{name}@example.com"
    body = {
        "employee_number": f"K-{name}",
        "company_id": seeded.company_id,
        "first_name": "Kay",
        "last_name": "Killed",
        "email": email,
        "hire_date": "2024-06-01",
    }
    key = f"hire-{name}"
    try:
        run_until_killed(settings, failpoints, "/api/employee/employees", body, key)

        async def check() -> None:
            runtime = await restart(settings)
            try:
                again = await retried(runtime, "/api/employee/employees", body, key)
                await runtime.settle()
                saga = await the_saga(runtime, "employee", CREATE_EMPLOYEE, key)
                assert saga.status.value == expected, saga.as_dict()
                support.check_attempts(CREATE_EMPLOYEE, saga)
                async with runtime["employee"].db.read_session(tenant=ACROSS_TENANTS) as session:
                    created = select(func.count()).where(
                        outbox_table.c.event_type == "employee.EmployeeCreated", outbox_table.c.payload.contains(email)
                    )
                    events = await session.scalar(created)
                state = {
                    "users": await count(runtime, "auth", "users", email=email),
                    "employees": await count(runtime, "employee", "employees", email=email),
                    "headcount": await value(
                        runtime, "company", "companies", "headcount", id=uuid.UUID(seeded.company_id)
                    ),
                    "events": events,
                    "copies": await count(runtime, "project", "employee_copies"),
                }
                if expected == "completed":
                    employee = ok(again, 201)
                    assert employee["email"] == email
                    assert state == {"users": 1, "employees": 1, "headcount": 2, "events": 1, "copies": 2}, state
                else:
                    assert again.status_code == 422, again.text
                    assert state == {"users": 0, "employees": 0, "headcount": 1, "events": 0, "copies": 1}, state
            finally:
                await runtime.stop()

        asyncio.run(check())
    finally:
        crash.drop_later(SERVICES)


@pytest.mark.parametrize(
    ("failpoints", "expected"), [p[1:] for p in ASSIGNMENT_POINTS], ids=[p[0] for p in ASSIGNMENT_POINTS]
)
def test_create_assignment_killed_at_each_point(seeded: Seeded, failpoints: dict[str, str], expected: str) -> None:
    name = f"a{uuid.uuid4().hex[:8]}"
    crash = seeded.copy(name)
    settings = crash.settings
    body = {
        "employee_id": seeded.employee_id,
        "project_id": seeded.project_id,
        "role": "Engineer",
        "allocation": 50,
        "start_date": "2025-01-01",
    }
    key = f"assign-{name}"
    try:
        run_until_killed(settings, failpoints, "/api/project/assignments", body, key)

        async def check() -> None:
            runtime = await restart(settings)
            try:
                again = await retried(runtime, "/api/project/assignments", body, key)
                saga = await the_saga(runtime, "project", CREATE_ASSIGNMENT, key)
                assert saga.status.value == expected, saga.as_dict()
                project_id = uuid.UUID(seeded.project_id)
                state = {
                    "assignments": await count(runtime, "project", "assignments", project_id=project_id),
                    "reservations": await count(runtime, "project", "capacity_reservations"),
                    "assigned_count": await value(runtime, "project", "projects", "assigned_count", id=project_id),
                }
                if expected == "completed":
                    assignment = ok(again, 201)
                    assert assignment["employee_name"] == "Ada Lovelace"
                    assert assignment["project_name"] == "Crash Project"
                    assert state == {"assignments": 1, "reservations": 0, "assigned_count": 1}, state
                else:
                    assert again.status_code == 422, again.text
                    assert state == {"assignments": 0, "reservations": 0, "assigned_count": 0}, state
            finally:
                await runtime.stop()

        asyncio.run(check())
    finally:
        crash.drop_later(SERVICES)
