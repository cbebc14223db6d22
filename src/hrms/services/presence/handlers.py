"""What the presence service keeps from other services' events.

* ``checkin_user_infos`` from employee events (a ReplicaTable: newer versions win, a
  redelivered or late event changes nothing). EmployeeDeactivated carries no manager,
  so it is a second replica of the same table that leaves ``manager_id`` alone: a
  deactivated employee's past days stay readable by their manager.
* ``leave_days`` from leave events: an approved request's days are written, a
  cancelled one's removed. Both replace the request's rows as a whole, so applying
  one twice leaves the same rows (the inbox already skips a redelivery).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import delete, insert

from hrms.contracts.employee import EmployeeCreated, EmployeeDeactivated, EmployeeUpdated
from hrms.contracts.leave import LeaveApproved, LeaveCancelled
from hrms.services.presence.models import CheckinUserInfo, LeaveDay
from isles import Handler, HandlerContext, ReplicaTable

_COMMON = ("company_id", "user_id", "email", "first_name", "last_name", "is_active")


def _common(event: Any) -> dict[str, Any]:
    return {
        "company_id": event.company_id,
        "user_id": event.user_id,
        "email": event.email,
        "first_name": event.first_name,
        "last_name": event.last_name,
        "is_active": event.is_active,
    }


user_infos = ReplicaTable(
    table=CheckinUserInfo.__table__,  # type: ignore[arg-type]
    source="employee.employees",
    events=(EmployeeCreated, EmployeeUpdated),
    project=lambda e: {**_common(e), "manager_id": e.manager_id},
    columns=(*_COMMON, "manager_id"),
)

user_deactivations = ReplicaTable(
    table=CheckinUserInfo.__table__,  # type: ignore[arg-type]
    source="employee.employees",
    events=(EmployeeDeactivated,),
    project=_common,
    columns=_COMMON,
)


def leave_days_of(event: LeaveApproved) -> list[tuple[date, str]]:
    """Each calendar day of an approved request and the part of it taken."""
    days = []
    day = event.start_date
    while day <= event.end_date:
        part = "full"
        if day == event.start_date:
            part = event.first_day
        elif day == event.end_date:
            part = event.last_day
        days.append((day, part))
        day += timedelta(days=1)
    return days


async def leave_approved(ctx: HandlerContext, event: LeaveApproved) -> None:
    session = ctx.uow.session
    await session.execute(delete(LeaveDay).where(LeaveDay.request_id == event.id))
    rows = [
        {
            "request_id": event.id,
            "day": day,
            "company_id": event.company_id,
            "employee_id": event.employee_id,
            "part": part,
        }
        for day, part in leave_days_of(event)
    ]
    if rows:
        await session.execute(insert(LeaveDay), rows)


async def leave_cancelled(ctx: HandlerContext, event: LeaveCancelled) -> None:
    await ctx.uow.session.execute(delete(LeaveDay).where(LeaveDay.request_id == event.id))


REPLICAS = (user_infos, user_deactivations)
HANDLERS = (
    Handler(event=LeaveApproved, fn=leave_approved),
    Handler(event=LeaveCancelled, fn=leave_cancelled),
)
