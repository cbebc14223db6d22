"""What the document service keeps from other services' events: the employees it
knows (``document_users``), for its access rules and the review of a deactivated
employee's documents.

Two replicas of one table, as in the leave service: created and updated events
carry the whole replicated state, manager included; a deactivation carries all of
it but the manager (``is_active`` false: their documents are listed for review).
Both apply an event only if its version is newer than the row's."""

from __future__ import annotations

from typing import Any

from hrms.contracts.employee import EmployeeCreated, EmployeeDeactivated, EmployeeUpdated
from hrms.services.document.models import DocumentUser
from isles import Handler, ReplicaTable

_COMMON = ("user_id", "company_id", "email", "first_name", "last_name", "department_id", "is_active")


def _person(event: Any) -> dict[str, Any]:
    return {name: getattr(event, name) for name in _COMMON}


document_users = ReplicaTable(
    table=DocumentUser.__table__,  # type: ignore[arg-type]
    source="employee.employees",
    events=(EmployeeCreated, EmployeeUpdated),
    project=lambda e: {**_person(e), "manager_id": e.manager_id},
    columns=(*_COMMON, "manager_id"),
)

document_users_deactivated = ReplicaTable(
    table=DocumentUser.__table__,  # type: ignore[arg-type]
    source="employee.employees",
    events=(EmployeeDeactivated,),
    project=_person,
    columns=_COMMON,
)

REPLICAS = (document_users, document_users_deactivated)
HANDLERS: tuple[Handler, ...] = ()
