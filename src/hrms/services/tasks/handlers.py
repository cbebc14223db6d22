"""What the tasks service keeps from other services' events.

* ``task_users``: its copy of every employee (seed 004's TaskUser), newest version wins.
* When an employee is deactivated, their open tasks (TODO, IN_PROGRESS) are marked
  ``needs_reassignment``, in the same transaction as the copy and the inbox row: a
  redelivered event changes nothing (the inbox, and only unmarked tasks are marked), and
  a deactivation that arrives after a newer event reactivating them marks nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.contracts.employee import EmployeeCreated, EmployeeDeactivated, EmployeeUpdated
from hrms.services.tasks.models import OPEN, Task, TaskUser
from isles import Envelope, Handler, HandlerContext, ReplicaTable, UnitOfWork, utcnow

EMPLOYEE_EVENTS = (EmployeeCreated, EmployeeUpdated, EmployeeDeactivated)
COLUMNS = ("user_id", "company_id", "email", "first_name", "last_name", "is_active")


def _copy(event: Any) -> dict[str, Any]:
    return {c: getattr(event, c) for c in COLUMNS}


task_users = ReplicaTable(
    table=TaskUser.__table__,  # type: ignore[arg-type]
    source="employee.employees",
    events=EMPLOYEE_EVENTS,
    project=_copy,
    columns=COLUMNS,
)


async def mark_for_reassignment(session: AsyncSession, employee_id: uuid.UUID) -> int:
    """Mark ``employee_id``'s open, unmarked tasks for reassignment, unless the copy says
    the employee is active (a newer event came first). Returns how many were marked."""
    active = await session.scalar(select(TaskUser.is_active).where(TaskUser.id == employee_id))
    if active:
        return 0
    result = await session.execute(
        update(Task)
        .where(Task.assignee_id == employee_id, Task.status.in_(OPEN), Task.needs_reassignment.is_(False))
        .values(needs_reassignment=True, version=Task.version + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def on_employee_deactivated(ctx: HandlerContext, event: EmployeeDeactivated) -> None:
    await mark_for_reassignment(ctx.uow.session, event.id)


async def on_employees_deactivated(uow: UnitOfWork, pairs: Sequence[tuple[Envelope, Any]]) -> None:
    for employee_id in dict.fromkeys(event.id for _, event in pairs):
        await mark_for_reassignment(uow.session, employee_id)


REPLICAS = (task_users,)
HANDLERS = (Handler(event=EmployeeDeactivated, fn=on_employee_deactivated, many=on_employees_deactivated),)
