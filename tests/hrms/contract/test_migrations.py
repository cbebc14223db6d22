"""Issue 19's data revisions, on SQLite and PostgreSQL, over data made before them:
project 0010 gives existing assignments their project's client; employee 0012
announces the employees to the contract service's copy, which began after them."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import text

from isles import ACROSS_TENANTS
from isles.runtime.system import SystemRuntime
from isles.storage import migrations
from tests.hrms.contract.helpers import CONTRACTS, terms
from tests.hrms.helpers import assign, count, new_company, new_employee, new_project, ok, value

pytestmark = [pytest.mark.integration, pytest.mark.services("contract")]


async def test_existing_assignments_get_their_projects_client(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    ada = await new_employee(api)
    a = ok(await assign(api, ada, await new_project(api, "Apollo")), 201)
    project = hrms["project"]
    await migrations.downgrade(project.db, project.service, "0009")  # as before client_name
    await migrations.upgrade(project.db, project.service)
    assert await value(hrms, "project", "assignments", "client_name", id=uuid.UUID(a["id"])) == "NASA"


async def test_employees_are_announced_to_the_contract_copy(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    company = (await new_company(api))["id"]
    worker = await new_employee(api, "Old", "Timer", company_id=company)
    await hrms.settle()
    async with (
        hrms["contract"].db.writing(tenant=ACROSS_TENANTS) as session,
        session.begin(),
    ):  # as if the copy began after this employee
        await session.execute(text("DELETE FROM contract_employees"))
    r = await api.post(CONTRACTS, json=terms(worker))
    assert r.status_code == 422, "not known to the contract service"
    employee = hrms["employee"]
    await migrations.downgrade(employee.db, employee.service, "0010")
    await migrations.upgrade(employee.db, employee.service)
    await hrms.settle()
    assert await count(hrms, "contract", "contract_employees", id=uuid.UUID(worker["id"])) == 1
    ok(await api.post(CONTRACTS, json=terms(worker)), 201)
