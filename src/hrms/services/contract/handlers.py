"""What the contract service keeps from other services' events: the employees it knows
(``contract_employees``), from the employee service's events.

Created and updated events carry the manager; a deactivation does not, so it leaves
``manager_id`` as it was. Each applies an event only if it is newer than the row.
"""

from __future__ import annotations

from typing import Any

from hrms.contracts.employee import EmployeeCreated, EmployeeDeactivated, EmployeeUpdated
from hrms.services.contract.models import ContractEmployee
from isles import Handler, ReplicaTable

_COMMON = ("user_id", "company_id", "is_active")


def _person(event: Any) -> dict[str, Any]:
    return {"user_id": event.user_id, "company_id": event.company_id, "is_active": event.is_active}


contract_employees = ReplicaTable(
    table=ContractEmployee.__table__,  # type: ignore[arg-type]
    source="employee.employees",
    events=(EmployeeCreated, EmployeeUpdated),
    project=lambda e: {**_person(e), "manager_id": e.manager_id},
    columns=(*_COMMON, "manager_id"),
)

contract_employees_deactivated = ReplicaTable(
    table=ContractEmployee.__table__,  # type: ignore[arg-type]
    source="employee.employees",
    events=(EmployeeDeactivated,),
    project=_person,
    columns=_COMMON,
)

REPLICAS = (contract_employees, contract_employees_deactivated)
HANDLERS: tuple[Handler, ...] = ()
