"""The seeds' sagas on the HR services, on SQLite and PostgreSQL.

A failure is injected at each step of each saga — a refusal before the step acts, and
a fault after it acted (its answer lost, so its outcome is unknown) — and every
service's database is then read to show the right compensations ran and nothing is
left behind: no user, no pending employee, no headcount, no reservation, no
assignment, no event published for what was undone.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
import structlog
import structlog.testing
from sqlalchemy import func, select
from typer.testing import CliRunner

from isles import ACROSS_TENANTS
from isles.cli.main import app as cli
from isles.core import failpoints
from isles.core.logging import configure as configure_logging
from isles.runtime.system import SystemRuntime
from isles.sagas import SagaStatus
from isles.storage.schema import outbox_table
from tests.hrms.cluster import core
from tests.hrms.helpers import assign, count, new_company, new_employee, new_project, ok, value
from tests.support import make_backend

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

SAGA_FAST = {
    "saga_poll_interval": 0.1,
    "saga_retry_base_delay": 0.01,
    "saga_retry_max_delay": 0.02,
    "saga_compensation_max_delay": 0.02,
    "client_retries": 0,
}
EMPLOYEE_STEPS = ["check_company", "create_user", "create_employee", "activate_user", "activate"]
ASSIGNMENT_STEPS = ["validate", "reserve_capacity", "create_assignment", "confirm"]


@pytest_asyncio.fixture(
    scope="module", loop_scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def hr(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SystemRuntime]:
    """One HR system for the module (each test makes its own company, people, projects)."""
    backend = make_backend(request.param, tmp_path_factory.mktemp("sagas"), **SAGA_FAST)
    runtime = SystemRuntime(core(), backend.settings, environ={})
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()
        backend.drop_later(runtime.services)


@pytest_asyncio.fixture(loop_scope="module")
async def api(hr: SystemRuntime) -> AsyncIterator[httpx.AsyncClient]:
    async with hr.client() as client:
        yield client


@pytest.fixture(autouse=True)
def no_failpoints() -> Iterator[None]:
    failpoints.clear()
    yield
    failpoints.clear()


async def published(rt: SystemRuntime, service: str, aggregate_id: str) -> list[str]:
    async with rt[service].db.read_session(tenant=ACROSS_TENANTS) as session:
        q = select(outbox_table.c.event_type).where(outbox_table.c.aggregate_id == aggregate_id)
        return list(await session.scalars(q))


def employee_body(company_id: str, email: str, number: str) -> dict[str, Any]:
    return {
        "employee_number": number,
        "company_id": company_id,
        "first_name": "Grace",
        "last_name": "Hopper",
        "email": email,
        "hire_date": "2024-05-01",
    }


async def employee_traces(hr: SystemRuntime, company_id: str, email: str) -> dict[str, Any]:
    """What a CreateEmployee saga for ``email`` left in every service's database."""
    async with hr["employee"].db.read_session(tenant=ACROSS_TENANTS) as session:
        created = select(func.count()).where(
            outbox_table.c.event_type == "employee.EmployeeCreated", outbox_table.c.payload.contains(email)
        )
        published = int(await session.scalar(created) or 0)
    return {
        "users": await count(hr, "auth", "users", email=email),
        "employees": await count(hr, "employee", "employees", email=email),
        "headcount": await value(hr, "company", "companies", "headcount", id=uuid.UUID(company_id)),
        "published": published,
        "copies_in_project": await count(hr, "project", "employee_copies"),
    }


