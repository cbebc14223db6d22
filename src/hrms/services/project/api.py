"""HTTP routes of the project service (mounted at ``/api/project``)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from hrms.services.project import sagas, service
from hrms.services.project.deps import (
    ReadAssignments,
    ReadProjects,
    WriteAssignments,
    WriteProjects,
    check_reach,
    check_visible,
    own_assignments,
)
from hrms.services.project.models import Assignment, Project
from hrms.services.project.schemas import (
    AssignmentCreate,
    AssignmentView,
    ProjectCreate,
    ProjectUpdate,
    ProjectView,
)
from isles import (
    ACROSS_TENANTS,
    IF_MATCH,
    Context,
    FieldError,
    Idempotent,
    Listing,
    Page,
    SagaState,
    TenantData,
    check_tenant,
    if_match,
    invalid,
    start_saga,
    tagged,
)

router = APIRouter()


def project_view(p: Project) -> ProjectView:
    return ProjectView.model_validate(p, from_attributes=True)


def assignment_view(a: Assignment) -> AssignmentView:
    return AssignmentView.model_validate(a, from_attributes=True)


_NAME_TAKEN: dict[int | str, dict[str, Any]] = {409: {"description": "The company has a project of that name already."}}


@router.post(
    "/projects",
    status_code=status.HTTP_201_CREATED,
    response_model=ProjectView,
    tags=["projects"],
    responses=_NAME_TAKEN,
)
async def create_project(
    body: ProjectCreate, request: Request, response: Response, caller: WriteProjects
) -> ProjectView:
    """Create a project (in the caller's company). Publishes ProjectCreated."""
    company_id = check_tenant(caller, body.company_id)
    async with TenantData(request, caller).uow() as uow:
        project = await service.create_project(uow=uow, data=body, company_id=company_id)
    response.headers["Location"] = f"{request.url.path}/{project.id}"
    return project_view(project)


ProjectList = Annotated[Listing, Depends(service.PROJECTS.dependency)]


@router.get("/projects", response_model=Page[ProjectView], tags=["projects"])
async def list_projects(
    request: Request,
    caller: ReadProjects,
    listing: ProjectList,
    status: Annotated[Literal["active", "completed"] | None, Query()] = None,
) -> Page[ProjectView]:
    """The company's projects. ``q`` finds names and clients; ``sort`` orders (e.g.
    ``-created_at``); ``cursor`` pages."""
    async with TenantData(request, caller).read() as session:
        rows, total, cursor = await listing.fetch(session, service.projects_where(status=status))
    return listing.page([project_view(p) for p in rows], total, cursor)


@router.get("/projects/{project_id}", response_model=ProjectView, tags=["projects"])
async def get_project(project_id: uuid.UUID, request: Request, caller: ReadProjects) -> Response:
    """A project; its ``ETag`` is its version (send it as ``If-Match`` to change it safely)."""
    async with TenantData(request, caller).read() as session:
        project = await service.get_project(session=session, project_id=project_id)
    return tagged(project_view(project), project.version)


@router.patch(
    "/projects/{project_id}",
    response_model=ProjectView,
    tags=["projects"],
    responses=_NAME_TAKEN,
    openapi_extra=IF_MATCH,
)
async def update_project(
    project_id: uuid.UUID, body: ProjectUpdate, request: Request, caller: WriteProjects
) -> Response:
    """Change a project; a new name reaches all its assignments. Publishes ProjectUpdated.
    With ``If-Match`` (the ETag read), a change made by someone else in between is a 412."""
    changes = body.model_dump(exclude_unset=True)
    for required in ("name", "client", "capacity"):
        if required in changes and changes[required] is None:
            raise invalid([FieldError(required, f"{required} cannot be null", "null")])
    async with TenantData(request, caller).uow() as uow:
        project = await service.update_project(
            uow=uow, project_id=project_id, changes=changes, expected=if_match(request)
        )
    return tagged(project_view(project), project.version)


@router.post("/projects/{project_id}/complete", response_model=ProjectView, tags=["projects"])
async def complete_project(project_id: uuid.UUID, request: Request, caller: WriteProjects) -> ProjectView:
    """Complete a project. Publishes ProjectCompleted (once)."""
    async with TenantData(request, caller).uow() as uow:
        project = await service.complete_project(uow=uow, project_id=project_id)
    return project_view(project)


@router.post(
    "/assignments",
    status_code=status.HTTP_201_CREATED,
    response_model=AssignmentView,
    tags=["assignments"],
    responses={
        202: {"description": "Still under way: follow the Location (the saga)."},
        409: {"description": "The employee is on this project already (one live assignment each)."},
    },
)
async def create_assignment(
    body: AssignmentCreate, rt: Context, request: Request, idem: Idempotent, caller: WriteAssignments
) -> Response:
    """Assign an employee to a project: the CreateAssignment saga validates the employee
    through the employee service's API, reserves a place on the project (active, with
    capacity left), writes the assignment with both names and confirms it. With an
    ``Idempotency-Key``, a retried request gets the first one's outcome."""
    await check_reach(request, caller, body.employee_id)
    tenant = caller.tenant
    if tenant is None:  # the operator (of no company): the project's company
        async with rt.db.read_session(tenant=ACROSS_TENANTS) as session:
            project = await session.get(Project, body.project_id)
        # An unknown project belongs to no company: the saga then names every field at fault.
        tenant = project.company_id if project is not None else uuid.UUID(int=0)

    async def completed(state: SagaState) -> Response:
        async with rt.db.read_session(tenant=tenant) as session:
            a = await service.get_assignment(session=session, assignment_id=uuid.UUID(state.data["assignment_id"]))
        location = {"Location": f"{request.url.path}/{a.id}"}
        return JSONResponse(jsonable_encoder(assignment_view(a)), status_code=201, headers=location)

    data = sagas.saga_data(body)
    saga = sagas.CREATE_ASSIGNMENT
    return await start_saga(request, saga, data, tenant=tenant, idempotency=idem, completed=completed)


AssignmentList = Annotated[Listing, Depends(service.ASSIGNMENTS.dependency)]


@router.get("/assignments", response_model=Page[AssignmentView], tags=["assignments"])
async def list_assignments(
    request: Request,
    caller: ReadAssignments,
    listing: AssignmentList,
    employee_id: Annotated[uuid.UUID | None, Query()] = None,
    project_id: Annotated[uuid.UUID | None, Query()] = None,
    include_deleted: Annotated[bool, Query()] = False,
) -> Page[AssignmentView]:
    """Assignments the caller may read. ``q`` finds employee names, project names and
    roles; ``sort`` orders (e.g. ``-start_date``); ``cursor`` pages."""
    where = service.assignments_where(
        employee_id=employee_id, project_id=project_id, include_deleted=include_deleted, scope=own_assignments(caller)
    )
    async with TenantData(request, caller).read() as session:
        rows, total, cursor = await listing.fetch(session, where)
    return listing.page([assignment_view(a) for a in rows], total, cursor)


@router.get("/assignments/{assignment_id}", response_model=AssignmentView, tags=["assignments"])
async def get_assignment(
    assignment_id: uuid.UUID,
    request: Request,
    caller: ReadAssignments,
    include_deleted: Annotated[bool, Query()] = False,
) -> AssignmentView:
    async with TenantData(request, caller).read() as session:
        a = await service.get_assignment(session=session, assignment_id=assignment_id, include_deleted=include_deleted)
        return assignment_view(await check_visible(session, caller, a))


@router.delete("/assignments/{assignment_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["assignments"])
async def delete_assignment(assignment_id: uuid.UUID, request: Request, caller: WriteAssignments) -> Response:
    """Soft-delete: the row stays with ``deleted_at`` set; the project's place is freed.
    Publishes AssignmentRemoved. A manager removes only employees in their reach."""
    async with TenantData(request, caller).read() as session:
        a = await service.get_assignment(session=session, assignment_id=assignment_id)
    await check_reach(request, caller, a.employee_id)
    async with TenantData(request, caller).uow() as uow:
        await service.delete_assignment(uow=uow, assignment_id=assignment_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
