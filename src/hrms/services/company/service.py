"""Company use cases: companies, their settings, departments, teams and members, and
the headcount kept from the employee service's events."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.contracts.company import AGGREGATE, ALLOWED_MAX_ALLOCATION, MAX_ALLOCATION
from hrms.services.company import events
from hrms.services.company.models import Company, CompanySetting, Department, EmployeeCopy, Team, TeamMembership
from hrms.services.company.schemas import CompanyCreate, DepartmentCreate, DepartmentUpdate, TeamCreate, TeamUpdate
from isles import FieldError, ListSpec, Problem, UniqueViolation, UnitOfWork, conflict, invalid, not_found, utcnow

DEPARTMENT, TEAM = "department", "team"
#: Checks that an employee (by id) is an active employee of the company; raises a 422
#: naming the field otherwise. The API passes one that asks the employee service.
EmployeeCheck = Callable[[uuid.UUID, uuid.UUID, str], Awaitable[None]]


async def _commit(uow: UnitOfWork, field: str = "name") -> None:
    try:
        await uow.commit()
    except UniqueViolation as exc:  # a concurrent writer took the name first
        raise conflict(field, f"{field} is already taken") from exc


async def create_company(*, uow: UnitOfWork, data: CompanyCreate) -> Company:
    company = Company(id=uuid.uuid4(), headcount=0, is_active=True, version=0, **data.model_dump())
    uow.session.add(company)
    uow.emit(events.created(company), aggregate=company, aggregate_type=AGGREGATE, tenant_id=str(company.id))
    await uow.commit()
    return company


async def get_company(*, session: AsyncSession, company_id: uuid.UUID) -> Company:
    company = await session.get(Company, company_id)
    if company is None:
        raise not_found("company", company_id)
    return company


#: How the company list sorts and searches (sort=, q=, cursor=).
COMPANIES = ListSpec(
    sort={"name": Company.name, "created_at": Company.created_at, "headcount": Company.headcount},
    default=("name",),
    key=Company.id,
    search=(Company.name, Company.description, Company.industry, Company.website),
)


# -- headcount, from the employee service's events ---------------------------------


async def recount(*, uow: UnitOfWork, company_id: uuid.UUID) -> None:
    """Set the company's headcount to its active employees as this service knows them;
    publishes HeadcountChanged if it moved. Idempotent: a repeated or late event
    recounts to the same number."""
    session = uow.session
    company = await session.get(Company, company_id, with_for_update=True)
    if company is None:
        return  # not ours (or gone): nothing to count
    active = select(func.count()).where(EmployeeCopy.company_id == company_id, EmployeeCopy.is_active.is_(True))
    headcount = int(await session.scalar(active) or 0)
    if headcount != company.headcount:
        delta, company.headcount = headcount - company.headcount, headcount
        uow.emit(
            events.headcount_changed(company, delta),
            aggregate=company,
            aggregate_type=AGGREGATE,
            tenant_id=str(company.id),
        )


async def release_employee(*, uow: UnitOfWork, employee_id: uuid.UUID) -> None:
    """An employee left: out of every team, no longer anyone's manager or lead."""
    session = uow.session
    for m in (await session.scalars(select(TeamMembership).where(TeamMembership.employee_id == employee_id))).all():
        team = await session.get(Team, m.team_id)
        await session.delete(m)
        if team is not None:
            uow.emit(events.member_removed(m), aggregate=team, aggregate_type=TEAM, tenant_id=str(team.company_id))
    for d in (await session.scalars(select(Department).where(Department.manager_id == employee_id))).all():
        d.manager_id = None
        uow.emit(
            events.department_updated(d, ["manager_id"]),
            aggregate=d,
            aggregate_type=DEPARTMENT,
            tenant_id=str(d.company_id),
        )
    for t in (await session.scalars(select(Team).where(Team.lead_id == employee_id))).all():
        t.lead_id = None
        uow.emit(events.team_updated(t, ["lead_id"]), aggregate=t, aggregate_type=TEAM, tenant_id=str(t.company_id))


# -- settings ----------------------------------------------------------------------


