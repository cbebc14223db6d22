"""HTTP routes of the employee service (mounted at ``/api/employee``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.contracts.company import CompanyClient
from hrms.contracts.employee import EmployeeView, ProfileView
from hrms.services.employee import sagas, service
from hrms.services.employee.deps import (
    ReadEmployees,
    WriteEmployees,
    WriteProfiles,
    check_id_in_scope,
    check_in_scope,
    check_may_place,
    check_may_write_profile,
    scope_of,
)
from hrms.services.employee.models import DepartmentCopy, Employee, EmployeeProfile
from hrms.services.employee.schemas import (
    EmployeeCreate,
    EmployeeHistory,
    EmployeeUpdate,
    EmployeeVersion,
    ProfilePut,
)
from isles import (
    IF_MATCH,
    Context,
    FieldError,
    Idempotent,
    Listing,
    NotFound,
    Page,
    Principal,
    SagaState,
    ServiceContext,
    TenantData,
    check_tenant,
    context_of,
    if_match,
    invalid,
    start_saga,
    tagged,
)

router = APIRouter(tags=["employees"])


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
        manager_id=e.manager_id,
        hire_date=e.hire_date,
        salary=e.salary,
        contract_id=e.contract_id,
        is_active=e.is_active,
        version=e.version,
        created_at=e.created_at,
        updated_at=e.updated_at,
    )


async def named(session: AsyncSession, employees: Sequence[Employee]) -> list[EmployeeView]:
    """Views of ``employees`` with their department's name (from this service's copy of
    the company's departments) and their manager's name (an employee here)."""
    departments = {e.department_id for e in employees if e.department_id is not None}
    managers = {e.manager_id for e in employees if e.manager_id is not None}
    department_names: dict[uuid.UUID, str] = {}
    if departments:
        rows = await session.execute(
            select(DepartmentCopy.id, DepartmentCopy.name).where(DepartmentCopy.id.in_(departments))
        )
        department_names = {r.id: r.name for r in rows}
    manager_names: dict[uuid.UUID, str] = {}
    if managers:
        rows = await session.execute(
            select(Employee.id, Employee.first_name, Employee.last_name).where(Employee.id.in_(managers))
        )
        manager_names = {r.id: f"{r.first_name} {r.last_name}" for r in rows}
    result = []
    for e in employees:
        v = view(e)
        v.department_name = department_names.get(e.department_id) if e.department_id else None
        v.manager_name = manager_names.get(e.manager_id) if e.manager_id else None
        result.append(v)
    return result


@router.post(
    "/employees",
    status_code=status.HTTP_201_CREATED,
    response_model=EmployeeView,
    responses={202: {"description": "Still under way: follow the Location (the saga)."}},
)
async def create_employee(
    body: EmployeeCreate, rt: Context, request: Request, idem: Idempotent, caller: WriteEmployees
) -> Response:
    """Create an employee: the CreateEmployee saga checks the company and department
    (company service), creates the user in the auth service (or links ``user_id``),
    the employee, and activates both; a failed step undoes the ones before it.
    Publishes EmployeeCreated when it completes (the company service counts it in the
    headcount). With an ``Idempotency-Key``, a retried request gets the first one's
    outcome. A manager places new employees in their department or under themself."""
    company_id = check_tenant(caller, body.company_id)
    body = body.model_copy(update={"company_id": company_id})
    async with TenantData(request, caller).read() as session:
        await check_may_place(session, caller, department_id=body.department_id, manager_id=body.manager_id)

    async def completed(state: SagaState) -> Response:
        async with rt.db.read_session(tenant=company_id) as session:
            employee = await service.get_employee(session=session, employee_id=uuid.UUID(state.data["employee_id"]))
            (named_view,) = await named(session, [employee])
        body = jsonable_encoder(named_view)
        return JSONResponse(body, status_code=201, headers={"Location": f"{request.url.path}/{employee.id}"})

    data = sagas.saga_data(body)
    saga = sagas.CREATE_EMPLOYEE
    return await start_saga(request, saga, data, tenant=company_id, idempotency=idem, completed=completed)


EmployeeList = Annotated[Listing, Depends(service.EMPLOYEES.dependency)]


@router.get("/employees", response_model=Page[EmployeeView])
async def list_employees(
    request: Request,
    caller: ReadEmployees,
    listing: EmployeeList,
    company_id: Annotated[uuid.UUID | None, Query()] = None,
    is_active: Annotated[bool | None, Query()] = None,
    department_id: Annotated[uuid.UUID | None, Query()] = None,
    manager_id: Annotated[uuid.UUID | None, Query(description="Direct reports of this employee.")] = None,
) -> Page[EmployeeView]:
    """The company's employees in the caller's scope (an admin: all; a manager: their
    department and reports; an employee: themself). ``q`` finds names, emails and
    employee numbers; ``sort`` orders (e.g. ``-hire_date``); ``cursor`` pages."""
    async with TenantData(request, caller).read() as session:
        scope = await scope_of(session, caller)
        rows, total, cursor = await listing.fetch(
            session,
            service.employees_where(
                company_id=company_id,
                is_active=is_active,
                scope=scope.where,
                department_id=department_id,
                manager_id=manager_id,
            ),
        )
        items = await named(session, rows)
    return listing.page(items, total, cursor)


AsOf = Annotated[
    datetime | None,
    Query(
        description="The employee as they were at this moment (from the change history); "
        "404 if they did not exist then.",
        examples=["2026-01-31T23:59:59Z"],
    ),
]


@router.get("/employees/{employee_id}", response_model=EmployeeView)
async def get_employee(employee_id: uuid.UUID, request: Request, caller: ReadEmployees, as_of: AsOf = None) -> Response:
    """An employee; its ``ETag`` is its version (send it as ``If-Match`` to change it
    safely). With ``as_of``, the employee as they were then (no ETag)."""
    async with TenantData(request, caller).read() as session:
        employee = await service.get_employee(session=session, employee_id=employee_id)
        await check_in_scope(session, caller, employee)
        if as_of is not None:
            then = await service.employee_as_of(session=session, employee_id=employee_id, when=as_of)
            (found,) = await named(session, [then])
            return JSONResponse(jsonable_encoder(found))
        (found,) = await named(session, [employee])
    return tagged(found, employee.version)


@router.get("/employees/{employee_id}/history", response_model=EmployeeHistory)
async def employee_history(employee_id: uuid.UUID, request: Request, caller: ReadEmployees) -> EmployeeHistory:
    """Every version of an employee, oldest first: salary, position, department,
    manager and the rest as they were, when each version held, who ended it and why."""
    async with TenantData(request, caller).read() as session:
        await visible(session, caller, employee_id)
        versions = await service.employee_history(session=session, employee_id=employee_id)
        views = await named(session, [e for e, _v in versions])
    return EmployeeHistory(
        items=[
            EmployeeVersion(
                employee=view_,
                valid_from=v.valid_from,
                valid_to=v.valid_to,
                changed_by=v.changed_by or None,
                change_reason=v.change_reason or None,
                operation=v.operation or None,
            )
            for view_, (_e, v) in zip(views, versions, strict=True)
        ]
    )


@router.patch(
    "/employees/{employee_id}",
    response_model=EmployeeView,
    openapi_extra=IF_MATCH,
    responses={409: {"description": "Deactivated, or position/salary set by the active contract."}},
)
async def update_employee(
    employee_id: uuid.UUID, body: EmployeeUpdate, request: Request, caller: WriteEmployees
) -> Response:
    """Change fields of an employee. Publishes EmployeeUpdated if anything changed.
    While a contract is active (``contract_id``), position and salary are the
    contract's: changing them here is a 409 naming the field. With ``If-Match`` (the
    ETag read), a change made by someone else in between is a 412, not a lost update."""
    try:
        changes = body.changes()
    except ValueError as exc:
        raise invalid([FieldError(str(exc), f"{exc} cannot be null", "null")]) from exc
    data = TenantData(request, caller)
    if "department_id" in changes or "manager_id" in changes:
        await check_move(request, data, employee_id, changes)
    async with data.uow() as uow:
        await check_id_in_scope(uow.session, caller, employee_id)
        employee = await service.update_employee(
            uow=uow, employee_id=employee_id, changes=changes, expected=if_match(request)
        )
    return tagged(view(employee), employee.version)


async def check_move(request: Request, data: TenantData, employee_id: uuid.UUID, changes: dict[str, object]) -> None:
    """A manager places only in their department or under themself; a new department
    must exist (the company service says). Asked before the write transaction, which
    is not held open across a call to another service."""
    caller = data.principal
    async with data.read() as session:
        current = await visible(session, caller, employee_id)
        await check_may_place(
            session,
            caller,
            department_id=changes.get("department_id", current.department_id),  # type: ignore[arg-type]
            manager_id=changes.get("manager_id", current.manager_id),  # type: ignore[arg-type]
        )
    department = changes.get("department_id")
    if isinstance(department, uuid.UUID) and department != current.department_id:
        await check_department(context_of(request), current.company_id, department)


@router.post("/employees/{employee_id}/deactivate", response_model=EmployeeView)
async def deactivate_employee(employee_id: uuid.UUID, request: Request, caller: WriteEmployees) -> EmployeeView:
    """Deactivate an employee. Publishes EmployeeDeactivated (once): the company service
    lowers the headcount and takes them out of their teams."""
    async with TenantData(request, caller).uow() as uow:
        await check_in_scope(
            uow.session, caller, await service.get_employee(session=uow.session, employee_id=employee_id)
        )
        employee = await service.deactivate_employee(uow=uow, employee_id=employee_id)
    return view(employee)


async def visible(session: AsyncSession, caller: Principal, employee_id: uuid.UUID) -> Employee:
    """The employee, if the caller may see it; else 404."""
    return await check_in_scope(session, caller, await service.get_employee(session=session, employee_id=employee_id))


async def check_department(rt: ServiceContext, company_id: uuid.UUID, department_id: uuid.UUID) -> None:
    """A department is the company service's: ask it (API-first, seed 000)."""
    try:
        department = await CompanyClient(rt.client("company", tenant=str(company_id))).get_department(department_id)
    except NotFound:
        department = None
    if department is None or department.company_id != company_id or department.deleted_at is not None:
        raise invalid([FieldError("department_id", f"department {department_id} does not exist", "not_found")])


