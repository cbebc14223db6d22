"""CreateEmployee (seed 001): a user in the auth service and the employee here, each
undone in reverse if a later step fails. The company and department are checked with
the company service first; the user and the employee stay pending (no login,
invisible, unannounced) until the last steps. The company service counts the new
employee in its headcount from the EmployeeCreated event, not from a step."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from hrms.contracts.auth import AuthClient
from hrms.contracts.company import CompanyClient
from hrms.services.employee import service
from hrms.services.employee.schemas import EmployeeCreate
from isles import FieldError, NotFound, Saga, Step, StepContext, StepFailed, invalid

NAME = "employee.CreateEmployee"


def saga_data(body: EmployeeCreate) -> dict[str, Any]:
    """The saga's input: the request, and the ids the saga will create (chosen now, so
    every retry and every compensation names the same user and employee)."""
    return {
        "employee": body.model_dump(mode="json", exclude={"user_id"}),
        "employee_id": str(uuid.uuid4()),
        "user_id": str(body.user_id or uuid.uuid4()),
        "link_user": body.user_id is not None,
    }


def _ids(ctx: StepContext) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    d = ctx.data
    return uuid.UUID(d["employee_id"]), uuid.UUID(d["user_id"]), uuid.UUID(d["employee"]["company_id"])


async def check_company(ctx: StepContext) -> Any:
    """API-first validation (seed 000): the company exists and is active, and the
    department, if one is named, is the company's."""
    _e, _u, company_id = _ids(ctx)
    companies = CompanyClient(ctx.client("company"))
    try:
        company = await companies.get(company_id)
    except NotFound:
        raise StepFailed(
            invalid([FieldError("company_id", f"company {company_id} does not exist", "not_found")])
        ) from None
    if not company.is_active:
        raise StepFailed(invalid([FieldError("company_id", f"company {company_id} is not active", "inactive")]))
    department_id = ctx.data["employee"].get("department_id")
    if department_id:
        try:
            department = await companies.get_department(uuid.UUID(department_id))
        except NotFound:
            department = None
        if department is None or department.company_id != company_id or department.deleted_at is not None:
            raise StepFailed(
                invalid([FieldError("department_id", f"department {department_id} does not exist", "not_found")])
            )
    return {"company": company.name}


async def create_user(ctx: StepContext) -> Any:
    _e, user_id, company_id = _ids(ctx)
    auth = AuthClient(ctx.client("auth"))
    if ctx.data["link_user"]:
        try:
            user = await auth.get_user(user_id)
        except NotFound:
            user = None
        if user is None or user.company_id != company_id:  # another company's user is not there for us
            raise StepFailed(invalid([FieldError("user_id", f"user {user_id} does not exist", "not_found")]))
        return {"user_id": str(user_id), "created": False}
    person = ctx.data["employee"]
    await auth.create_user(
        user_id=user_id,
        email=person["email"],
        first_name=person["first_name"],
        last_name=person["last_name"],
        company_id=company_id,
        roles=list(person.get("roles") or ["employee"]),
        idempotency_key=ctx.key,
    )
    return {"user_id": str(user_id), "created": True}


async def activate_user(ctx: StepContext) -> Any:
    if ctx.data["link_user"]:
        return {"activated": False}
    _e, user_id, _c = _ids(ctx)
    await AuthClient(ctx.client("auth")).activate_user(user_id, idempotency_key=ctx.key)
    return {"activated": True}


async def delete_user(ctx: StepContext) -> None:
    if ctx.data["link_user"]:
        return  # the user was there before the saga; it stays
    _e, user_id, _c = _ids(ctx)
    auth = AuthClient(ctx.client("auth"))
    with contextlib.suppress(NotFound):  # gone already
        await auth.delete_user(user_id, idempotency_key=ctx.key, compensates=ctx.action_key)


async def create_employee(ctx: StepContext) -> Any:
    employee_id, user_id, _c = _ids(ctx)
    data = EmployeeCreate.model_validate(ctx.data["employee"])
    await service.create_employee(uow=ctx.uow, data=data, user_id=user_id, employee_id=employee_id, pending=True)
    return {"employee_id": str(employee_id)}


async def remove_employee(ctx: StepContext) -> None:
    employee_id, _u, _c = _ids(ctx)
    await service.remove_pending_employee(uow=ctx.uow, employee_id=employee_id)


async def activate(ctx: StepContext) -> Any:
    employee_id, _u, _c = _ids(ctx)
    employee = await service.activate_employee(uow=ctx.uow, employee_id=employee_id)
    return {"employee_id": str(employee.id), "version": employee.version}


CREATE_EMPLOYEE = Saga(
    NAME,
    (
        Step("check_company", check_company, timeout=5.0, service="company"),
        Step("create_user", create_user, delete_user, timeout=5.0, service="auth"),
        Step("create_employee", create_employee, remove_employee, local=True),
        Step("activate_user", activate_user, timeout=5.0, service="auth"),
        Step("activate", activate, local=True),
    ),
    description="Check the company and department (company), create the user (auth, pending), the employee "
    "(pending), activate the user (auth), activate the employee.",
)

SAGAS = (CREATE_EMPLOYEE,)
