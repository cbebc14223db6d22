"""Who may call what in the leave service: every rule in one place.

The tenant-scoped session shows a caller only its company's leave data; each route
needs its permission (``leave:read``, ``leave:request``, ``leave:approve``,
``leave:manage``). Within the company:

* an admin (and the operator, and services) sees every employee's requests, balances
  and ledger, requests leave for anyone, decides every request at every level and
  cancels approved leave;
* a manager sees their own and their direct reports' (``manager_id`` in the replica)
  and decides their reports' requests at the first level;
* an employee sees and requests only their own, and withdraws their own while pending.

Anything out of a caller's sight answers 404, like another company's; a request the
caller sees but may not decide (their own, or one awaiting HR) is a 403.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.contracts.permissions import ADMIN, MANAGER
from hrms.services.leave.models import LeaveRequestUser
from isles import FieldError, Principal, invalid, not_found, require

ReadLeave = Annotated[Principal, Depends(require("leave:read"))]
RequestLeave = Annotated[Principal, Depends(require("leave:request"))]
ApproveLeave = Annotated[Principal, Depends(require("leave:approve"))]
ManageLeave = Annotated[Principal, Depends(require("leave:manage"))]


def is_admin(caller: Principal) -> bool:
    """An admin of the company, the operator or a service: the whole company."""
    return caller.kind != "user" or caller.has_role(ADMIN)


@dataclass(frozen=True)
class Scope:
    """Whose leave a caller sees: everyone's (``everyone``) or their own and, for a
    manager, their direct reports'. ``me``: the caller's own employee record."""

    everyone: bool
    me: LeaveRequestUser | None
    reports: frozenset[uuid.UUID] = frozenset()

    @property
    def me_id(self) -> uuid.UUID | None:
        return self.me.id if self.me is not None else None

    def covers(self, employee_id: uuid.UUID) -> bool:
        return self.everyone or employee_id == self.me_id or employee_id in self.reports

    def where(self, column: Any) -> ColumnElement[bool] | None:
        """A condition on an employee id column (None: no restriction)."""
        if self.everyone:
            return None
        if self.me is None:
            return false()
        return or_(column == self.me.id, column.in_(self.reports)) if self.reports else column == self.me.id


async def me_of(session: AsyncSession, caller: Principal) -> LeaveRequestUser | None:
    """The caller's own employee record, as this service knows it."""
    if caller.kind != "user" or caller.tenant is None:
        return None
    row: LeaveRequestUser | None = await session.scalar(
        select(LeaveRequestUser).where(
            LeaveRequestUser.user_id == caller.user_id, LeaveRequestUser.company_id == caller.tenant
        )
    )
    return row


async def scope_of(session: AsyncSession, caller: Principal) -> Scope:
    me = await me_of(session, caller)
    if is_admin(caller):
        return Scope(True, me)
    if me is None or not caller.has_role(MANAGER):
        return Scope(False, me)
    reports = await session.scalars(
        select(LeaveRequestUser.id).where(
            LeaveRequestUser.manager_id == me.id, LeaveRequestUser.company_id == me.company_id
        )
    )
    return Scope(False, me, frozenset(reports.all()))


def check_sees(scope: Scope, employee_id: uuid.UUID, what: str = "employee") -> None:
    """404 unless the caller may see ``employee_id``'s leave."""
    if not scope.covers(employee_id):
        raise not_found(what, employee_id)


async def employee_for(
    session: AsyncSession, caller: Principal, scope: Scope, employee_id: uuid.UUID | None, company_id: uuid.UUID
) -> LeaveRequestUser:
    """Whose leave a write is about: the named employee (an admin: anyone in the
    company; others: only themself), else the caller. Unknown: a 422 naming
    ``employee_id``."""
    wanted = employee_id if employee_id is not None else scope.me_id
    if wanted is None:
        raise invalid([FieldError("employee_id", "required: the caller has no employee record here", "missing")])
    person = await session.get(LeaveRequestUser, wanted)
    allowed = is_admin(caller) or wanted == scope.me_id
    if person is None or person.company_id != company_id or not allowed:
        raise invalid([FieldError("employee_id", f"employee {wanted} does not exist", "not_found")])
    return person
