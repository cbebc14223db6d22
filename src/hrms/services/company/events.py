"""How the company service turns its rows into the events it publishes."""

from __future__ import annotations

from collections.abc import Sequence

from hrms.contracts.company import (
    CompanyCreated,
    CompanySettingsChanged,
    DepartmentCreated,
    DepartmentDeleted,
    DepartmentUpdated,
    HeadcountChanged,
    TeamCreated,
    TeamDeleted,
    TeamMemberAdded,
    TeamMemberRemoved,
    TeamUpdated,
)
from hrms.services.company.models import Company, Department, Team, TeamMembership

PUBLISHES = (
    CompanyCreated,
    CompanySettingsChanged,
    HeadcountChanged,
    DepartmentCreated,
    DepartmentUpdated,
    DepartmentDeleted,
    TeamCreated,
    TeamUpdated,
    TeamDeleted,
    TeamMemberAdded,
    TeamMemberRemoved,
)


def created(c: Company) -> CompanyCreated:
    return CompanyCreated(id=c.id, name=c.name, is_active=c.is_active)


def settings_changed(c: Company, settings: dict[str, str | None], changes: Sequence[str]) -> CompanySettingsChanged:
    return CompanySettingsChanged(id=c.id, settings=settings, changes=sorted(changes))


def headcount_changed(c: Company, delta: int) -> HeadcountChanged:
    return HeadcountChanged(id=c.id, headcount=c.headcount, delta=delta)


def department_created(d: Department) -> DepartmentCreated:
    return DepartmentCreated(id=d.id, company_id=d.company_id, name=d.name, manager_id=d.manager_id)


def department_updated(d: Department, changes: Sequence[str]) -> DepartmentUpdated:
    return DepartmentUpdated(
        id=d.id, company_id=d.company_id, name=d.name, manager_id=d.manager_id, changes=sorted(changes)
    )


def department_deleted(d: Department) -> DepartmentDeleted:
    return DepartmentDeleted(id=d.id, company_id=d.company_id)


def team_created(t: Team) -> TeamCreated:
    return TeamCreated(id=t.id, company_id=t.company_id, name=t.name, department_id=t.department_id, lead_id=t.lead_id)


def team_updated(t: Team, changes: Sequence[str]) -> TeamUpdated:
    return TeamUpdated(
        id=t.id,
        company_id=t.company_id,
        name=t.name,
        department_id=t.department_id,
        lead_id=t.lead_id,
        changes=sorted(changes),
    )


def team_deleted(t: Team) -> TeamDeleted:
    return TeamDeleted(id=t.id, company_id=t.company_id)


def member_added(m: TeamMembership) -> TeamMemberAdded:
    return TeamMemberAdded(team_id=m.team_id, employee_id=m.employee_id, company_id=m.company_id, role=m.role)


def member_removed(m: TeamMembership) -> TeamMemberRemoved:
    return TeamMemberRemoved(team_id=m.team_id, employee_id=m.employee_id, company_id=m.company_id)
