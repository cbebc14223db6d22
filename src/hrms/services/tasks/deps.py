"""Who may call what in the tasks service: every rule in one place.

Routes need ``tasks:read`` or ``tasks:write``; the tenant-scoped session shows a caller
only their company's tasks and people. Within that:

* an admin or a manager (and the operator, a service) sees and changes every task of
  the company;
* anyone else (an employee) sees and changes only the tasks they created or are
  assigned; another task is, to them, a task that does not exist (404);
* cancelling a task and reopening a finished one (DONE or CANCELLED) is for its
  creator or an admin/manager; the assignee may start, pause and finish it;
* reassigning is for an admin/manager, the creator, or the current assignee (who hands
  it on).

The caller's employee is found from their user id in ``task_users``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.contracts.permissions import ADMIN, MANAGER
from hrms.services.tasks.models import Task, TaskUser
from isles import Principal, Problem, not_found, require

ReadTasks = Annotated[Principal, Depends(require("tasks:read"))]
WriteTasks = Annotated[Principal, Depends(require("tasks:write"))]


@dataclass(frozen=True)
class Actor:
    """The caller as the tasks service sees them: their employee (None: not one, or
    not known yet) and whether they act for the whole company."""

    employee_id: uuid.UUID | None
    privileged: bool

    def scope(self) -> ColumnElement[bool] | None:
        """The tasks this actor may see, as a condition (None: all the company's)."""
        if self.privileged:
            return None
        if self.employee_id is None:
            return Task.id.is_(None)  # nothing
        return or_(Task.creator_id == self.employee_id, Task.assignee_id == self.employee_id)

    def sees(self, task: Task) -> bool:
        return self.privileged or (
            self.employee_id is not None and self.employee_id in (task.creator_id, task.assignee_id)
        )

    def owns(self, task: Task) -> bool:
        """May cancel and reopen: the creator, an admin or a manager."""
        return self.privileged or (self.employee_id is not None and task.creator_id == self.employee_id)

    def may_reassign(self, task: Task) -> bool:
        return self.owns(task) or (self.employee_id is not None and task.assignee_id == self.employee_id)


async def actor_of(session: AsyncSession, caller: Principal) -> Actor:
    """``caller``'s actor: a user's employee from the replica (in the caller's company)."""
    privileged = caller.kind != "user" or caller.has_role(ADMIN, MANAGER)
    employee_id = None
    if caller.user_id is not None:
        employee_id = await session.scalar(select(TaskUser.id).where(TaskUser.user_id == caller.user_id))
    return Actor(employee_id=employee_id, privileged=privileged)


def check_visible(actor: Actor, task: Task) -> Task:
    """``task`` if ``actor`` may see it, else 404 (as if it were not there)."""
    if not actor.sees(task):
        raise not_found("task", task.id)
    return task


def forbidden(detail: str) -> Problem:
    return Problem(403, detail, slug="forbidden")
