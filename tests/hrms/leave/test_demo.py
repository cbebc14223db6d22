"""The demo leave data loads on top of the HR demo, through the public API."""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from hrms import demo as hr_demo
from hrms.services.leave import demo
from isles.runtime.system import SystemRuntime
from tests.hrms.helpers import ok

pytestmark = [pytest.mark.integration, pytest.mark.services("all")]


async def test_demo_leave_data(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    loaded = await hr_demo.load(api)  # the HR demo loads the workforce services' demo data after its own
    await hrms.settle()
    companies = ok(await api.get("/api/company/companies", params={"limit": 100}))["items"]
    lines = [line for line in loaded if line.startswith("  leave: ")]
    assert len(lines) == 2 * len(companies)
    assert await demo.load(api, companies) == [], "loaded once"
    types = ok(await api.get("/api/leave/leave-types", params={"limit": 100}))["items"]
    assert sorted({t["name"] for t in types}) == ["Annual leave", "Sick leave", "Unpaid leave"]
    assert len(types) == 3 * len(companies)
    requests = ok(await api.get("/api/leave/requests", params={"limit": 100}))["items"]
    assert sorted(r["status"] for r in requests) == ["APPROVED", "APPROVED", "PENDING", "PENDING"]
    assert all(r["approvals"] for r in requests if r["status"] == "APPROVED")
    employees = ok(await api.get("/api/employee/employees", params={"limit": 500}))["items"]
    balances = ok(await api.get("/api/leave/balances", params={"year": date.today().year, "limit": 500}))["items"]
    annual = {b["employee_id"] for b in balances if b["leave_type_name"] == "Annual leave"}
    assert annual == {e["id"] for e in employees}