@pytest.mark.parametrize("step", EMPLOYEE_STEPS)
@pytest.mark.parametrize("fault", ["refuse_before", "lost_after"])
async def test_create_employee_failing_at_each_step_leaves_nothing_behind(
    hr: SystemRuntime, api: httpx.AsyncClient, step: str, fault: str
) -> None:
    company = await new_company(api, f"C-{step}-{fault}")
    email = f"{step}.{fault}.{uuid.uuid4().hex[:6]}@example.com"
    copies_before = await count(hr, "project", "employee_copies")
    point = f"saga.employee.CreateEmployee.{step}"
    failpoints.configure({f"{point}.before": "refuse"} if fault == "refuse_before" else {f"{point}.after": "raise"})
    r = await api.post("/api/employee/employees", json=employee_body(company["id"], email, f"N-{uuid.uuid4().hex[:8]}"))
    assert r.status_code == (422 if fault == "refuse_before" else 503), r.text
    assert r.headers["content-type"] == "application/problem+json"
    saga_id = uuid.UUID(r.json()["saga_id"])
    failpoints.clear()
    runner = hr["employee"].sagas
    assert runner is not None
    state = await runner.store.load(saga_id)
    assert state is not None
    assert state.status is SagaStatus.COMPENSATED
    steps = {s.name: s.status.value for s in state.steps}
    failed_at = EMPLOYEE_STEPS.index(step)
    remote_undoable = ("create_user",)
    for name in EMPLOYEE_STEPS[:failed_at]:
        compensable = name in ("create_user", "create_employee")
        assert steps[name] == ("compensated" if compensable else "completed"), (name, steps)
    # A remote step whose answer was lost may have acted: it is undone too.
    assert steps[step] == ("compensated" if fault == "lost_after" and step in remote_undoable else "failed")
    for name in EMPLOYEE_STEPS[failed_at + 1 :]:
        assert steps[name] == "pending", (name, steps)
    await hr.settle()
    traces = await employee_traces(hr, company["id"], email)
    assert traces == {
        "users": 0,
        "employees": 0,
        "headcount": 0,
        "published": 0,
        "copies_in_project": copies_before,
    }, f"leftovers after a failure at {step} ({fault}): {traces}"


async def test_create_employee_does_every_step_once(hr: SystemRuntime, api: httpx.AsyncClient) -> None:
    company = await new_company(api, "Once Inc")
    email = f"once.{uuid.uuid4().hex[:6]}@example.com"
    # Every remote step's answer is lost once: each is retried with its key.
    failpoints.configure(
        {
            "saga.employee.CreateEmployee.create_user.after": "raise:1",
            "saga.employee.CreateEmployee.activate_user.after": "raise:1",
        }
    )
    r = await api.post("/api/employee/employees", json=employee_body(company["id"], email, f"O-{uuid.uuid4().hex[:6]}"))
    assert r.status_code == 201, r.text
    employee = r.json()
    runner = hr["employee"].sagas
    assert runner is not None
    state = await runner.store.load(uuid.UUID(r.headers["saga-id"]))
    assert state is not None
    assert {s.name: s.attempts for s in state.steps} == {
        "check_company": 1,
        "create_user": 2,
        "create_employee": 1,
        "activate_user": 2,
        "activate": 1,
    }
    await hr.settle()
    traces = await employee_traces(hr, company["id"], email)
    assert (traces["users"], traces["employees"], traces["headcount"]) == (1, 1, 1)
    assert await published(hr, "employee", employee["id"]) == ["employee.EmployeeCreated"]
    user = ok(await api.get(f"/api/auth/users/{employee['user_id']}"))
    assert user["email"] == email
    assert user["company_id"] == company["id"]


async def test_an_unknown_company_is_named_and_nothing_is_created(hr: SystemRuntime, api: httpx.AsyncClient) -> None:
    email = f"nowhere.{uuid.uuid4().hex[:6]}@example.com"
    r = await api.post("/api/employee/employees", json=employee_body(str(uuid.uuid4()), email, "X-1"))
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["company_id"]
    assert await count(hr, "auth", "users", email=email) == 0


async def test_linking_an_existing_user_creates_no_user_and_never_deletes_it(
    hr: SystemRuntime, api: httpx.AsyncClient
) -> None:
    company = await new_company(api, "Link Ltd")
    email = f"linked.{uuid.uuid4().hex[:6]}@example.com"
    user = ok(
        await api.post(
            "/api/auth/users",
            json={"email": email, "first_name": "Kay", "last_name": "Linked", "company_id": company["id"]},
        ),
        201,
    )
    failpoints.configure({"saga.employee.CreateEmployee.activate_user.before": "refuse"})
    body = {**employee_body(company["id"], email, f"L-{uuid.uuid4().hex[:6]}"), "user_id": user["id"]}
    assert (await api.post("/api/employee/employees", json=body)).status_code == 422
    assert ok(await api.get(f"/api/auth/users/{user['id']}"))["email"] == email, "a linked user stays"
    failpoints.clear()
    created = ok(await api.post("/api/employee/employees", json=body), 201)
    assert created["user_id"] == user["id"]
    assert await count(hr, "auth", "users", email=email) == 1
    unknown = {**body, "user_id": str(uuid.uuid4()), "email": "x" + email, "employee_number": "L-none"}
    r = await api.post("/api/employee/employees", json=unknown)
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["user_id"]


