"""Building blocks of the presence tests: a company with people, shifts and places,
check-ins written through the use cases at chosen times, leave events as the leave
service publishes them."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select

from hrms.contracts.leave import LeaveApproved, LeaveCancelled
from hrms.services.presence import service
from hrms.services.presence.models import AttendanceDay, CheckinUserInfo
from hrms.services.presence.schemas import CheckinCreate
from isles import ACROSS_TENANTS
from isles.core.events import Envelope
from isles.runtime.system import SystemRuntime
from tests.hrms.helpers import headers_of, new_company, ok, user_with_password

MONDAY = date(2026, 11, 23)


def at(hour: int, minute: int = 0, day: date = MONDAY) -> datetime:
    return datetime.combine(day, time(hour, minute), UTC)


def fields(r: httpx.Response) -> list[str]:
    return [e["field"] for e in r.json().get("errors", [])]


async def person(api: httpx.AsyncClient, company: str, role: str = "employee", **extra: Any) -> dict[str, Any]:
    """An employee with a login; ``headers`` to call as them."""
    employee: dict[str, Any] = await user_with_password(api, company, role, **extra)
    employee["headers"] = await headers_of(api, employee)
    return employee


async def company_with_shift(api: httpx.AsyncClient, name: str = "Presence Co") -> dict[str, Any]:
    company = (await new_company(api, name))["id"]
    shift = ok(
        await api.post(
            "/api/presence/shifts",
            json={
                "company_id": company,
                "name": "Day",
                "start_time": "09:00",
                "end_time": "17:00",
                "late_grace_minutes": 10,
                "early_grace_minutes": 10,
                "half_day_minutes": 240,
            },
        ),
        201,
    )
    return {"id": company, "shift": shift}


async def give_shift(api: httpx.AsyncClient, company: dict[str, Any], employee: dict[str, Any]) -> None:
    body = {
        "company_id": company["id"],
        "employee_id": employee["id"],
        "shift_id": company["shift"]["id"],
        "start_date": "2026-01-01",
    }
    ok(await api.post("/api/presence/shift-assignments", json=body), 201)


async def record(hrms: SystemRuntime, employee: dict[str, Any], kind: str, when: datetime) -> uuid.UUID:
    """A web check-in or check-out of ``employee`` at ``when`` (through the use case)."""
    rt = hrms["presence"]
    company = uuid.UUID(employee["company_id"])
    async with rt.uow(tenant=company) as uow:
        info = await uow.session.get(CheckinUserInfo, uuid.UUID(employee["id"]))
        assert info is not None, "the employee reached the presence service"
        row = await service.check_in(uow=uow, employee=info, data=CheckinCreate(kind=kind), at=when)  # type: ignore[arg-type]
    return row.id


async def days_of(hrms: SystemRuntime, day: date = MONDAY) -> dict[str, dict[str, Any]]:
    """Every attendance row of ``day``, by employee id."""
    async with hrms["presence"].db.read_session(tenant=ACROSS_TENANTS) as session:
        rows = (await session.execute(select(AttendanceDay).where(AttendanceDay.day == day))).scalars().all()
    keep = (
        "id",
        "status",
        "late",
        "left_early",
        "missing_checkout",
        "leave_part",
        "worked_minutes",
        "first_in",
        "last_out",
    )
    return {str(r.employee_id): {k: getattr(r, k) for k in keep} for r in rows}


def leave_envelope(
    employee: dict[str, Any],
    request_id: uuid.UUID,
    start: date,
    end: date,
    *,
    cancelled: bool = False,
    first_day: str = "full",
    last_day: str = "full",
    version: int = 2,
) -> Envelope:
    """A leave event as the leave service would publish it (source /isles/leave)."""
    common: dict[str, Any] = {
        "id": request_id,
        "company_id": uuid.UUID(employee["company_id"]),
        "employee_id": uuid.UUID(employee["id"]),
        "leave_type_id": uuid.uuid4(),
        "leave_type_name": "Annual leave",
        "start_date": start,
        "end_date": end,
        "first_day": first_day,
        "last_day": last_day,
        "days": Decimal("1.0"),
    }
    now = datetime.now(UTC)
    event = (
        LeaveCancelled(**common, cancelled_at=now, was_approved=True)
        if cancelled
        else LeaveApproved(**common, approved_at=now)
    )
    return Envelope.new(
        event,
        source="/isles/leave",
        aggregate_type="leave_request",
        aggregate_id=str(request_id),
        aggregate_version=version,
        tenant_id=employee["company_id"],
    )
