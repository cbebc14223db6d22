"""The workforce services together (issue 17), on SQLite and PostgreSQL: an employee
asks for leave, their manager approves it — each told by the notification service —,
the presence service marks the day as leave, and an admin's cancellation after the
approval gives the days back and frees the day again. Real services and real
events end to end: nothing delivered by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from hrms.services.notification.models import Notification
from hrms.services.presence.compute import COMPUTE_DAY
from isles import ACROSS_TENANTS
from isles.runtime.system import SystemRuntime
from tests.hrms.helpers import ok
from tests.hrms.leave.helpers import YEAR, allocate, balance, leave_type, request, team
from tests.hrms.presence.support import days_of

pytestmark = [pytest.mark.integration, pytest.mark.services("all")]
DAY = date(YEAR, 3, 4)  # a Monday


async def mails(hrms: SystemRuntime) -> list[tuple[str, str]]:
    async with hrms["notification"].db.read_session(tenant=ACROSS_TENANTS) as session:
        rows = await session.scalars(select(Notification).order_by(Notification.created_at))
        return [(n.template_key, str(n.user_id)) for n in rows if n.template_key.startswith("leave_")]


async def test_a_leave_request_from_asking_to_the_attendance_sheet(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    t = await team(hrms, api)
    annual = await leave_type(api, t.company)
    await allocate(api, t.worker, annual)
    shift = {
        "company_id": t.company,
        "name": "Day",
        "start_time": "09:00",
        "end_time": "17:00",
        "half_day_minutes": 240,
    }
    shift = ok(await api.post("/api/presence/shifts", json=shift), 201)
    assigned = {
        "company_id": t.company,
        "employee_id": t.worker["id"],
        "shift_id": shift["id"],
        "start_date": f"{YEAR}-01-01",
    }
    ok(await api.post("/api/presence/shift-assignments", json=assigned), 201)

    asked = ok(await request(api, annual, DAY.isoformat(), headers=t.as_worker), 201)
    await hrms.settle()
    assert await mails(hrms) == [
        ("leave_requested", t.worker["user_id"]),
        ("leave_request_waiting", t.manager["user_id"]),
    ]
    ok(await api.post(f"/api/leave/requests/{asked['id']}/approve", json={}, headers=t.as_manager))
    await hrms.settle()
    assert (await mails(hrms))[-1] == ("leave_approved", t.worker["user_id"])
    assert (await balance(api, t.worker, annual))["balance"] == Decimal("24")

    await COMPUTE_DAY.run(hrms["presence"], DAY)
    assert (await days_of(hrms, DAY))[t.worker["id"]]["status"] == "on_leave"

    ok(await api.post(f"/api/leave/requests/{asked['id']}/cancel", json={}, headers=t.as_admin))
    await hrms.settle()
    assert (await mails(hrms))[-1] == ("leave_cancelled", t.worker["user_id"])
    assert (await balance(api, t.worker, annual))["balance"] == Decimal("25")
    await COMPUTE_DAY.run(hrms["presence"], DAY)
    assert (await days_of(hrms, DAY))[t.worker["id"]]["status"] == "absent", "no leave, no check-in: absent"
