"""Who reads the analytics figures (issue 23), on SQLite and PostgreSQL, through the
real services (employees hired by the employee service's saga, their events archived):
an admin reads every department; a manager only their own department's headcount and
leave, and nothing of reports or allocation; a manager in no department, an employee,
and another company's admin read nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from hrms.contracts.leave import LeaveApproved
from isles.core.events import Envelope
from isles.runtime.system import SystemRuntime
from tests.hrms.analytics.test_headcount import deliver
from tests.hrms.helpers import headers_of, new_company, new_employee, ok, user_with_password

pytestmark = [pytest.mark.integration, pytest.mark.services("analytics")]


def leave_of(employee: dict[str, Any], day: str) -> Envelope:
    request = uuid.uuid4()
    event = LeaveApproved(
        id=request,
        company_id=uuid.UUID(employee["company_id"]),
        employee_id=uuid.UUID(employee["id"]),
        leave_type_id=uuid.uuid4(),
        leave_type_name="Annual leave",
        start_date=date.fromisoformat(day),
        end_date=date.fromisoformat(day),
        days=Decimal(1),
        approved_at=datetime.now(UTC),
    )
    return Envelope.new(
        event,
        source="/isles/leave",
        aggregate_type="leave_request",
        aggregate_id=str(request),
        aggregate_version=2,
        tenant_id=employee["company_id"],
    )


async def department(api: httpx.AsyncClient, company: str, name: str) -> str:
    return ok(await api.post("/api/company/departments", json={"company_id": company, "name": name}), 201)["id"]  # type: ignore[no-any-return]


async def test_a_manager_reads_their_own_department_only(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    company = (await new_company(api, "Departments Co"))["id"]
    sales, support = await department(api, company, "Sales"), await department(api, company, "Support")
    await hrms.settle()
    admin = await user_with_password(api, company, "admin")
    manager = await user_with_password(api, company, "manager", department_id=sales)
    loner = await user_with_password(api, company, "manager")  # in no department
    employee = await user_with_password(api, company, "employee", department_id=sales)
    supporters = [
        await new_employee(api, company_id=company, department_id=support, first_name=f"S{i}") for i in range(2)
    ]
    other = (await new_company(api, "Other Departments Co"))["id"]
    stranger = await user_with_password(api, other, "admin")
    await hrms.settle()
    base = f"/api/analytics/companies/{company}"
    params = {"from": "2024-01-01", "to": "2024-03-31", "by": "department"}  # the helpers hire on 2024-03-01

    def last(body: dict[str, Any]) -> dict[str | None, int]:
        return {p["department_id"]: p["headcount"] for p in body["points"] if p["starts_on"] == "2024-03-01"}

    as_admin = await headers_of(api, admin)
    everyone = last(ok(await api.get(f"{base}/headcount", params=params, headers=as_admin)))
    assert everyone == {sales: 2, support: 2, None: 2}  # the manager and employee; two; the admin and the loner

    as_manager = await headers_of(api, manager)
    mine = ok(await api.get(f"{base}/headcount", params={**params, "by": "company"}, headers=as_manager))
    assert {p["department_id"] for p in mine["points"]} == {sales}
    assert mine["by"] == "department"
    assert last(mine) == {sales: 2}
    await deliver(hrms, [leave_of(employee, "2024-03-11"), leave_of(supporters[0], "2024-03-12")])
    period = {"from": "2024-01-01", "to": "2024-03-31"}
    every = ok(await api.get(f"{base}/leave", params=period, headers=as_admin))
    assert {(p["department_id"], p["days"]) for p in every["points"]} == {(sales, "1.0"), (support, "1.0")}
    leave = ok(await api.get(f"{base}/leave", params=period, headers=as_manager))
    assert {(p["department_id"], p["days"]) for p in leave["points"]} == {(sales, "1.0")}
    for path in ("allocation", "reports"):
        r = await api.get(f"{base}/{path}", headers=as_manager)
        assert r.status_code == 403, f"{path}: {r.status_code} {r.text}"

    r = await api.get(f"{base}/headcount", params=params, headers=await headers_of(api, loner))
    assert r.status_code == 403
    assert r.json()["type"].endswith("no-department")
    r = await api.get(f"{base}/headcount", params=params, headers=await headers_of(api, employee))
    assert r.status_code == 403
    r = await api.get(f"{base}/headcount", params=params, headers=await headers_of(api, stranger))
    assert r.status_code == 404