async def test_a_retried_request_with_its_key_gets_the_first_outcome(hr: SystemRuntime, api: httpx.AsyncClient) -> None:
    company = await new_company(api, "Retry Co")
    email = f"retry.{uuid.uuid4().hex[:6]}@example.com"
    body = employee_body(company["id"], email, f"R-{uuid.uuid4().hex[:6]}")
    key = {"Idempotency-Key": f"hire-{uuid.uuid4()}"}
    first = ok(await api.post("/api/employee/employees", json=body, headers=key), 201)
    again = ok(await api.post("/api/employee/employees", json=body, headers=key), 201)
    assert again == first
    await hr.settle()  # the headcount follows EmployeeCreated
    traces = await employee_traces(hr, company["id"], email)
    assert (traces["users"], traces["employees"], traces["headcount"]) == (1, 1, 1)
    other = await api.post("/api/employee/employees", json={**body, "first_name": "Other"}, headers=key)
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"


async def assignment_traces(hr: SystemRuntime, project_id: str, employee_id: str) -> dict[str, Any]:
    pid, eid = uuid.UUID(project_id), uuid.UUID(employee_id)
    return {
        "assignments": await count(hr, "project", "assignments", employee_id=eid),
        "reservations": await count(hr, "project", "capacity_reservations", project_id=pid),
        "assigned_count": await value(hr, "project", "projects", "assigned_count", id=pid),
    }


@pytest.mark.parametrize("step", ASSIGNMENT_STEPS)
@pytest.mark.parametrize("fault", ["refuse_before", "lost_after"])
async def test_create_assignment_failing_at_each_step_leaves_nothing_behind(
    hr: SystemRuntime, api: httpx.AsyncClient, step: str, fault: str
) -> None:
    employee = await new_employee(api, "Alan", "Turing")
    project = await new_project(api, f"P-{step}-{fault}", capacity=2)
    point = f"saga.project.CreateAssignment.{step}"
    failpoints.configure({f"{point}.before": "refuse"} if fault == "refuse_before" else {f"{point}.after": "raise"})
    r = await assign(api, employee, project)
    assert r.status_code == (422 if fault == "refuse_before" else 503), r.text
    saga_id = uuid.UUID(r.json()["saga_id"])
    failpoints.clear()
    runner = hr["project"].sagas
    assert runner is not None
    state = await runner.store.load(saga_id)
    assert state is not None
    assert state.status is SagaStatus.COMPENSATED
    steps = {s.name: s.status.value for s in state.steps}
    failed_at = ASSIGNMENT_STEPS.index(step)
    for name in ASSIGNMENT_STEPS[:failed_at]:
        assert steps[name] == ("completed" if name == "validate" else "compensated"), (name, steps)
    traces = await assignment_traces(hr, project["id"], employee["id"])
    assert traces == {"assignments": 0, "reservations": 0, "assigned_count": 0}, (step, fault, traces)
    # And the place is really free: the same request now goes through.
    ok(await assign(api, employee, project), 201)
    assert await assignment_traces(hr, project["id"], employee["id"]) == {
        "assignments": 1,
        "reservations": 0,
        "assigned_count": 1,
    }


