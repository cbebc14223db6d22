"""CreateAssignment (seed 000's CreateEmployeeProjectAssignmentSaga): validate the
employee through its service's API, reserve a place on the project, write the
assignment (pending) with both names, confirm. A failure releases the place and
removes the assignment."""

from __future__ import annotations

import uuid
from typing import Any

from hrms.contracts.employee import EmployeeClient, EmployeeView
from hrms.services.project import service
from hrms.services.project.schemas import AssignmentCreate
from isles import Problem, Saga, Step, StepContext, StepFailed

NAME = "project.CreateAssignment"


def saga_data(body: AssignmentCreate) -> dict[str, Any]:
    return {"assignment": body.model_dump(mode="json"), "assignment_id": str(uuid.uuid4())}


def _request(ctx: StepContext) -> AssignmentCreate:
    return AssignmentCreate.model_validate(ctx.data["assignment"])


def assignment_id(ctx: StepContext) -> uuid.UUID:
    return uuid.UUID(ctx.data["assignment_id"])


async def validate(ctx: StepContext) -> Any:
    employees = EmployeeClient(ctx.client("employee"))
    async with ctx.read_session() as session:
        try:
            employee = await service.validate_assignment(
                session=session, employees=employees, data=_request(ctx), company_id=uuid.UUID(ctx.tenant_id)
            )
        except Problem as problem:
            if problem.status == 422:
                raise StepFailed(problem) from None
            raise
    return {"employee": employee.model_dump(mode="json")}


async def reserve(ctx: StepContext) -> Any:
    project = await service.reserve_capacity(
        uow=ctx.uow, project_id=_request(ctx).project_id, reservation_id=ctx.saga_id
    )
    return {"project_id": str(project.id), "assigned_count": project.assigned_count}


async def release(ctx: StepContext) -> None:
    await service.release_capacity(uow=ctx.uow, reservation_id=ctx.saga_id)


async def create(ctx: StepContext) -> Any:
    employee = EmployeeView.model_validate(ctx.results["validate"]["employee"])
    a = await service.add_pending_assignment(
        uow=ctx.uow, assignment_id=assignment_id(ctx), data=_request(ctx), employee=employee
    )
    return {"assignment_id": str(a.id), "employee_name": a.employee_name, "project_name": a.project_name}


async def remove(ctx: StepContext) -> None:
    await service.remove_pending_assignment(uow=ctx.uow, assignment_id=assignment_id(ctx))


async def confirm(ctx: StepContext) -> Any:
    a = await service.confirm_assignment(uow=ctx.uow, assignment_id=assignment_id(ctx), reservation_id=ctx.saga_id)
    return {"assignment_id": str(a.id)}


CREATE_ASSIGNMENT = Saga(
    NAME,
    (
        Step("validate", validate, timeout=5.0, service="employee"),
        Step("reserve_capacity", reserve, release, local=True),
        Step("create_assignment", create, remove, local=True),
        Step("confirm", confirm, local=True),
    ),
    description="Validate the employee (API), reserve capacity, write the assignment with both names, confirm.",
)

SAGAS = (CREATE_ASSIGNMENT,)
