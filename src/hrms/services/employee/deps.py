"""Who may call what in the employee service: every rule in one place.

Permissions come from the caller's token (see ``hrms.contracts.permissions``); the
tenant-scoped session shows a caller only its company's employees. Within it:

* an admin (and the operator, and services) sees and changes every employee;
* a manager sees and changes themself, their department's employees and everyone who
  reports to them (at any level) — their team, as the employee service knows it;
* an employee sees only themself, and may change only their own profile.

Anything out of a caller's scope answers 404, like another company's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.contracts.permissions import ADMIN, MANAGER
from hrms.services.employee import service
from hrms.services.employee.models import Employee
from isles import Principal, Problem, not_found, require

ReadEmployees = Annotated[Principal, Depends(require("employees:read"))]
WriteEmployees = Annotated[Principal, Depends(require("employees:write"))]
WriteProfiles = Annotated[Principal, Depends(require("profiles:write"))]


@dataclass(frozen=True)
class Scope:
    """The employees a caller may see: every one (``where`` None) or those matching."""

    where: ColumnElement[bool] | None
    me: uuid.UUID | None = None  # the caller's own employee record, if any


async def scope_of(session: AsyncSession, caller: Principal) -> Scope:
    if caller.kind != "user" or caller.has_role(ADMIN):
        return Scope(None)
    me = await session.scalar(select(Employee).where(Employee.user_id == caller.user_id, Employee.pending.is_(False)))
    if me is None:
        return Scope(false())
    if not caller.has_role(MANAGER):
        return Scope(Employee.id == me.id, me.id)
    reports = await service.reports_of(session, me.id, all_levels=True)
    conditions = [Employee.id == me.id, Employee.id.in_(reports)]
    if me.department_id is not None:
        conditions.append(Employee.department_id == me.department_id)
    return Scope(or_(*conditions), me.id)


async def check_in_scope(session: AsyncSession, caller: Principal, employee: Employee) -> Employee:
    """``employee`` if ``caller`` may see it, else 404 (as if it were not there)."""
    await check_id_in_scope(session, caller, employee.id)
    return employee


async def check_id_in_scope(session: AsyncSession, caller: Principal, employee_id: uuid.UUID) -> None:
    """404 unless the employee ``employee_id`` is one ``caller`` may see. For a caller
    who sees the whole company, no query: whether the employee exists is the use
    case's to say (404 too)."""
    scope = await scope_of(session, caller)
    if scope.where is not None:
        hit = await session.scalar(select(Employee.id).where(Employee.id == employee_id, scope.where))
        if hit is None:
            raise not_found("employee", employee_id)


async def check_may_place(
    session: AsyncSession, caller: Principal, *, department_id: uuid.UUID | None, manager_id: uuid.UUID | None
) -> None:
    """A manager may put an employee only in their own department or under
    themself (or one of their reports); 403 otherwise."""
    if caller.kind != "user" or caller.has_role(ADMIN):
        return
    scope = await scope_of(session, caller)
    me = await session.get(Employee, scope.me) if scope.me else None
    if me is not None:
        if department_id is not None and department_id == me.department_id:
            return
        if manager_id is not None and (
            manager_id == me.id or manager_id in await service.reports_of(session, me.id, all_levels=True)
        ):
            return
    raise Problem(
        403,
        "a manager places employees in their own department or under themself",
        slug="forbidden",
        extra={"permission": "employees:write"},
    )


def check_may_write_profile(caller: Principal, employee: Employee) -> None:
    """An employee writes their own profile; admins and managers (``employees:write``)
    those in their scope (the caller has seen ``employee`` through :func:`check_in_scope`)."""
    if caller.user_id == employee.user_id or caller.can("employees:write"):
        return
    raise Problem(
        403, "you may change only your own profile", slug="forbidden", extra={"permission": "employees:write"}
    )
