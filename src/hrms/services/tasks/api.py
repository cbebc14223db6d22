"""HTTP routes of the tasks service (mounted at ``/api/tasks``)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.contracts.tasks import Priority, TaskStatus
from hrms.services.tasks import service
from hrms.services.tasks.deps import ReadTasks, WriteTasks, actor_of
from hrms.services.tasks.models import Task
from hrms.services.tasks.schemas import TaskAssign, TaskCreate, TaskUpdate, TaskView
from isles import IF_MATCH, FieldError, Listing, Page, TenantData, check_tenant, if_match, invalid, tagged

router = APIRouter(tags=["tasks"])

_REFUSED: dict[int | str, dict[str, Any]] = {
    403: {"description": "The caller may not do this to the task (cancel, reopen or assign it)."},
    409: {"description": "The task's status does not allow it (a transition not allowed, a final task)."},
}


async def views(session: AsyncSession, tasks: list[Task]) -> list[TaskView]:
    """The tasks as the API shows them, with their people's names."""
    known = await service.names(session, [i for t in tasks for i in (t.creator_id, t.assignee_id)])
    return [
        TaskView.model_validate(
            {
                **{c: getattr(t, c) for c in TaskView.model_fields if hasattr(t, c)},
                "creator_name": known.get(t.creator_id) if t.creator_id else None,
                "assignee_name": known.get(t.assignee_id) if t.assignee_id else None,
            }
        )
        for t in tasks
    ]


async def view(request: Request, caller: Any, task: Task) -> Response:
    async with TenantData(request, caller).read() as session:
        (shown,) = await views(session, [task])
    return tagged(shown, task.version)


@router.post("/tasks", status_code=status.HTTP_201_CREATED, response_model=TaskView, responses=_REFUSED)
async def create_task(body: TaskCreate, request: Request, caller: WriteTasks) -> Response:
    """Create a TODO task in the caller's company, made by the caller's employee, and
    assigned to ``assignee_id`` if given (an active employee of the company, else 422).
    Publishes TaskAssigned when assigned."""
    company_id = check_tenant(caller, body.company_id)
    async with TenantData(request, caller).uow() as uow:
        actor = await actor_of(uow.session, caller)
        task = await service.create_task(uow=uow, data=body, company_id=company_id, actor=actor)
    answer = await view(request, caller, task)
    answer.status_code = status.HTTP_201_CREATED
    answer.headers["Location"] = f"{request.url.path}/{task.id}"
    return answer


TaskList = Annotated[Listing, Depends(service.TASKS.dependency)]


@router.get("/tasks", response_model=Page[TaskView])
async def list_tasks(
    request: Request,
    caller: ReadTasks,
    listing: TaskList,
    status: Annotated[TaskStatus | None, Query()] = None,
    assignee_id: Annotated[uuid.UUID | None, Query()] = None,
    creator_id: Annotated[uuid.UUID | None, Query()] = None,
    priority: Annotated[Priority | None, Query()] = None,
    due_before: Annotated[date | None, Query(description="Due on or before this day.")] = None,
    due_after: Annotated[date | None, Query(description="Due on or after this day.")] = None,
    needs_reassignment: Annotated[
        bool | None, Query(description="true: the open tasks whose assignee was deactivated.")
    ] = None,
) -> Page[TaskView]:
    """The tasks the caller sees (an employee: those they created or are assigned),
    filtered. ``q`` finds titles; ``sort`` orders (default ``-created_at``); ``cursor``
    pages (the ``next_cursor`` of the page before)."""
    async with TenantData(request, caller).read() as session:
        actor = await actor_of(session, caller)
        where = service.tasks_where(
            actor=actor,
            status=status,
            assignee_id=assignee_id,
            creator_id=creator_id,
            priority=priority,
            due_before=due_before,
            due_after=due_after,
            needs_reassignment=needs_reassignment,
        )
        rows, total, cursor = await listing.fetch(session, where)
        items = await views(session, rows)
    return listing.page(items, total, cursor)


@router.get("/tasks/{task_id}", response_model=TaskView)
async def get_task(task_id: uuid.UUID, request: Request, caller: ReadTasks) -> Response:
    """A task; its ``ETag`` is its version (send it as ``If-Match`` to change it safely)."""
    async with TenantData(request, caller).read() as session:
        task = await service.get_task(session=session, task_id=task_id, actor=await actor_of(session, caller))
        (shown,) = await views(session, [task])
    return tagged(shown, task.version)


@router.patch("/tasks/{task_id}", response_model=TaskView, responses=_REFUSED, openapi_extra=IF_MATCH)
async def update_task(task_id: uuid.UUID, body: TaskUpdate, request: Request, caller: WriteTasks) -> Response:
    """Change a task's title, description, priority, due date or status (the
    transitions are in the documentation). Becoming DONE publishes TaskCompleted. With
    ``If-Match`` (the ETag read), a change made by someone else in between is a 412."""
    changes = body.model_dump(exclude_unset=True)
    for required in ("title", "priority", "status"):
        if required in changes and changes[required] is None:
            raise invalid([FieldError(required, f"{required} cannot be null", "null")])
    async with TenantData(request, caller).uow() as uow:
        actor = await actor_of(uow.session, caller)
        task = await service.update_task(
            uow=uow, task_id=task_id, changes=changes, actor=actor, expected=if_match(request)
        )
    return await view(request, caller, task)


@router.post("/tasks/{task_id}/assign", response_model=TaskView, responses=_REFUSED, openapi_extra=IF_MATCH)
async def assign_task(task_id: uuid.UUID, body: TaskAssign, request: Request, caller: WriteTasks) -> Response:
    """Give an open task to an active employee of its company (someone else's or an
    unknown id: 422 naming ``assignee_id``). Clears ``needs_reassignment``. A new
    assignee publishes TaskAssigned."""
    async with TenantData(request, caller).uow() as uow:
        actor = await actor_of(uow.session, caller)
        task = await service.assign_task(
            uow=uow, task_id=task_id, assignee_id=body.assignee_id, actor=actor, expected=if_match(request)
        )
    return await view(request, caller, task)
