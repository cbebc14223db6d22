"""What the employee service does on other services' events: when the company
service deletes a department, its employees are in none (each publishes
EmployeeUpdated); when a contract comes into force or its terms change, the
employee's position and salary are the contract's (see ``service.follow_contract``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete

from hrms.contracts.company import DepartmentCreated, DepartmentDeleted, DepartmentUpdated
from hrms.contracts.contract import ContractActivated, ContractChanged, ContractEnded, ContractTerminated
from hrms.services.employee import service
from hrms.services.employee.models import DepartmentCopy
from isles import Handler, HandlerContext, ReplicaTable


async def department_deleted(ctx: HandlerContext, event: Any) -> None:
    await service.clear_department(uow=ctx.uow, department_id=event.id)
    await ctx.uow.session.execute(delete(DepartmentCopy).where(DepartmentCopy.id == event.id))


async def contract_in_force(ctx: HandlerContext, event: ContractActivated | ContractChanged) -> None:
    await service.follow_contract(uow=ctx.uow, event=event, version=ctx.envelope.aggregateversion)


async def contract_over(ctx: HandlerContext, event: ContractEnded | ContractTerminated) -> None:
    await service.release_contract(uow=ctx.uow, event=event, version=ctx.envelope.aggregateversion)


#: Department names, for employee views.
department_copies = ReplicaTable(
    table=DepartmentCopy.__table__,  # type: ignore[arg-type]
    source="company.departments",
    events=(DepartmentCreated, DepartmentUpdated),
    project=lambda event: {"name": event.name},
    columns=("name",),
)
REPLICAS = (department_copies,)


HANDLERS: tuple[Handler, ...] = (
    Handler(event=DepartmentDeleted, fn=department_deleted, name="clear department"),
    Handler(event=ContractActivated, fn=contract_in_force, name="contract activated"),
    Handler(event=ContractChanged, fn=contract_in_force, name="contract changed"),
    Handler(event=ContractEnded, fn=contract_over, name="contract ended"),
    Handler(event=ContractTerminated, fn=contract_over, name="contract terminated"),
)
