"""The audit a running system runs now and then (``ISLES_AUDIT_INTERVAL``), its counts
as Prometheus gauges on ``/metrics`` (issue 20); SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete

from isles import ACROSS_TENANTS
from isles.runtime.system import SystemRuntime
from tests.conftest import hr_system
from tests.hrms.helpers import new_employee
from tests.support import Backend, Templates

pytestmark = [pytest.mark.integration, pytest.mark.services("leave")]


@pytest.fixture
async def auditing(
    backend: Backend, templates: Templates, request: pytest.FixtureRequest
) -> AsyncIterator[SystemRuntime]:
    system = hr_system(request)
    await templates.clone(system, backend)
    settings = backend.settings.model_copy(
        update={"audit": backend.settings.audit.model_copy(update={"interval": 0.3, "settle": 0.0})}
    )
    runtime = SystemRuntime(system, settings, environ={})
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()
        backend.drop_later(runtime.services)


def _gauge(text: str, name: str, declaration: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + "{") and f'declaration="{declaration}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_the_gauges_follow_what_the_audit_finds(auditing: SystemRuntime) -> None:
    async with auditing.client() as api:
        ada = await new_employee(api, "Ada", "Lovelace")
    await auditing.settle()
    leave_users = auditing["leave"].service.metadata.tables["leave_request_users"]
    copy = "leave.leave_request_users <- employee.employees"
    async with auditing["leave"].db.writing(tenant=ACROSS_TENANTS) as session:
        await (await session.connection()).execute(delete(leave_users).where(leave_users.c.id == uuid.UUID(ada["id"])))
        await session.commit()

    deadline = time.monotonic() + 20
    while True:
        text = (await auditing.metrics_text()).decode()
        if _gauge(text, "isles_missing_copies", copy) == 1:
            break
        assert time.monotonic() < deadline, "the audit did not report the missing copy"
        await asyncio.sleep(0.2)
    assert _gauge(text, "isles_stale_copies", copy) == 0
    assert _gauge(text, "isles_orphaned_references", "project.assignments.employee_id -> employee.employees") == 0
    assert "isles_audit_last_success_timestamp_seconds" in text

    report = await auditing.audit_once()
    assert report.findings == 1