@router.get("/employees/{employee_id}/reports", response_model=list[EmployeeView])
async def list_reports(
    employee_id: uuid.UUID,
    request: Request,
    caller: ReadEmployees,
    all_levels: Annotated[bool, Query(alias="all", description="Every level below, not only direct reports.")] = False,
) -> list[EmployeeView]:
    """Who reports to the employee (seed 004's boss/subordinate relation)."""
    async with TenantData(request, caller).read() as session:
        await visible(session, caller, employee_id)
        ids = await service.reports_of(session, employee_id, all_levels=all_levels)
        scope = await scope_of(session, caller)
        rows, _ = await service.list_employees(
            session=session,
            limit=10_000,
            offset=0,
            scope=Employee.id.in_(ids) if scope.where is None else (Employee.id.in_(ids) & scope.where),
        )
        return await named(session, rows)


def profile_view(p: EmployeeProfile) -> ProfileView:
    return ProfileView.model_validate(p, from_attributes=True)


@router.get("/employees/{employee_id}/profile", response_model=ProfileView, tags=["profiles"])
async def get_profile(employee_id: uuid.UUID, request: Request, caller: ReadEmployees) -> ProfileView:
    async with TenantData(request, caller).read() as session:
        employee = await check_in_scope(
            session, caller, await service.get_employee(session=session, employee_id=employee_id)
        )
        return profile_view(await service.get_profile(session=session, employee=employee))


@router.put("/employees/{employee_id}/profile", response_model=ProfileView, tags=["profiles"])
async def put_profile(employee_id: uuid.UUID, body: ProfilePut, request: Request, caller: WriteProfiles) -> ProfileView:
    """Replace the employee's profile (skills and certifications are lists)."""
    async with TenantData(request, caller).uow() as uow:
        employee = await check_in_scope(
            uow.session, caller, await service.get_employee(session=uow.session, employee_id=employee_id)
        )
        check_may_write_profile(caller, employee)
        return profile_view(await service.put_profile(uow=uow, employee_id=employee_id, data=body))
