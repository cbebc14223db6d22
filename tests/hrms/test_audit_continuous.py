"""The audit a running system runs now and then (``ISLES_AUDIT_INTERVAL``), its counts
as Prometheus gauges on ``/metrics`` (issue 20); SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete, update

from isles import ACROSS_TENANTS
from isles.runtime.system import SystemRuntime
from isles.service.audit import repair
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


@pytest.fixture
async def slicing(
    backend: Backend, templates: Templates, request: pytest.FixtureRequest
) -> AsyncIterator[SystemRuntime]:
    system = hr_system(request)
    await templates.clone(system, backend)
    audit = backend.settings.audit.model_copy(update={"interval": 0.0, "settle": 0.0, "values_slices": 4})
    runtime = SystemRuntime(system, backend.settings.model_copy(update={"audit": audit}), environ={})
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()
        backend.drop_later(runtime.services)


async def test_values_are_compared_a_slice_a_round_and_the_gauge_remembers(slicing: SystemRuntime) -> None:
    """``ISLES_AUDIT_VALUES_SLICES=4``: each audit compares the values of a quarter of
    the keys (every row once in four audits, cheap each time); a differing row found in
    its quarter stays on the gauge through the other quarters' rounds, until its own
    quarter is compared again and found mended."""
    async with slicing.client() as api:
        ada = await new_employee(api, "Ada", "Lovelace")
    await slicing.settle()
    ada_id = uuid.UUID(ada["id"])
    quarter = ada_id.int * 4 // 2**128
    copies = slicing["project"].service.metadata.tables["employee_copies"]
    copy = "project.employee_copies <- employee.employees"
    async with slicing["project"].db.writing(tenant=ACROSS_TENANTS) as session:
        await (await session.connection()).execute(
            update(copies).where(copies.c.id == ada_id).values(full_name="Not Ada")
        )
        await session.commit()

    seen: list[tuple[int, float | None]] = []
    with_her = None
    for round_ in range(8):
        report = await slicing.audit_once()
        [check] = [c for c in report.checks if c.name == copy]
        if check.samples:
            with_her = report
        assert check.note == f"values compared in slice {round_ % 4 + 1} of 4 of the keys"
        found = {f.key for f in check.samples if f.kind == "differs"}
        assert found == ({str(ada_id)} if round_ % 4 == quarter else set()), round_
        text = (await slicing.metrics_text()).decode()
        seen.append((round_, _gauge(text, "isles_stale_copies", copy)))
    # Before her quarter's first round: 0; from it on: 1, in every round.
    assert [g for r, g in seen] == [0.0 if r < quarter else 1.0 for r, _g in seen]

    # Mended: the gauge keeps her until her quarter is compared again (round 8 + quarter).
    assert with_her is not None
    await repair(slicing.system, {n: rt.db for n, rt in slicing.services.items()}, with_her)
    await slicing.settle()
    for round_ in range(8, 12):
        await slicing.audit_once()
        text = (await slicing.metrics_text()).decode()
        assert _gauge(text, "isles_stale_copies", copy) == (0.0 if round_ - 8 >= quarter else 1.0), round_
