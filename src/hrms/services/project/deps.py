"""Who may call what in the project service: every rule in one place.

The tenant-scoped session shows a caller only its company's projects and
assignments; writes need ``projects:write`` / ``assignments:write``. Within that:

* a caller who is only an employee reads only their own assignments (their employee
  record, by the user id this service keeps from employee events);
* a manager assigns, and removes from projects, only the employees they may see in
  the employee service: this service asks it with the manager's own token, so the
  employee service's scope rules decide (an admin, the operator: everyone).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.contracts.employee import EmployeeClient
from hrms.contracts.permissions import ADMIN, MANAGER
from hrms.services.project.models import Assignment, EmployeeCopy
from isles import FieldError, NotFound, Principal, context_of, invalid, not_found, require

ReadProjects = Annotated[Principal, Depends(require("projects:read"))]
WriteProjects = Annotated[Principal, Depends(require("projects:write"))]
ReadAssignments = Annotated[Principal, Depends(require("assignments:read"))]
WriteAssignments = Annotated[Principal, Depends(require("assignments:write"))]


def own_assignments(caller: Principal) -> ColumnElement[bool] | None:
    """The assignments ``caller`` may read, as a condition (None: all the company's)."""
    if caller.kind != "user" or caller.has_role(ADMIN, MANAGER):
        return None
    mine = select(EmployeeCopy.id).where(EmployeeCopy.user_id == caller.user_id)
    return Assignment.employee_id.in_(mine)


async def check_visible(session: AsyncSession, caller: Principal, assignment: Assignment) -> Assignment:
    """``assignment`` if ``caller`` may read it, else 404 (as if it were not there)."""
    scope = own_assignments(caller)
    if scope is not None:
        hit = await session.scalar(select(Assignment.id).where(Assignment.id == assignment.id, scope))
        if hit is None:
            raise not_found("assignment", assignment.id)
    return assignment


async def check_reach(request: Request, caller: Principal, employee_id: uuid.UUID) -> None:
    """A manager may assign only employees the employee service shows them; anyone
    else out of reach is, to them, an employee that does not exist (422)."""
    if caller.kind != "user" or caller.has_role(ADMIN):
        return
    token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    try:
        await EmployeeClient(context_of(request).client("employee", token=token)).get(employee_id)
    except NotFound:
        raise invalid([FieldError("employee_id", f"employee {employee_id} does not exist", "not_found")]) from None