async def test_parallel_requests_never_overbook_and_leave_no_reservation(
    hr: SystemRuntime, api: httpx.AsyncClient
) -> None:
    company = (await new_company(api, "Crowd"))["id"]
    people = await asyncio.gather(*(new_employee(api, f"P{i}", "Crowd", company_id=company) for i in range(12)))
    project = await new_project(api, "Tiny", capacity=4, company_id=company)
    answers = await asyncio.gather(*(assign(api, p, project) for p in people))
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] * 4 + [422] * 8
    assert {r.json()["errors"][0]["code"] for r in answers if r.status_code == 422} == {"no_capacity"}
    after = ok(await api.get(f"/api/project/projects/{project['id']}"))
    assert (after["assigned_count"], after["capacity_left"]) == (4, 0)
    assert await count(hr, "project", "capacity_reservations", project_id=uuid.UUID(project["id"])) == 0
    await hr.settle()
    headcount = ok(await api.get(f"/api/company/companies/{company}"))["headcount"]
    assert headcount == 12, "every hire counted once (from its EmployeeCreated)"


async def test_an_assignment_retried_with_its_key_is_made_once(hr: SystemRuntime, api: httpx.AsyncClient) -> None:
    employee = await new_employee(api)
    project = await new_project(api, "Keyed", capacity=5)
    key = {"Idempotency-Key": f"assign-{uuid.uuid4()}"}
    body = {
        "employee_id": employee["id"],
        "project_id": project["id"],
        "role": "Engineer",
        "allocation": 40,
        "start_date": "2025-01-01",
    }
    results = await asyncio.gather(*(api.post("/api/project/assignments", json=body, headers=key) for _ in range(5)))
    assert {r.status_code for r in results} == {201}
    assert len({r.json()["id"] for r in results}) == 1, "one assignment for one key"
    assert ok(await api.get(f"/api/project/projects/{project['id']}"))["assigned_count"] == 1


async def test_saga_metrics_count_outcomes(hr: SystemRuntime, api: httpx.AsyncClient) -> None:
    # its own sagas (the module's other tests may run on another worker): a hire, and an
    # assignment compensated at its last step (the project service asks the employee's)
    employee = await new_employee(api, "Grace", "Hopper")
    project = await new_project(api, "Metered", capacity=2)
    point = f"saga.project.CreateAssignment.{ASSIGNMENT_STEPS[-1]}.before"
    failpoints.configure({point: "refuse"})
    try:
        assert (await assign(api, employee, project)).status_code == 422
    finally:
        failpoints.clear()
    metrics = (await api.get("/metrics")).text
    assert 'isles_sagas_started_total{saga="employee.CreateEmployee",service="employee"}' in metrics
    assert 'isles_sagas_finished_total{outcome="compensated",saga="project.CreateAssignment",service="project"}' in (
        metrics
    )
    assert 'isles_client_requests_total{method="GET",outcome="ok",service="project",target="employee"}' in metrics


async def test_a_refused_step_keeps_its_field_reason_for_the_operator_and_is_no_alarm(
    hr: SystemRuntime, api: httpx.AsyncClient
) -> None:
    """Issue 15, 4: the caller hears which field and why; the saga keeps the same, the
    CLI shows it, and the log says it at info (a refusal is business, not an alarm)."""
    employee = await new_employee(api)
    project = await new_project(api, "Full", capacity=0)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with structlog.testing.capture_logs() as logs:
            answer = await assign(api, employee, project)
    finally:
        configure_logging("critical")
    assert answer.status_code == 422, answer.text
    body = answer.json()
    (error,) = body["errors"]
    assert (error["field"], error["code"]) == ("project_id", "no_capacity")
    mine = [e for e in logs if e.get("saga_id") == body["saga_id"]]
    assert [(e["event"], e["log_level"]) for e in mine if e["event"].startswith("saga.step_")] == [
        ("saga.step_refused", "info")
    ]
    settings = hr.settings
    where = ["--data-dir", str(settings.data_dir)]
    if settings.database_url:
        where += ["--database-url", settings.database_url]
    shown = await asyncio.to_thread(
        CliRunner().invoke, cli, ["sagas", "show", body["saga_id"][:8], *where], env={"COLUMNS": "80"}
    )
    assert shown.exit_code == 0, shown.output
    assert f"project_id: {error['message']}" in shown.output
    listed = await asyncio.to_thread(
        CliRunner().invoke, cli, ["sagas", "list", "--wide", "-s", "project", *where], env={"COLUMNS": "80"}
    )
    assert body["saga_id"] in listed.output, "whole ids at 80 columns"
    assert f"project_id: {error['message']}" in listed.output