async def list_settings(*, session: AsyncSession, company_id: uuid.UUID) -> list[CompanySetting]:
    await get_company(session=session, company_id=company_id)
    q = select(CompanySetting).where(CompanySetting.company_id == company_id).order_by(CompanySetting.setting_key)
    return list(await session.scalars(q))


def _check_setting(key: str, value: str | None) -> None:
    """Settings other services act on must hold a value they can use."""
    if key == MAX_ALLOCATION:
        allowed = ALLOWED_MAX_ALLOCATION
        if value is None or not value.isdigit() or int(value) not in allowed:
            raise invalid(
                [FieldError("value", f"{key} is a whole percent from {allowed.start} to {allowed.stop - 1}", "invalid")]
            )


async def _announce_settings(uow: UnitOfWork, company_id: uuid.UUID, changed: str) -> None:
    """CompanySettingsChanged, with every setting of the company as it is now."""
    session = uow.session
    await session.flush()
    company = await session.get(Company, company_id, with_for_update=True)
    assert company is not None
    rows = await session.scalars(select(CompanySetting).where(CompanySetting.company_id == company_id))
    now = {s.setting_key: s.setting_value for s in rows}
    uow.emit(
        events.settings_changed(company, now, [changed]),
        aggregate=company,
        aggregate_type=AGGREGATE,
        tenant_id=str(company.id),
    )


async def put_setting(*, uow: UnitOfWork, company_id: uuid.UUID, key: str, value: str | None) -> CompanySetting:
    """Set one setting, announced (CompanySettingsChanged) when its value changes."""
    session = uow.session
    await get_company(session=session, company_id=company_id)
    _check_setting(key, value)
    setting = await session.get(CompanySetting, (company_id, key))
    if setting is None:
        setting = CompanySetting(company_id=company_id, setting_key=key, setting_value=value)
        session.add(setting)
    elif setting.setting_value == value:
        return setting
    else:
        setting.setting_value = value
    await _announce_settings(uow, company_id, key)
    await _commit(uow, "key")
    return setting


async def delete_setting(*, uow: UnitOfWork, company_id: uuid.UUID, key: str) -> None:
    session = uow.session
    setting = await session.get(CompanySetting, (company_id, key))
    if setting is None:
        raise not_found("setting", key)
    await session.delete(setting)
    await _announce_settings(uow, company_id, key)
    await uow.commit()


# -- departments -------------------------------------------------------------------


async def _unique_name(session: AsyncSession, model: Any, company_id: uuid.UUID, name: str, exclude: Any) -> None:
    q = select(model.id).where(model.company_id == company_id, model.name == name)
    if model is Department:  # a deleted department's name is free again
        q = q.where(Department.deleted_at.is_(None))
    if exclude is not None:
        q = q.where(model.id != exclude)
    if await session.scalar(q):
        raise conflict("name", f"{name!r} is already taken in this company")


async def _named_company(session: AsyncSession, company_id: uuid.UUID) -> Company:
    """The company a request body names: an unknown one is a 422 on ``company_id`` (the
    request is wrong), not a 404 (the address is right)."""
    company = await session.get(Company, company_id)
    if company is None:
        raise invalid([FieldError("company_id", f"company {company_id} does not exist", "not_found")])
    return company


async def create_department(
    *, uow: UnitOfWork, company_id: uuid.UUID, data: DepartmentCreate, check: EmployeeCheck
) -> Department:
    session = uow.session
    await _named_company(session, company_id)
    await _unique_name(session, Department, company_id, data.name, None)
    if data.manager_id is not None:
        await check(data.manager_id, company_id, "manager_id")
    d = Department(
        id=uuid.uuid4(),
        company_id=company_id,
        name=data.name,
        description=data.description,
        manager_id=data.manager_id,
        version=0,
    )
    session.add(d)
    uow.emit(events.department_created(d), aggregate=d, aggregate_type=DEPARTMENT, tenant_id=str(company_id))
    await _commit(uow)
    return d


async def get_department(*, session: AsyncSession, department_id: uuid.UUID) -> Department:
    """A department, deleted or not (a deleted one says when in ``deleted_at``)."""
    d = await session.get(Department, department_id)
    if d is None:
        raise not_found("department", department_id)
    return d


def departments_where(*, include_deleted: bool = False) -> Select[Any]:
    """The company's departments; the deleted ones only if asked."""
    q = select(Department)
    return q if include_deleted else q.where(Department.deleted_at.is_(None))


