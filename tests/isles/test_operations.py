"""/health, /ready and /metrics of a running system."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.engine import make_url

from isles.runtime.system import SystemRuntime
from isles.storage.db import connect_waiting
from tests.hrms.helpers import assign, new_employee, new_project, ok
from tests.support import Backend

pytestmark = pytest.mark.integration


def metric(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            key, value = line.rsplit(" ", 1)
            got = key[len(name) :].strip("{}")
            if sorted(got.split(",")) == sorted(want.split(",")) or (not labels and not got):
                return float(value)
    raise AssertionError(f"{name}{{{want}}} not in /metrics")


async def test_metrics_report_the_event_pipeline_and_the_api(api: httpx.AsyncClient, hrms: SystemRuntime) -> None:
    employee = await new_employee(api)
    project = await new_project(api)
    ok(await assign(api, employee, project), 201)
    ok(await api.patch(f"/api/employee/employees/{employee['id']}", json={"first_name": "Renamed"}))
    await hrms.settle()
    text = (await api.get("/metrics")).text
    assert metric(text, "isles_outbox_backlog", service="employee") == 0
    assert metric(text, "isles_outbox_oldest_unpublished_age_seconds", service="employee") == 0
    assert metric(text, "isles_relay_published_total", service="employee") >= 2
    assert metric(text, "isles_events_applied_total", service="project", event_type="employee.EmployeeUpdated") == 1
    assert (
        metric(text, "isles_handler_duration_seconds_count", service="project", event_type="employee.EmployeeUpdated")
        == 1
    )
    assert metric(text, "isles_consumer_lag", service="project") == 0
    assert metric(text, "isles_dead_letters", service="project", event_type="employee.EmployeeUpdated") == 0
    assert metric(text, "isles_bus_ready") == 1
    assert (
        metric(
            text,
            "isles_http_request_duration_seconds_count",
            service="project",
            method="POST",
            route="/assignments",
            status="201",
        )
        == 1
    )


async def test_backlog_and_its_age_show_while_the_relay_is_paused(backend: Backend) -> None:
    settings = backend.settings.but(relay_enabled=False)
    from hrms.system import build

    rt = SystemRuntime(build(), settings, environ={})
    await rt.start(relays=False)
    try:
        async with rt.client() as api:
            await new_employee(api)
            await new_employee(api)
            text = (await api.get("/metrics")).text
        # each hire: its EmployeeCreated, and the CreateEmployee saga's SagaFinished
        assert metric(text, "isles_outbox_backlog", service="employee") == 4
        assert metric(text, "isles_outbox_oldest_unpublished_age_seconds", service="employee") > 0
    finally:
        await rt.stop()
        backend.drop_later(rt.services)


async def test_ready_and_health_while_everything_is_up(api: httpx.AsyncClient, hrms: SystemRuntime) -> None:
    body = ok(await api.get("/ready"))
    assert body["status"] == "ready"
    assert set(body["checks"]) == {f"database:{name}" for name in hrms.services} | {"bus"}
    assert len(hrms.services) == 5
    assert ok(await api.get("/health"))["status"] == "ok"


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)  # SQLite cannot be cut off from outside
async def test_ready_fails_while_a_database_refuses_connections_and_health_stays_up(
    api: httpx.AsyncClient, hrms: SystemRuntime, backend: Backend
) -> None:
    db = hrms["project"].db
    admin = make_url(str(db.url.set(database="postgres").render_as_string(hide_password=False)))
    conn = await connect_waiting(admin.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        await conn.execute(f'ALTER DATABASE "{db.url.database}" ALLOW_CONNECTIONS false')
        await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", db.url.database)
        r = await api.get("/ready")
        assert r.status_code == 503
        assert r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["checks"]["database:project"] != "ok"
        assert problem["checks"]["database:employee"] == "ok"
        assert "database:project" in problem["detail"]
        assert (await api.get("/health")).status_code == 200
    finally:
        await conn.execute(f'ALTER DATABASE "{db.url.database}" ALLOW_CONNECTIONS true')
        await conn.close()
    assert (await api.get("/ready")).status_code == 200
