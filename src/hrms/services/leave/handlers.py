"""What the leave service keeps from other services' events: the employees it knows
(``leave_request_users``), from the employee service's events.

Two replicas of one table: created and updated events carry the whole replicated
state, manager included; a deactivation carries all of it but the manager, so it
leaves ``manager_id`` as it was. Both apply an event only if its version is newer
than the row's: a redelivered or late event changes nothing.
"""

from __future__ import annotations

from typing import Any

from hrms.contracts.employee import EmployeeCreated, EmployeeDeactivated, EmployeeUpdated
from hrms.services.leave.models import LeaveRequestUser
from isles import Handler, ReplicaTable

_COMMON = ("user_id", "company_id", "email", "first_name", "last_name", "department_id", "is_active")


def _person(event: Any) -> dict[str, Any]:
    return {
        "user_id": event.user_id,
        "company_id": event.company_id,
        "email": event.email,
        "first_name": event.first_name,
        "last_name": event.last_name,
        "department_id": event.department_id,
        "is_active": event.is_active,
    }


leave_request_users = ReplicaTable(
    table=LeaveRequestUser.__table__,  # type: ignore[arg-type]
    source="employee.employees",
    events=(EmployeeCreated, EmployeeUpdated),
    project=lambda e: {**_person(e), "manager_id": e.manager_id},
    columns=(*_COMMON, "manager_id"),
)

leave_request_users_deactivated = ReplicaTable(
    table=LeaveRequestUser.__table__,  # type: ignore[arg-type]
    source="employee.employees",
    events=(EmployeeDeactivated,),
    project=_person,
    columns=_COMMON,
)

REPLICAS = (leave_request_users, leave_request_users_deactivated)
HANDLERS: tuple[Handler, ...] = ()