def _live(d: Department) -> Department:
    if d.deleted_at is not None:
        raise Problem(409, f"department {d.id} is deleted and cannot be changed", slug="department-deleted")
    return d


#: How the department list sorts and searches (sort=, q=, cursor=).
DEPARTMENTS = ListSpec(
    sort={"name": Department.name, "created_at": Department.created_at},
    default=("name",),
    key=Department.id,
    search=(Department.name, Department.description),
)


async def _checked_update(
    session: AsyncSession, row: Department | Team, values: dict[str, Any], *, person: str, check: EmployeeCheck
) -> dict[str, Any]:
    """A PATCH's values for a department or team, checked: a null name is ignored, a
    new name must be free in the company, a new ``person`` (manager, lead) must be one
    of its active employees."""
    if values.get("name") is None:
        values.pop("name", None)
    if "name" in values:
        await _unique_name(session, type(row), row.company_id, values["name"], row.id)
    if values.get(person) is not None and values[person] != getattr(row, person):
        await check(values[person], row.company_id, person)
    return values


def _changes(row: Any, values: dict[str, Any]) -> list[str]:
    changed = [k for k, v in values.items() if getattr(row, k) != v]
    for k in changed:
        setattr(row, k, values[k])
    return changed


async def update_department(
    *, uow: UnitOfWork, department_id: uuid.UUID, data: DepartmentUpdate, check: EmployeeCheck
) -> Department:
    session = uow.session
    d = _live(await get_department(session=session, department_id=department_id))
    values = await _checked_update(session, d, data.model_dump(exclude_unset=True), person="manager_id", check=check)
    changes = _changes(d, values)
    if changes:
        uow.emit(
            events.department_updated(d, changes), aggregate=d, aggregate_type=DEPARTMENT, tenant_id=str(d.company_id)
        )
    await _commit(uow)
    return d


async def delete_department(*, uow: UnitOfWork, department_id: uuid.UUID) -> None:
    """Delete a department (soft: ``deleted_at`` is set, the row stays for the ids
    others hold); its teams stay, in no department. Publishes DepartmentDeleted
    (employees in it are left in none by the employee service). Deleting a deleted
    department changes nothing."""
    session = uow.session
    d = await get_department(session=session, department_id=department_id)
    if d.deleted_at is not None:
        return
    for t in (await session.scalars(select(Team).where(Team.department_id == d.id))).all():
        t.department_id = None
        uow.emit(
            events.team_updated(t, ["department_id"]), aggregate=t, aggregate_type=TEAM, tenant_id=str(t.company_id)
        )
    d.deleted_at = utcnow()
    uow.emit(events.department_deleted(d), aggregate=d, aggregate_type=DEPARTMENT, tenant_id=str(d.company_id))
    await uow.commit()


# -- teams and members -------------------------------------------------------------


async def create_team(*, uow: UnitOfWork, company_id: uuid.UUID, data: TeamCreate, check: EmployeeCheck) -> Team:
    session = uow.session
    await _named_company(session, company_id)
    await _unique_name(session, Team, company_id, data.name, None)
    if data.department_id is not None:
        await _own_department(session, data.department_id)
    if data.lead_id is not None:
        await check(data.lead_id, company_id, "lead_id")
    t = Team(
        id=uuid.uuid4(),
        company_id=company_id,
        department_id=data.department_id,
        name=data.name,
        description=data.description,
        lead_id=data.lead_id,
        version=0,
    )
    session.add(t)
    uow.emit(events.team_created(t), aggregate=t, aggregate_type=TEAM, tenant_id=str(company_id))
    await _commit(uow)
    return t


async def _own_department(session: AsyncSession, department_id: uuid.UUID) -> None:
    d = await session.get(Department, department_id)
    if d is None or d.deleted_at is not None:
        raise invalid([FieldError("department_id", f"department {department_id} does not exist", "not_found")])


async def get_team(*, session: AsyncSession, team_id: uuid.UUID) -> Team:
    t = await session.get(Team, team_id)
    if t is None:
        raise not_found("team", team_id)
    return t


