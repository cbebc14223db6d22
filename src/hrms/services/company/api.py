"""HTTP routes of the company service (mounted at ``/api/company``)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from sqlalchemy import select

from hrms.contracts.company import CompanyView, DepartmentView, MemberView, SettingView, TeamView
from hrms.contracts.employee import EmployeeClient
from hrms.services.company import service
from hrms.services.company.deps import (
    CreateCompanies,
    ReadCompanies,
    WriteCompanies,
    WriteTeams,
    check_team_scope,
)
from hrms.services.company.models import Company, CompanySetting, Department, Team, TeamMembership
from hrms.services.company.schemas import (
    SETTING_KEY,
    CompanyCreate,
    DepartmentCreate,
    DepartmentUpdate,
    MemberPut,
    SettingPut,
    TeamCreate,
    TeamUpdate,
)
from isles import (
    Context,
    FieldError,
    Idempotent,
    Listing,
    NotFound,
    Page,
    ServiceContext,
    TenantData,
    UnitOfWork,
    check_tenant,
    invalid,
)

router = APIRouter()
SettingKey = Annotated[str, Path(pattern=SETTING_KEY, description="lower case, digits, _ . -; at most 100")]


def view(c: Company) -> CompanyView:
    return CompanyView.model_validate(c, from_attributes=True)


def department_view(d: Department) -> DepartmentView:
    return DepartmentView.model_validate(d, from_attributes=True)


def team_view(t: Team, members: int) -> TeamView:
    return TeamView(
        id=t.id,
        company_id=t.company_id,
        department_id=t.department_id,
        name=t.name,
        description=t.description,
        lead_id=t.lead_id,
        members=members,
        version=t.version,
        created_at=t.created_at,
        updated_at=t.updated_at,
    )


def setting_view(s: CompanySetting) -> SettingView:
    return SettingView(key=s.setting_key, value=s.setting_value, updated_at=s.updated_at)


def member_view(m: TeamMembership) -> MemberView:
    return MemberView(team_id=m.team_id, employee_id=m.employee_id, role=m.role, created_at=m.created_at)


def employee_check(rt: ServiceContext) -> service.EmployeeCheck:
    """References to employees are checked with the employee service (API-first,
    seed 000): the employee exists in the company and is active."""

    async def check(employee_id: uuid.UUID, company_id: uuid.UUID, field: str) -> None:
        try:
            employee = await EmployeeClient(rt.client("employee", tenant=str(company_id))).get(employee_id)
        except NotFound:
            employee = None
        if employee is None or employee.company_id != company_id:
            raise invalid([FieldError(field, f"employee {employee_id} does not exist", "not_found")])
        if not employee.is_active:
            raise invalid([FieldError(field, f"employee {employee_id} is not active", "inactive")])

    return check


# -- companies ---------------------------------------------------------------------


@router.post("/companies", status_code=status.HTTP_201_CREATED, response_model=CompanyView, tags=["companies"])
async def create_company(
    body: CompanyCreate, rt: Context, idem: Idempotent, request: Request, caller: CreateCompanies
) -> Response:
    """Create a company (a tenant; the operator's). Publishes CompanyCreated. Honours
    ``Idempotency-Key``."""

    async def work(uow: UnitOfWork) -> CompanyView:
        return view(await service.create_company(uow=uow, data=body))

    return await idem.run(
        TenantData(request, caller).uow,  # the operator's: across companies
        work,
        status_code=201,
        headers=lambda c: {"Location": f"{request.url.path}/{c.id}"},
    )


CompanyList = Annotated[Listing, Depends(service.COMPANIES.dependency)]


@router.get("/companies", response_model=Page[CompanyView], tags=["companies"])
async def list_companies(request: Request, caller: ReadCompanies, listing: CompanyList) -> Page[CompanyView]:
    """The caller's company (every company for the operator). ``q`` finds names,
    descriptions, industries and websites; ``sort`` orders (e.g. ``-headcount``);
    ``cursor`` pages."""
    async with TenantData(request, caller).read() as session:
        rows, total, cursor = await listing.fetch(session, select(Company))
    return listing.page([view(c) for c in rows], total, cursor)


@router.get("/companies/{company_id}", response_model=CompanyView, tags=["companies"])
async def get_company(company_id: uuid.UUID, request: Request, caller: ReadCompanies) -> CompanyView:
    """A company, with its headcount (its active employees, kept from the employee
    service's events)."""
    async with TenantData(request, caller).read() as session:
        return view(await service.get_company(session=session, company_id=company_id))


# -- settings ----------------------------------------------------------------------


@router.get("/companies/{company_id}/settings", response_model=list[SettingView], tags=["settings"])
async def list_settings(company_id: uuid.UUID, request: Request, caller: ReadCompanies) -> list[SettingView]:
    async with TenantData(request, caller).read() as session:
        return [setting_view(s) for s in await service.list_settings(session=session, company_id=company_id)]


@router.put("/companies/{company_id}/settings/{key}", response_model=SettingView, tags=["settings"])
async def put_setting(
    company_id: uuid.UUID, key: SettingKey, body: SettingPut, request: Request, caller: WriteCompanies
) -> SettingView:
    """Set one setting (created if new)."""
    async with TenantData(request, caller).uow() as uow:
        return setting_view(await service.put_setting(uow=uow, company_id=company_id, key=key, value=body.value))


@router.delete("/companies/{company_id}/settings/{key}", status_code=204, tags=["settings"])
async def delete_setting(company_id: uuid.UUID, key: SettingKey, request: Request, caller: WriteCompanies) -> Response:
    async with TenantData(request, caller).uow() as uow:
        await service.delete_setting(uow=uow, company_id=company_id, key=key)
    return Response(status_code=204)


# -- departments -------------------------------------------------------------------


@router.post("/departments", status_code=201, response_model=DepartmentView, tags=["departments"])
async def create_department(
    body: DepartmentCreate, rt: Context, request: Request, caller: WriteCompanies, idem: Idempotent
) -> Response:
    """Create a department; ``manager_id`` must be an active employee of the company
    (asked of the employee service). Publishes DepartmentCreated."""
    company_id = check_tenant(caller, body.company_id)

    async def work(uow: UnitOfWork) -> DepartmentView:
        d = await service.create_department(uow=uow, company_id=company_id, data=body, check=employee_check(rt))
        return department_view(d)

    return await idem.run(
        TenantData(request, caller).uow,
        work,
        status_code=201,
        headers=lambda d: {"Location": f"{request.url.path}/{d.id}"},
    )


DepartmentList = Annotated[Listing, Depends(service.DEPARTMENTS.dependency)]


@router.get("/departments", response_model=Page[DepartmentView], tags=["departments"])
async def list_departments(
    request: Request,
    caller: ReadCompanies,
    listing: DepartmentList,
    include_deleted: Annotated[bool, Query(description="Deleted departments too (with their deleted_at).")] = False,
) -> Page[DepartmentView]:
    """The company's departments (not the deleted ones unless ``include_deleted``).
    ``q`` finds names and descriptions; ``sort`` orders (e.g. ``-created_at``);
    ``cursor`` pages."""
    async with TenantData(request, caller).read() as session:
        rows, total, cursor = await listing.fetch(session, service.departments_where(include_deleted=include_deleted))
    return listing.page([department_view(d) for d in rows], total, cursor)


@router.get("/departments/{department_id}", response_model=DepartmentView, tags=["departments"])
async def get_department(department_id: uuid.UUID, request: Request, caller: ReadCompanies) -> DepartmentView:
    async with TenantData(request, caller).read() as session:
        return department_view(await service.get_department(session=session, department_id=department_id))


@router.patch("/departments/{department_id}", response_model=DepartmentView, tags=["departments"])
async def update_department(
    department_id: uuid.UUID, body: DepartmentUpdate, rt: Context, request: Request, caller: WriteCompanies
) -> DepartmentView:
    """Change a department. Publishes DepartmentUpdated naming the changed fields."""
    async with TenantData(request, caller).uow() as uow:
        d = await service.update_department(uow=uow, department_id=department_id, data=body, check=employee_check(rt))
        return department_view(d)


@router.delete("/departments/{department_id}", status_code=204, tags=["departments"])
async def delete_department(department_id: uuid.UUID, request: Request, caller: WriteCompanies) -> Response:
    """Delete a department: soft — it stays readable by its id with ``deleted_at``
    (other services hold its id), lists leave it out, its name is free again. Its
    teams stay, in none; the employee service leaves its employees in none (on
    DepartmentDeleted). Deleting it again changes nothing."""
    async with TenantData(request, caller).uow() as uow:
        await service.delete_department(uow=uow, department_id=department_id)
    return Response(status_code=204)


# -- teams -------------------------------------------------------------------------


@router.post("/teams", status_code=201, response_model=TeamView, tags=["teams"])
async def create_team(
    body: TeamCreate, rt: Context, request: Request, caller: WriteCompanies, idem: Idempotent
) -> Response:
    """Create a team (in a department of the company, optionally, with a lead).
    Publishes TeamCreated."""
    company_id = check_tenant(caller, body.company_id)

    async def work(uow: UnitOfWork) -> TeamView:
        return team_view(
            await service.create_team(uow=uow, company_id=company_id, data=body, check=employee_check(rt)), 0
        )

    return await idem.run(
        TenantData(request, caller).uow,
        work,
        status_code=201,
        headers=lambda t: {"Location": f"{request.url.path}/{t.id}"},
    )


TeamList = Annotated[Listing, Depends(service.TEAMS.dependency)]


@router.get("/teams", response_model=Page[TeamView], tags=["teams"])
async def list_teams(request: Request, caller: ReadCompanies, listing: TeamList) -> Page[TeamView]:
    """The company's teams, with their number of members. ``q`` finds names and
    descriptions; ``sort`` orders (e.g. ``-created_at``); ``cursor`` pages."""
    async with TenantData(request, caller).read() as session:
        rows, total, cursor = await listing.fetch(session, select(Team))
        counts = await service.member_counts(session, [t.id for t in rows])
    return listing.page([team_view(t, counts.get(t.id, 0)) for t in rows], total, cursor)


@router.get("/teams/{team_id}", response_model=TeamView, tags=["teams"])
async def get_team(team_id: uuid.UUID, request: Request, caller: ReadCompanies) -> TeamView:
    async with TenantData(request, caller).read() as session:
        t = await service.get_team(session=session, team_id=team_id)
        return team_view(t, (await service.member_counts(session, [t.id])).get(t.id, 0))


@router.patch("/teams/{team_id}", response_model=TeamView, tags=["teams"])
async def update_team(
    team_id: uuid.UUID, body: TeamUpdate, rt: Context, request: Request, caller: WriteCompanies
) -> TeamView:
    async with TenantData(request, caller).uow() as uow:
        t = await service.update_team(uow=uow, team_id=team_id, data=body, check=employee_check(rt))
        return team_view(t, (await service.member_counts(uow.session, [t.id])).get(t.id, 0))


@router.delete("/teams/{team_id}", status_code=204, tags=["teams"])
async def delete_team(team_id: uuid.UUID, request: Request, caller: WriteCompanies) -> Response:
    async with TenantData(request, caller).uow() as uow:
        await service.delete_team(uow=uow, team_id=team_id)
    return Response(status_code=204)


@router.get("/teams/{team_id}/members", response_model=list[MemberView], tags=["teams"])
async def list_members(team_id: uuid.UUID, request: Request, caller: ReadCompanies) -> list[MemberView]:
    async with TenantData(request, caller).read() as session:
        return [member_view(m) for m in await service.list_members(session=session, team_id=team_id)]


@router.put("/teams/{team_id}/members/{employee_id}", response_model=MemberView, tags=["teams"])
async def put_member(
    team_id: uuid.UUID,
    employee_id: uuid.UUID,
    body: MemberPut,
    rt: Context,
    request: Request,
    response: Response,
    caller: WriteTeams,
) -> MemberView:
    """Put an employee in a team (201) or change their role in it (200). An admin may
    for any team; a manager for the teams they lead. Publishes TeamMemberAdded."""
    async with TenantData(request, caller).uow() as uow:
        team = await service.get_team(session=uow.session, team_id=team_id)
        await check_team_scope(uow.session, caller, team)
        m, added = await service.put_member(
            uow=uow, team=team, employee_id=employee_id, role=body.role, check=employee_check(rt)
        )
    response.status_code = 201 if added else 200
    return member_view(m)


@router.delete("/teams/{team_id}/members/{employee_id}", status_code=204, tags=["teams"])
async def remove_member(team_id: uuid.UUID, employee_id: uuid.UUID, request: Request, caller: WriteTeams) -> Response:
    """Take an employee out of a team. Publishes TeamMemberRemoved."""
    async with TenantData(request, caller).uow() as uow:
        team = await service.get_team(session=uow.session, team_id=team_id)
        await check_team_scope(uow.session, caller, team)
        await service.remove_member(uow=uow, team=team, employee_id=employee_id)
    return Response(status_code=204)
