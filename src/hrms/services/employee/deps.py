"""Who may call what in the employee service: every rule in one place.

Permissions come from the caller's token (see ``hrms.contracts.permissions``); the
tenant-scoped session shows a caller only its company's employees; and a caller who
is only an employee sees only their own record.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from hrms.contracts.permissions import ADMIN, MANAGER
from hrms.services.employee.models import Employee
from isles.access import require
from isles.problems import not_found
from isles.security import Principal

ReadEmployees = Annotated[Principal, Depends(require("employees:read"))]
WriteEmployees = Annotated[Principal, Depends(require("employees:write"))]


def sees_only_self(caller: Principal) -> bool:
    return caller.kind == "user" and not caller.has_role(ADMIN, MANAGER)


def check_visible(caller: Principal, employee: Employee) -> Employee:
    if sees_only_self(caller) and employee.user_id != caller.user_id:
        raise not_found("employee", employee.id)
    return employee


def only_user(caller: Principal) -> uuid.UUID | None:
    """The user whose record alone ``caller`` may see, or None for no such limit."""
    return caller.user_id if sees_only_self(caller) else None
