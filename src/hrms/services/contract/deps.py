"""Who may call what in the contract service: every rule in one place.

Each route needs ``contracts:read`` or ``contracts:write`` (an admin's). Within the
company an admin (and the operator, and services) reads every contract; a manager
their own and their direct reports' (``manager_id`` in ``contract_employees``); an
employee only their own. A contract out of a caller's sight answers 404, like
another company's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.contracts.permissions import ADMIN, MANAGER
from hrms.services.contract.models import ContractEmployee
from isles import Principal, not_found, require

ReadContracts = Annotated[Principal, Depends(require("contracts:read"))]
WriteContracts = Annotated[Principal, Depends(require("contracts:write"))]


@dataclass(frozen=True)
class Scope:
    """Whose contracts a caller sees: everyone's, or their own and their reports'."""

    everyone: bool
    me: uuid.UUID | None
    reports: frozenset[uuid.UUID] = frozenset()

    def covers(self, employee_id: uuid.UUID) -> bool:
        return self.everyone or employee_id == self.me or employee_id in self.reports

    def where(self, column: Any) -> ColumnElement[bool] | None:
        """A condition on an employee id column (None: no restriction)."""
        if self.everyone:
            return None
        if self.me is None:
            return false()
        return or_(column == self.me, column.in_(self.reports)) if self.reports else column == self.me


async def scope_of(session: AsyncSession, caller: Principal) -> Scope:
    if caller.kind != "user" or caller.has_role(ADMIN):
        return Scope(True, None)
    me = await session.scalar(
        select(ContractEmployee.id).where(
            ContractEmployee.user_id == caller.user_id, ContractEmployee.company_id == caller.tenant
        )
    )
    if me is None or not caller.has_role(MANAGER):
        return Scope(False, me)
    reports = await session.scalars(select(ContractEmployee.id).where(ContractEmployee.manager_id == me))
    return Scope(False, me, frozenset(reports.all()))


def check_sees(scope: Scope, employee_id: uuid.UUID, contract_id: uuid.UUID) -> None:
    """404 unless the caller may see the employee's contracts."""
    if not scope.covers(employee_id):
        raise not_found("contract", contract_id)