async def member_counts(session: AsyncSession, team_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    if not team_ids:
        return {}
    q = (
        select(TeamMembership.team_id, func.count())
        .where(TeamMembership.team_id.in_(team_ids))
        .group_by(TeamMembership.team_id)
    )
    return {team_id: int(n) for team_id, n in (await session.execute(q)).all()}


#: How the team list sorts and searches (sort=, q=, cursor=).
TEAMS = ListSpec(
    sort={"name": Team.name, "created_at": Team.created_at},
    default=("name",),
    key=Team.id,
    search=(Team.name, Team.description),
)


async def update_team(*, uow: UnitOfWork, team_id: uuid.UUID, data: TeamUpdate, check: EmployeeCheck) -> Team:
    session = uow.session
    t = await get_team(session=session, team_id=team_id)
    values = await _checked_update(session, t, data.model_dump(exclude_unset=True), person="lead_id", check=check)
    if values.get("department_id") is not None:
        await _own_department(session, values["department_id"])
    changes = _changes(t, values)
    if changes:
        uow.emit(events.team_updated(t, changes), aggregate=t, aggregate_type=TEAM, tenant_id=str(t.company_id))
    await _commit(uow)
    return t


async def delete_team(*, uow: UnitOfWork, team_id: uuid.UUID) -> None:
    session = uow.session
    t = await get_team(session=session, team_id=team_id)
    await session.execute(delete(TeamMembership).where(TeamMembership.team_id == t.id))
    uow.emit(events.team_deleted(t), aggregate=t, aggregate_type=TEAM, tenant_id=str(t.company_id))
    await session.delete(t)
    await uow.commit()


async def list_members(*, session: AsyncSession, team_id: uuid.UUID) -> list[TeamMembership]:
    await get_team(session=session, team_id=team_id)
    q = select(TeamMembership).where(TeamMembership.team_id == team_id).order_by(TeamMembership.created_at)
    return list(await session.scalars(q))


async def put_member(
    *, uow: UnitOfWork, team: Team, employee_id: uuid.UUID, role: str, check: EmployeeCheck
) -> tuple[TeamMembership, bool]:
    """Add the employee to the team (or change their role). True if newly added."""
    session = uow.session
    m = await session.get(TeamMembership, (team.id, employee_id))
    if m is not None:
        if m.role != role:
            m.role = role
            uow.emit(events.member_added(m), aggregate=team, aggregate_type=TEAM, tenant_id=str(team.company_id))
        await uow.commit()
        return m, False
    await check(employee_id, team.company_id, "employee_id")
    m = TeamMembership(team_id=team.id, employee_id=employee_id, company_id=team.company_id, role=role)
    session.add(m)
    uow.emit(events.member_added(m), aggregate=team, aggregate_type=TEAM, tenant_id=str(team.company_id))
    await _commit(uow, "employee_id")
    return m, True


async def remove_member(*, uow: UnitOfWork, team: Team, employee_id: uuid.UUID) -> None:
    session = uow.session
    m = await session.get(TeamMembership, (team.id, employee_id))
    if m is None:
        raise not_found("team member", employee_id)
    await session.delete(m)
    uow.emit(events.member_removed(m), aggregate=team, aggregate_type=TEAM, tenant_id=str(team.company_id))
    await uow.commit()


async def teams_led_by(session: AsyncSession, employee_id: uuid.UUID) -> set[uuid.UUID]:
    """Teams ``employee_id`` leads: as lead, as a member with role lead, or as the
    manager of the team's department."""
    led = select(Team.id).where(Team.lead_id == employee_id)
    as_member = select(TeamMembership.team_id).where(
        TeamMembership.employee_id == employee_id, TeamMembership.role == "lead"
    )
    managed = (
        select(Team.id)
        .join(Department, Team.department_id == Department.id)
        .where(Department.manager_id == employee_id, Department.deleted_at.is_(None))
    )
    ids: set[uuid.UUID] = set()
    for q in (led, as_member, managed):
        ids.update(await session.scalars(q))
    return ids


async def employee_of_user(session: AsyncSession, user_id: uuid.UUID) -> uuid.UUID | None:
    q = select(EmployeeCopy.id).where(EmployeeCopy.user_id == user_id, EmployeeCopy.is_active.is_(True))
    return await session.scalar(q)
