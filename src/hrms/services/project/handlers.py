"""What the project service keeps from other services' events.

Two replicas of employee data, applied in this order in one transaction per event:
the ``employee_copies`` row (which also serializes with assignment creation), then
the denormalized ``employee_name``/``employee_active`` on every assignment. And the
company settings it acts on (``company_policies``: the allocation limit).
"""

from __future__ import annotations

from typing import Any

from hrms.contracts.company import CompanySettingsChanged, max_allocation
from hrms.contracts.employee import EmployeeCreated, EmployeeDeactivated, EmployeeUpdated
from hrms.services.project.models import Assignment, CompanyPolicy, EmployeeCopy
from isles import DenormalizedColumns, Handler, ReplicaTable

EMPLOYEE_EVENTS = (EmployeeCreated, EmployeeUpdated, EmployeeDeactivated)


def _copy(event: Any) -> dict[str, Any]:
    return {"user_id": event.user_id, "full_name": event.full_name, "is_active": event.is_active}


def _denormalized(event: Any) -> dict[str, Any]:
    return {"employee_name": event.full_name, "employee_active": event.is_active}


employee_copies = ReplicaTable(
    table=EmployeeCopy.__table__,  # type: ignore[arg-type]
    source="employee.employees",
    events=EMPLOYEE_EVENTS,
    project=_copy,
    columns=("user_id", "full_name", "is_active"),
)

assignment_employee = DenormalizedColumns(
    table=Assignment.__table__,  # type: ignore[arg-type]
    source="employee.employees",
    key_column="employee_id",
    version_column="employee_version",
    columns=("employee_name", "employee_active"),
    events=EMPLOYEE_EVENTS,
    project=_denormalized,
)

company_policies = ReplicaTable(
    table=CompanyPolicy.__table__,  # type: ignore[arg-type]
    source="company.companies",
    events=(CompanySettingsChanged,),
    project=lambda e: {"max_allocation_percent": max_allocation(e.settings)},
    columns=("max_allocation_percent",),
    complete=False,  # only companies whose settings changed; their version moves with renames too
)

REPLICAS = (employee_copies, assignment_employee, company_policies)
HANDLERS: tuple[Handler, ...] = ()
