"""The demo tasks: loaded after the HR demo, a handful per company in every status,
assigned to the company's employees; loading again adds nothing."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from hrms import demo
from hrms.services.tasks import demo as tasks_demo
from isles.runtime.system import SystemRuntime
from tests.hrms.helpers import ok

pytestmark = [pytest.mark.integration, pytest.mark.services("all")]


async def test_the_demo_tasks_are_assigned_in_every_status(api: httpx.AsyncClient, hrms: SystemRuntime) -> None:
    lines = await demo.load(api)  # the HR demo loads the workforce services' demo data after its own
    companies = ok(await api.get("/api/company/companies", params={"limit": 50}))["items"]
    assert len([line for line in lines if line.startswith("  tasks: ")]) == len(companies) == 2
    tasks = ok(await api.get("/api/tasks/tasks", params={"limit": 500}))["items"]
    people = ok(await api.get("/api/employee/employees", params={"limit": 500}))["items"]
    company_of = {p["id"]: p["company_id"] for p in people}
    assert Counter(t["company_id"] for t in tasks) == {c["id"]: len(tasks_demo.DEMO) for c in companies}
    assert all(company_of[t["assignee_id"]] == t["company_id"] for t in tasks)
    assert Counter(t["status"] for t in tasks) == {"TODO": 2, "IN_PROGRESS": 4, "DONE": 2, "CANCELLED": 2}
    assert all(t["assignee_name"] for t in tasks)
    assert await tasks_demo.load(api, companies) == []
    assert ok(await api.get("/api/tasks/tasks", params={"limit": 1}))["total"] == len(tasks)
