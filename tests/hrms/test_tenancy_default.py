"""A session that names no company sees no company's rows, on SQLite as on PostgreSQL
(issue 16, finding 2). Code that works across companies says so with
``tenant=ACROSS_TENANTS``."""

from __future__ import annotations

import uuid
from datetime import date

import httpx
import pytest
from sqlalchemy import func, select

from hrms.services.employee.models import Employee
from isles import ACROSS_TENANTS, TenantViolation
from isles.runtime.system import SystemRuntime
from tests.hrms.helpers import new_company, new_employee

pytestmark = pytest.mark.integration


async def test_no_tenant_sees_nothing_across_tenants_sees_all(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    a, b = (await new_company(api, "One"))["id"], (await new_company(api, "Two"))["id"]
    await new_employee(api, company_id=a)
    await new_employee(api, company_id=b)
    db = hrms["employee"].db
    count = select(func.count()).select_from(Employee)

    async with db.read_session() as session:
        assert await session.scalar(count) == 0
        assert await session.get(Employee, uuid.uuid4()) is None
    async with db.read_session(tenant=uuid.UUID(a)) as session:
        assert await session.scalar(count) == 1
    async with db.read_session(tenant=ACROSS_TENANTS) as session:
        assert await session.scalar(count) == 2

    # A session of no company may not write a company's row either.
    stray = Employee(
        employee_id="X-1",
        company_id=uuid.UUID(a),
        user_id=uuid.uuid4(),
        first_name="No",
        last_name="Tenant",
        email="no.tenant@example.com",
        hire_date=date(2024, 1, 1),
    )
    with pytest.raises(TenantViolation, match="names no company"):
        async with db.writing() as session, session.begin():
            session.add(stray)
