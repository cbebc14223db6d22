"""What the employee service does on other services' events: when the company
service deletes a department, its employees are in none (each publishes
EmployeeUpdated)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete

from hrms.contracts.company import DepartmentCreated, DepartmentDeleted, DepartmentUpdated
from hrms.services.employee import service
from hrms.services.employee.models import DepartmentCopy
from isles import Handler, HandlerContext, ReplicaTable


async def department_deleted(ctx: HandlerContext, event: Any) -> None:
    await service.clear_department(uow=ctx.uow, department_id=event.id)
    await ctx.uow.session.execute(delete(DepartmentCopy).where(DepartmentCopy.id == event.id))


#: Department names, for employee views.
department_copies = ReplicaTable(
    table=DepartmentCopy.__table__,  # type: ignore[arg-type]
    source="company.departments",
    events=(DepartmentCreated, DepartmentUpdated),
    project=lambda event: {"name": event.name},
    columns=("name",),
)
REPLICAS = (department_copies,)


HANDLERS: tuple[Handler, ...] = (Handler(event=DepartmentDeleted, fn=department_deleted, name="clear department"),)
