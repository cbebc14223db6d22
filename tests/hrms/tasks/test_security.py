"""The security matrix (tests/hrms/test_security_matrix.py) over the tasks routes too.

The shared matrix fills a route's path parameters from its company B ``world``; that
world has no task yet (``{task_id}`` stays empty, and the request is redirected), so
this module runs the same test with a world that also holds one of company B's tasks.
Once the shared world has ``task_id`` (the integrator's merge), this module can go."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from isles.runtime.system import SystemRuntime
from tests.hrms import test_security_matrix as matrix
from tests.hrms.helpers import ok

pytestmark = pytest.mark.integration


@pytest.fixture
async def world(hrms: SystemRuntime, api: httpx.AsyncClient) -> dict[str, Any]:
    """The shared matrix's world, and company B's task (assigned to its employee)."""
    made: dict[str, Any] = await matrix.world._get_wrapped_function()(hrms, api)  # the shared fixture's body
    ids = made["ids"]
    body = {"title": "B's task", "company_id": made["b"], "assignee_id": ids["employee_id"]}
    ids["task_id"] = ok(await api.post("/api/tasks/tasks", json=body), 201)["id"]
    return made


async def test_every_route_refuses_bad_callers_and_other_companies(
    hrms: SystemRuntime, api: httpx.AsyncClient, world: dict[str, Any], tmp_path: Any, record_property: Any
) -> None:
    task = ok(await api.get(f"/api/tasks/tasks/{world['ids']['task_id']}"))
    await matrix.test_every_route_refuses_bad_callers_and_other_companies(hrms, api, world, tmp_path, record_property)
    assert ok(await api.get(f"/api/tasks/tasks/{world['ids']['task_id']}")) == task, "company B's task is unchanged"
