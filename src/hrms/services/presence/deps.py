"""Who may call what in the presence service: every rule in one place.

The tenant-scoped session shows a caller only its company's rows. Within that:

* an **admin** (and the operator) reads everything of the company;
* a **manager** reads their own check-ins and days and their direct reports' (the
  employees whose ``manager_id`` is theirs, as kept from employee events);
* an **employee** reads only their own.

Anyone else's records answer 404, like records that do not exist. Checking in is
always for oneself: the caller's employee record, found by their user id.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends
from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from hrms.contracts.permissions import ADMIN, MANAGER
from hrms.services.presence.models import CheckinUserInfo
from isles import Principal, Problem, not_found, require

ReadPresence = Annotated[Principal, Depends(require("presence:read"))]
CheckIn = Annotated[Principal, Depends(require("presence:checkin"))]
ManagePresence = Annotated[Principal, Depends(require("presence:manage"))]


def sees_all(caller: Principal) -> bool:
    return caller.kind != "user" or caller.has_role(ADMIN)


async def me(session: AsyncSession, caller: Principal) -> CheckinUserInfo | None:
    """The caller's own employee record here (None: the caller is no employee of theirs)."""
    if caller.user_id is None:
        return None
    return await session.scalar(
        select(CheckinUserInfo).where(
            CheckinUserInfo.user_id == caller.user_id, CheckinUserInfo.company_id == caller.tenant
        )
    )


async def myself(session: AsyncSession, caller: Principal) -> CheckinUserInfo:
    """The caller as an active employee who may check in, else 403."""
    info = await me(session, caller)
    if info is None:
        raise Problem(403, "only an employee of the company checks in (for themself)", slug="not-an-employee")
    if not info.is_active:
        raise Problem(403, "a deactivated employee cannot check in", slug="inactive-employee")
    return info


async def scope(
    session: AsyncSession, caller: Principal, column: InstrumentedAttribute[uuid.UUID]
) -> ColumnElement[bool] | None:
    """The rows whose employee ``column`` the caller may read (None: all the company's)."""
    if sees_all(caller):
        return None
    info = await me(session, caller)
    if info is None:
        return false()
    if caller.has_role(MANAGER):
        reports = select(CheckinUserInfo.id).where(CheckinUserInfo.manager_id == info.id)
        condition: ColumnElement[bool] = or_(column == info.id, column.in_(reports))
        return condition
    own: ColumnElement[bool] = column == info.id
    return own


async def check_employee(session: AsyncSession, caller: Principal, employee_id: uuid.UUID) -> CheckinUserInfo:
    """The employee, if the caller may read their records; else 404."""
    info = await session.get(CheckinUserInfo, employee_id)
    if info is None:
        raise not_found("employee", employee_id)
    condition = await scope(session, caller, CheckinUserInfo.id)
    if condition is not None:
        hit = await session.scalar(select(CheckinUserInfo.id).where(CheckinUserInfo.id == employee_id, condition))
        if hit is None:
            raise not_found("employee", employee_id)
    return info
