"""HTTP routes of the employee service (mounted at ``/api/employee``)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from hrms.contracts.employee import EmployeeView
from hrms.services.employee import sagas, service
from hrms.services.employee.deps import ReadEmployees, WriteEmployees, check_visible, only_user
from hrms.services.employee.models import Employee
from hrms.services.employee.schemas import EmployeeCreate, EmployeeUpdate
from isles.access import TenantData, check_tenant
from isles.api import Page, PagingDep, runtime_of
from isles.idempotency import Idempotent
from isles.problems import FieldError, invalid
from isles.runtime import ServiceRuntime
from isles.sagas import SagaState
from isles.sagas.api import answer, run_saga

router = APIRouter(tags=["employees"])
Runtime = Annotated[ServiceRuntime, Depends(runtime_of)]


def view(e: Employee) -> EmployeeView:
    return EmployeeView(
        id=e.id,
        employee_number=e.employee_id,
        company_id=e.company_id,
        user_id=e.user_id,
        first_name=e.first_name,
        last_name=e.last_name,
        email=e.email,
        phone=e.phone,
        position=e.position,
        department_id=e.department_id,
        hire_date=e.hire_date,
        salary=e.salary,
        is_active=e.is_active,
        version=e.version,
        created_at=e.created_at,
        updated_at=e.updated_at,
    )


@router.post(
    "/employees",
    status_code=status.HTTP_201_CREATED,
    response_model=EmployeeView,
    responses={202: {"description": "Still under way: follow the Location (the saga)."}},
)
async def create_employee(
    body: EmployeeCreate, rt: Runtime, request: Request, idem: Idempotent, caller: WriteEmployees
) -> Response:
    """Create an employee: the CreateEmployee saga creates the user in the auth service
    (or links ``user_id``), the employee, and raises the company's headcount; a failed
    step undoes the ones before it. Publishes EmployeeCreated when it completes. With an
    ``Idempotency-Key``, a retried request gets the first one's outcome."""
    assert rt.sagas is not None
    company_id = check_tenant(caller, body.company_id)
    body = body.model_copy(update={"company_id": company_id})
    state = await run_saga(
        rt.sagas,
        sagas.CREATE_EMPLOYEE,
        sagas.saga_data(body),
        idempotency=idem,
        tenant_id=str(company_id),
        wait=rt.settings.saga_wait_seconds,
    )

    async def completed(state: SagaState) -> Response:
        async with rt.db.read_session() as session:
            employee = await service.get_employee(session=session, employee_id=uuid.UUID(state.data["employee_id"]))
        body = jsonable_encoder(view(employee))
        return JSONResponse(body, status_code=201, headers={"Location": f"{request.url.path}/{employee.id}"})

    return await answer(request, state, completed)


@router.get("/employees", response_model=Page[EmployeeView])
async def list_employees(
    request: Request,
    caller: ReadEmployees,
    paging: PagingDep,
    company_id: Annotated[uuid.UUID | None, Query()] = None,
    is_active: Annotated[bool | None, Query()] = None,
) -> Page[EmployeeView]:
    """The company's employees (a caller who is only an employee: themself)."""
    async with TenantData(request, caller).read() as session:
        rows, total = await service.list_employees(
            session=session,
            limit=paging.limit,
            offset=paging.offset,
            company_id=company_id,
            is_active=is_active,
            user_id=only_user(caller),
        )
    return Page(items=[view(e) for e in rows], total=total, limit=paging.limit, offset=paging.offset)


@router.get("/employees/{employee_id}", response_model=EmployeeView)
async def get_employee(employee_id: uuid.UUID, request: Request, caller: ReadEmployees) -> EmployeeView:
    async with TenantData(request, caller).read() as session:
        return view(check_visible(caller, await service.get_employee(session=session, employee_id=employee_id)))


@router.patch("/employees/{employee_id}", response_model=EmployeeView)
async def update_employee(
    employee_id: uuid.UUID, body: EmployeeUpdate, request: Request, caller: WriteEmployees
) -> EmployeeView:
    """Change fields of an employee. Publishes EmployeeUpdated if anything changed."""
    try:
        changes = body.changes()
    except ValueError as exc:
        raise invalid([FieldError(str(exc), f"{exc} cannot be null", "null")]) from exc
    async with TenantData(request, caller).uow() as uow:
        employee = await service.update_employee(uow=uow, employee_id=employee_id, changes=changes)
    return view(employee)


@router.post("/employees/{employee_id}/deactivate", response_model=EmployeeView)
async def deactivate_employee(employee_id: uuid.UUID, request: Request, caller: WriteEmployees) -> EmployeeView:
    """Deactivate an employee. Publishes EmployeeDeactivated (once)."""
    async with TenantData(request, caller).uow() as uow:
        employee = await service.deactivate_employee(uow=uow, employee_id=employee_id)
    return view(employee)
