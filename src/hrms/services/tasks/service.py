"""Task use cases: create, change, move along the statuses, assign; and the lists.

Statuses and who may move a task between them (anyone who sees the task may do what
is not marked otherwise; see ``deps.py`` for who sees what)::

    TODO        -> IN_PROGRESS, DONE, CANCELLED*
    IN_PROGRESS -> TODO, DONE, CANCELLED*
    DONE        -> TODO*, IN_PROGRESS*     (reopen)
    CANCELLED   -> TODO*                   (reopen)

    * the creator, an admin or a manager only

DONE and CANCELLED are final until reopened: a final task's fields cannot change and
it cannot be assigned. Every change bumps the task's version (its ETag).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.contracts.tasks import AGGREGATE
from hrms.services.tasks import events
from hrms.services.tasks.deps import Actor, check_visible, forbidden
from hrms.services.tasks.models import CANCELLED, DONE, IN_PROGRESS, OPEN, TODO, Task, TaskUser
from hrms.services.tasks.schemas import TaskCreate
from isles import Event, FieldError, ListSpec, Precondition, UnitOfWork, conflict, invalid, not_found, utcnow

#: status -> the statuses it may move to.
TRANSITIONS: dict[str, frozenset[str]] = {
    TODO: frozenset({IN_PROGRESS, DONE, CANCELLED}),
    IN_PROGRESS: frozenset({TODO, DONE, CANCELLED}),
    DONE: frozenset({TODO, IN_PROGRESS}),
    CANCELLED: frozenset({TODO}),
}


def _emit(uow: UnitOfWork, task: Task, event: Event) -> None:
    uow.emit(event, aggregate=task, aggregate_type=AGGREGATE, tenant_id=str(task.company_id))


async def assignee(session: AsyncSession, company_id: uuid.UUID, employee_id: uuid.UUID) -> TaskUser:
    """The active employee ``employee_id`` of ``company_id``, locked until commit (a
    deactivation applied meanwhile waits, then marks the task). Unknown and another
    company's are the same 422: nothing tells another company's people apart."""
    user = await session.scalar(
        select(TaskUser).where(TaskUser.id == employee_id, TaskUser.company_id == company_id).with_for_update()
    )
    if user is None:
        raise invalid([FieldError("assignee_id", f"employee {employee_id} does not exist", "not_found")])
    if not user.is_active:
        raise invalid([FieldError("assignee_id", f"employee {employee_id} is not active", "inactive")])
    return user


async def create_task(*, uow: UnitOfWork, data: TaskCreate, company_id: uuid.UUID, actor: Actor) -> Task:
    """A new TODO task; with an assignee, TaskAssigned in the same transaction."""
    if actor.employee_id is None and not actor.privileged:
        raise forbidden("your employee record is not known to the tasks service (yet): try again shortly")
    task = Task(
        id=uuid.uuid4(),
        company_id=company_id,
        title=data.title,
        description=data.description,
        status=TODO,
        priority=data.priority,
        due_date=data.due_date,
        creator_id=actor.employee_id,
        needs_reassignment=False,
        version=0,
    )
    if data.assignee_id is not None:
        task.assignee_id = (await assignee(uow.session, company_id, data.assignee_id)).id
    uow.session.add(task)
    if task.assignee_id is not None:
        _emit(uow, task, events.assigned(task, previous=None, by=actor.employee_id))
    await uow.commit()
    return task


async def _load_for_update(session: AsyncSession, task_id: uuid.UUID, actor: Actor) -> Task:
    task = await session.get(Task, task_id, with_for_update=True)
    if task is None:
        raise not_found("task", task_id)
    return check_visible(actor, task)


def _check_transition(task: Task, to: str, actor: Actor) -> None:
    if to not in TRANSITIONS[task.status]:
        allowed = ", ".join(sorted(TRANSITIONS[task.status]))
        raise conflict("status", f"a {task.status} task cannot become {to} (it may become {allowed})")
    reopening = task.status not in OPEN
    if (to == CANCELLED or reopening) and not actor.owns(task):
        what = "cancel" if to == CANCELLED else "reopen"
        raise forbidden(f"only the task's creator, an admin or a manager may {what} it")


async def update_task(
    *,
    uow: UnitOfWork,
    task_id: uuid.UUID,
    changes: Mapping[str, Any],
    actor: Actor,
    expected: Precondition | None = None,
) -> Task:
    """Change a task's fields and/or status (checked under the row lock against the
    version the caller read). Becoming DONE publishes TaskCompleted."""
    session = uow.session
    task = await _load_for_update(session, task_id, actor)
    if expected is not None:
        expected.check(task.version, f"task {task_id}")
    asked: str | None = changes.get("status")
    to = asked if asked != task.status else None  # the status to move to, if any
    fields = [k for k, v in changes.items() if k != "status" and getattr(task, k) != v]
    if to is None and not fields:
        return task
    if to is not None:
        _check_transition(task, to, actor)
    if fields and task.status not in OPEN and to not in OPEN:
        raise conflict(fields[0], f"the task is {task.status}: reopen it before changing {fields[0]}")
    for key in fields:
        setattr(task, key, changes[key])
    emitted = False
    if to is not None:
        emitted = await _move(uow, task, to, actor)
    if not emitted:
        task.version += 1
    task.updated_at = utcnow()
    await uow.commit()
    return task


async def _move(uow: UnitOfWork, task: Task, to: str, actor: Actor) -> bool:
    """Set the status and what goes with it; True if an event was emitted."""
    was_open = task.status in OPEN
    task.status = to
    if to == DONE:
        task.completed_at = utcnow()
        task.needs_reassignment = False
        _emit(uow, task, events.completed(task, by=actor.employee_id))
        return True
    task.completed_at = None
    if to == CANCELLED:
        task.needs_reassignment = False  # nobody needs to take it over now
    elif not was_open and task.assignee_id is not None:  # reopened: is the assignee still here?
        active = await uow.session.scalar(select(TaskUser.is_active).where(TaskUser.id == task.assignee_id))
        task.needs_reassignment = active is False
    return False


async def assign_task(
    *,
    uow: UnitOfWork,
    task_id: uuid.UUID,
    assignee_id: uuid.UUID,
    actor: Actor,
    expected: Precondition | None = None,
) -> Task:
    """Give an open task to an active employee of its company; clears
    ``needs_reassignment``. A new assignee publishes TaskAssigned."""
    session = uow.session
    task = await _load_for_update(session, task_id, actor)
    if expected is not None:
        expected.check(task.version, f"task {task_id}")
    if not actor.may_reassign(task):
        raise forbidden("only the task's creator, its assignee, an admin or a manager may assign it")
    if task.status not in OPEN:
        raise conflict("status", f"the task is {task.status}: reopen it before assigning it")
    user = await assignee(session, task.company_id, assignee_id)
    if user.id == task.assignee_id and not task.needs_reassignment:
        return task
    previous = task.assignee_id
    task.assignee_id = user.id
    task.needs_reassignment = False
    task.updated_at = utcnow()
    if previous == user.id:  # the same person (active again): only the mark goes
        task.version += 1
    else:
        _emit(uow, task, events.assigned(task, previous=previous, by=actor.employee_id))
    await uow.commit()
    return task


async def get_task(*, session: AsyncSession, task_id: uuid.UUID, actor: Actor) -> Task:
    task = await session.get(Task, task_id)
    if task is None:
        raise not_found("task", task_id)
    return check_visible(actor, task)


async def names(session: AsyncSession, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    """The full names of the employees ``ids`` (those this service knows)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await session.execute(
        select(TaskUser.id, TaskUser.first_name, TaskUser.last_name).where(TaskUser.id.in_(wanted))
    )
    return {r.id: f"{r.first_name} {r.last_name}" for r in rows}


