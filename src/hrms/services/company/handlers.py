"""What the company service keeps from the employee service's events.

``employee_copies`` (a replica: company, user, name, department, active) is applied
first; then, in the same transaction, the company's headcount is recounted from it,
and an employee who left is taken out of their teams and off any department or team
they led. Each step is idempotent, so a redelivered or late event changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from hrms.contracts.employee import EmployeeCreated, EmployeeDeactivated, EmployeeUpdated
from hrms.services.company import service
from hrms.services.company.models import EmployeeCopy
from isles import Envelope, Handler, HandlerContext, ReplicaTable, UnitOfWork

EMPLOYEE_EVENTS = (EmployeeCreated, EmployeeUpdated, EmployeeDeactivated)


def _copy(event: Any) -> dict[str, Any]:
    return {
        "company_id": event.company_id,
        "user_id": event.user_id,
        "full_name": event.full_name,
        "department_id": event.department_id,
        "is_active": event.is_active,
    }


employee_copies = ReplicaTable(
    table=EmployeeCopy.__table__,  # type: ignore[arg-type]
    source="employee.employees",
    events=EMPLOYEE_EVENTS,
    project=_copy,
    columns=("company_id", "user_id", "full_name", "department_id", "is_active"),
)


async def employee_changed(ctx: HandlerContext, event: Any) -> None:
    await employees_changed(ctx.uow, [(ctx.envelope, event)])


# What an EmployeeUpdated must have changed to move a headcount or release someone.
_HEADCOUNT_FIELDS = frozenset({"is_active", "company_id"})


def _moves_headcount(event: Any) -> bool:
    """False for an update that names its changes and none of them is the active flag
    or the company (a rename, a move between departments): the replica took it, and
    nothing else here depends on it. An update without a list of changes counts."""
    if not isinstance(event, EmployeeUpdated) or not event.changes:
        return True
    return not _HEADCOUNT_FIELDS.isdisjoint(event.changes)


async def employees_changed(uow: UnitOfWork, pairs: Sequence[tuple[Envelope, Any]]) -> None:
    """After the replica took a batch of employee events: release who left, then
    recount each company concerned once (events that cannot move a headcount are
    passed over)."""
    pairs = [(env, event) for env, event in pairs if _moves_headcount(event)]
    if not pairs:
        return
    ids = {uuid.UUID(env.aggregateid) for env, _ in pairs}
    copies = {c.id: c for c in await uow.session.scalars(select(EmployeeCopy).where(EmployeeCopy.id.in_(ids)))}
    for employee_id in sorted(ids):
        copy = copies.get(employee_id)
        if copy is not None and not copy.is_active:
            await service.release_employee(uow=uow, employee_id=employee_id)
    companies = {event.company_id for _, event in pairs if event.company_id is not None}
    companies.update(c.company_id for c in copies.values() if c.company_id is not None)
    for company_id in sorted(companies):
        await service.recount(uow=uow, company_id=company_id)


REPLICAS = (employee_copies,)
HANDLERS: tuple[Handler, ...] = tuple(
    Handler(event=e, fn=employee_changed, name="headcount and teams", many=employees_changed) for e in EMPLOYEE_EVENTS
)
