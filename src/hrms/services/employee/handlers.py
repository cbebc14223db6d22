"""What the employee service does on other services' events: when the company
service deletes a department, its employees are in none (each publishes
EmployeeUpdated)."""

from __future__ import annotations

from typing import Any

from hrms.contracts.company import DepartmentDeleted
from hrms.services.employee import service
from isles import Handler, HandlerContext


async def department_deleted(ctx: HandlerContext, event: Any) -> None:
    await service.clear_department(uow=ctx.uow, department_id=event.id)


HANDLERS: tuple[Handler, ...] = (Handler(event=DepartmentDeleted, fn=department_deleted, name="clear department"),)