#: How the task list sorts and searches (sort=, q=, cursor=).
TASKS = ListSpec(
    sort={"created_at": Task.created_at, "updated_at": Task.updated_at, "title": Task.title, "status": Task.status},
    default=("-created_at",),
    key=Task.id,
    search=(Task.title,),
)


def tasks_where(
    *,
    actor: Actor,
    status: str | None = None,
    assignee_id: uuid.UUID | None = None,
    creator_id: uuid.UUID | None = None,
    priority: str | None = None,
    due_before: date | None = None,
    due_after: date | None = None,
    needs_reassignment: bool | None = None,
) -> Select[Any]:
    """The tasks ``actor`` sees that match every filter given, unordered."""
    q = select(Task)
    scope = actor.scope()
    if scope is not None:
        q = q.where(scope)
    if status is not None:
        q = q.where(Task.status == status)
    if assignee_id is not None:
        q = q.where(Task.assignee_id == assignee_id)
    if creator_id is not None:
        q = q.where(Task.creator_id == creator_id)
    if priority is not None:
        q = q.where(Task.priority == priority)
    if due_before is not None:
        q = q.where(Task.due_date <= due_before)
    if due_after is not None:
        q = q.where(Task.due_date >= due_after)
    if needs_reassignment is not None:
        q = q.where(Task.needs_reassignment.is_(needs_reassignment))
    return q
