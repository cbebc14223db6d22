"""What the company service keeps from the employee service's events.

``employee_copies`` (a replica: company, user, name, department, active) is applied
first; then, in the same transaction, the company's headcount is recounted from it,
and an employee who left is taken out of their teams and off any department or team
they led. Each step is idempotent, so a redelivered or late event changes nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from hrms.contracts.employee import EmployeeCreated, EmployeeDeactivated, EmployeeUpdated
from hrms.services.company import service
from hrms.services.company.models import EmployeeCopy
from isles.consumer import Handler, HandlerContext
from isles.replicas import ReplicaTable

EMPLOYEE_EVENTS = (EmployeeCreated, EmployeeUpdated, EmployeeDeactivated)


def _copy(event: Any) -> dict[str, Any]:
    return {
        "company_id": event.company_id,
        "user_id": event.user_id,
        "full_name": event.full_name,
        "department_id": event.department_id,
        "is_active": event.is_active,
    }


employee_copies = ReplicaTable(
    table=EmployeeCopy.__table__,  # type: ignore[arg-type]
    source="employee.employees",
    events=EMPLOYEE_EVENTS,
    project=_copy,
    columns=("company_id", "user_id", "full_name", "department_id", "is_active"),
)


async def employee_changed(ctx: HandlerContext, event: Any) -> None:
    employee_id = uuid.UUID(str(ctx.envelope.aggregateid))
    copy = await ctx.uow.session.get(EmployeeCopy, employee_id)  # just applied by the replica
    if copy is not None and not copy.is_active:
        await service.release_employee(uow=ctx.uow, employee_id=employee_id)
    company_id = event.company_id or (copy.company_id if copy is not None else None)
    if company_id is not None:
        await service.recount(uow=ctx.uow, company_id=company_id)


REPLICAS = (employee_copies,)
HANDLERS: tuple[Handler, ...] = tuple(
    Handler(event=e, fn=employee_changed, name="headcount and teams") for e in EMPLOYEE_EVENTS
)
