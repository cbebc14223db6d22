"""Project and assignment use cases."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.contracts.company import DEFAULT_MAX_ALLOCATION, MAX_ALLOCATION
from hrms.contracts.employee import EmployeeDirectory, EmployeeView
from hrms.contracts.project import AGGREGATE
from hrms.services.project import events
from hrms.services.project.handlers import employee_copies
from hrms.services.project.models import ACTIVE, COMPLETED, Assignment, CapacityReservation, CompanyPolicy, Project
from hrms.services.project.schemas import AssignmentCreate, ProjectCreate
from isles import (
    Event,
    FieldError,
    ListSpec,
    NotFound,
    Precondition,
    Problem,
    UniqueViolation,
    UnitOfWork,
    conflict,
    invalid,
    not_found,
    utcnow,
)


def _emit(uow: UnitOfWork, project: Project, event: Event) -> None:
    uow.emit(event, aggregate=project, aggregate_type=AGGREGATE)


@dataclass
class _AssignmentAggregate:
    """An assignment as an event's aggregate: it has two states after pending (made,
    removed), so its versions are fixed (1, 2) rather than counted in a column."""

    id: uuid.UUID
    version: int


def _emit_assignment(uow: UnitOfWork, assignment: Assignment, event: Event, *, version: int) -> None:
    aggregate = _AssignmentAggregate(assignment.id, version - 1)
    uow.emit(event, aggregate=aggregate, aggregate_type="assignment", tenant_id=str(assignment.company_id))


async def _name_free(session: AsyncSession, company_id: uuid.UUID, name: str, exclude: uuid.UUID | None) -> None:
    q = select(Project.id).where(Project.company_id == company_id, Project.name == name)
    if exclude is not None:
        q = q.where(Project.id != exclude)
    if await session.scalar(q) is not None:
        raise _name_taken(name)


def _name_taken(name: object) -> Problem:
    return conflict("name", f"the company has a project named {name!r} already")


async def _commit_named(uow: UnitOfWork, name: object) -> None:
    try:
        await uow.commit()
    except UniqueViolation as exc:  # a concurrent writer took the name first
        raise _name_taken(name) from exc


async def create_project(*, uow: UnitOfWork, data: ProjectCreate, company_id: uuid.UUID) -> Project:
    await _name_free(uow.session, company_id, data.name, None)
    project = Project(
        id=uuid.uuid4(),
        company_id=company_id,
        name=data.name,
        client=data.client,
        description=data.description,
        status=ACTIVE,
        capacity=data.capacity,
        assigned_count=0,
        version=0,
    )
    uow.session.add(project)
    _emit(uow, project, events.created(project))
    await _commit_named(uow, data.name)
    return project


async def _load_for_update(session: AsyncSession, project_id: uuid.UUID) -> Project:
    project = await session.get(Project, project_id, with_for_update=True)
    if project is None:
        raise not_found("project", project_id)
    return project


async def update_project(
    *,
    uow: UnitOfWork,
    project_id: uuid.UUID,
    changes: Mapping[str, object],
    expected: Precondition | None = None,
) -> Project:
    """Change a project; a new name reaches every assignment in the same transaction.
    ``expected``: the version the caller read (If-Match), checked under the row lock."""
    session = uow.session
    project = await _load_for_update(session, project_id)
    if expected is not None:
        expected.check(project.version, f"project {project_id}")
    changed = [k for k, v in changes.items() if getattr(project, k) != v]
    if not changed:
        return project
    if "capacity" in changed and int(str(changes["capacity"])) < project.assigned_count:
        raise invalid(
            [
                FieldError(
                    "capacity",
                    f"capacity cannot go below the {project.assigned_count} active assignments",
                    "below_assigned",
                )
            ]
        )
    if "name" in changed:
        await _name_free(session, project.company_id, str(changes["name"]), project.id)
    for key in changed:
        setattr(project, key, changes[key])
    if "name" in changed or "client" in changed:
        await session.execute(
            update(Assignment)
            .where(Assignment.project_id == project.id)
            .values(project_name=project.name, client_name=project.client, updated_at=utcnow())
        )
    _emit(uow, project, events.updated(project, changed))
    await _commit_named(uow, project.name)
    return project


async def complete_project(*, uow: UnitOfWork, project_id: uuid.UUID) -> Project:
    """Mark a project completed (once); it takes no new assignments after that."""
    project = await _load_for_update(uow.session, project_id)
    if project.status != COMPLETED:
        project.status = COMPLETED
        project.completed_at = utcnow()
        _emit(uow, project, events.completed(project))
        await uow.commit()
    return project


async def get_project(*, session: AsyncSession, project_id: uuid.UUID) -> Project:
    project = await session.get(Project, project_id)
    if project is None:
        raise not_found("project", project_id)
    return project


#: How the project list sorts and searches (sort=, q=, cursor=).
PROJECTS = ListSpec(
    sort={"name": Project.name, "client": Project.client, "status": Project.status, "created_at": Project.created_at},
    default=("name",),
    key=Project.id,
    search=(Project.name, Project.client),
)


def projects_where(*, status: str | None = None) -> Select[Any]:
    q = select(Project)
    if status is not None:
        q = q.where(Project.status == status)
    return q


async def _validate_employee(
    employees: EmployeeDirectory, employee_id: uuid.UUID
) -> tuple[EmployeeView | None, list[FieldError]]:
    try:
        employee = await employees.get(employee_id)
    except NotFound:
        return None, [FieldError("employee_id", f"employee {employee_id} does not exist", "not_found")]
    if not employee.is_active:
        return employee, [FieldError("employee_id", f"employee {employee_id} is not active", "inactive")]
    return employee, []


def _check_project(project: Project | None, project_id: uuid.UUID) -> list[FieldError]:
    if project is None:
        return [FieldError("project_id", f"project {project_id} does not exist", "not_found")]
    if project.status == COMPLETED:
        return [FieldError("project_id", f"project {project_id} is completed", "completed")]
    if project.assigned_count >= project.capacity:
        return [
            FieldError(
                "project_id", f"project {project_id} has no capacity left ({project.capacity} taken)", "no_capacity"
            )
        ]
    return []


async def validate_assignment(
    *, session: AsyncSession, employees: EmployeeDirectory, data: AssignmentCreate, company_id: uuid.UUID
) -> EmployeeView:
    """Check the employee through its service's API and the project here (no locks):
    every field at fault is named at once. Both must be of ``company_id``."""
    employee, errors = await _validate_employee(employees, data.employee_id)
    if employee is not None and employee.company_id != company_id:
        employee = None
        errors = [FieldError("employee_id", f"employee {data.employee_id} does not exist", "not_found")]
    project = await session.get(Project, data.project_id)
    errors += _check_project(project if project is None or project.company_id == company_id else None, data.project_id)
    if employee is not None and data.start_date < employee.hire_date:
        message = f"before the employee's hire date ({employee.hire_date.isoformat()})"
        errors.append(FieldError("start_date", message, "before_hire"))
    if errors or employee is None:
        raise invalid(errors)
    live = await session.scalar(
        select(Assignment.id).where(
            Assignment.employee_id == data.employee_id,
            Assignment.project_id == data.project_id,
            Assignment.deleted_at.is_(None),
        )
    )
    if live is not None:
        raise _assigned_already(data.employee_id, live)
    return employee


def _assigned_already(employee_id: uuid.UUID, assignment: object) -> Problem:
    return conflict("employee_id", f"employee {employee_id} is on this project already (assignment {assignment})")


async def reserve_capacity(*, uow: UnitOfWork, project_id: uuid.UUID, reservation_id: uuid.UUID) -> Project:
    """Hold a place on the project. The project row is locked, so concurrent
    reservations queue and the last place is given once."""
    project = await uow.session.get(Project, project_id, with_for_update=True)
    errors = _check_project(project, project_id)
    if errors or project is None:
        raise invalid(errors)
    uow.session.add(CapacityReservation(id=reservation_id, project_id=project.id))
    project.assigned_count += 1
    await uow.commit()
    return project


async def release_capacity(*, uow: UnitOfWork, reservation_id: uuid.UUID) -> None:
    """Give a held place back (a compensation); nothing if it is not held."""
    reservation = await uow.session.get(CapacityReservation, reservation_id, with_for_update=True)
    if reservation is None:
        return
    project = await _load_for_update(uow.session, reservation.project_id)
    project.assigned_count -= 1
    await uow.session.delete(reservation)
    await uow.commit()


async def add_pending_assignment(
    *, uow: UnitOfWork, assignment_id: uuid.UUID, data: AssignmentCreate, employee: EmployeeView
) -> Assignment:
    """Write the assignment, not yet visible, with the employee's and the project's
    names (denormalized)."""
    session = uow.session
    project = await _load_for_update(session, data.project_id)
    # The replica row serializes us with the consumer: a rename committed after the
    # API answered is either already in the copy, or waits for our commit and then
    # updates this assignment too.
    await employee_copies.apply(
        session,
        employee.id,
        employee.version,
        {"user_id": employee.user_id, "full_name": employee.full_name, "is_active": employee.is_active},
    )
    copy = await employee_copies.lock(session, employee.id)
    if not copy.is_active:
        raise invalid([FieldError("employee_id", f"employee {employee.id} is not active", "inactive")])
    # The copy's row lock queues concurrent assignments of this employee: the sum
    # below cannot be outrun by one committing beside it.
    await _check_allocation(session, project.company_id, employee.id, data)
    assignment = Assignment(
        id=assignment_id,
        employee_id=employee.id,
        project_id=project.id,
        company_id=project.company_id,
        project_name=project.name,
        client_name=project.client,
        employee_name=copy.full_name,
        employee_active=copy.is_active,
        employee_version=copy.version,
        role=data.role,
        allocation=data.allocation,
        start_date=data.start_date,
        end_date=data.end_date,
        pending=True,
    )
    session.add(assignment)
    try:
        await uow.commit()
    except UniqueViolation as exc:  # a concurrent request assigned them first
        raise _assigned_already(employee.id, "being made") from exc
    return assignment


async def _check_allocation(
    session: AsyncSession, company_id: uuid.UUID, employee_id: uuid.UUID, data: AssignmentCreate
) -> None:
    """The employee's allocation, summed over the live assignments that overlap the new
    one, may at no day exceed the company's limit (``max_allocation_percent``, 100 %
    unless the company allows more): a 409 naming ``allocation`` and the busiest day."""
    limit = await session.scalar(select(CompanyPolicy.max_allocation_percent).where(CompanyPolicy.id == company_id))
    limit = DEFAULT_MAX_ALLOCATION if limit is None else limit
    start, end = data.start_date, data.end_date or date.max
    q = select(Assignment.allocation, Assignment.start_date, Assignment.end_date).where(
        Assignment.employee_id == employee_id,
        Assignment.deleted_at.is_(None),
        Assignment.start_date <= end,
        (Assignment.end_date.is_(None)) | (Assignment.end_date >= start),
    )
    others = (await session.execute(q)).all()
    if sum(a.allocation for a in others) + data.allocation <= limit:
        return  # even if all overlapped at once
    # The busiest day within the new assignment: totals change only where one starts.
    peak, busiest = 0, start
    for day in sorted({start, *(a.start_date for a in others if a.start_date > start)}):
        total = sum(a.allocation for a in others if a.start_date <= day and (a.end_date is None or a.end_date >= day))
        if total > peak:
            peak, busiest = total, day
    if peak + data.allocation > limit:
        raise conflict(
            "allocation",
            f"employee {employee_id} is allocated {peak}% on {busiest.isoformat()}; {data.allocation}% more "
            f"exceeds the company's limit of {limit}% (company setting {MAX_ALLOCATION})",
        )


async def remove_pending_assignment(*, uow: UnitOfWork, assignment_id: uuid.UUID) -> None:
    """Undo a pending assignment (a compensation): it was never visible."""
    assignment = await uow.session.get(Assignment, assignment_id, with_for_update=True)
    if assignment is not None and assignment.pending:
        await uow.session.delete(assignment)
        await uow.commit()


async def confirm_assignment(*, uow: UnitOfWork, assignment_id: uuid.UUID, reservation_id: uuid.UUID) -> Assignment:
    """The assignment becomes visible and takes over its reservation's place."""
    session = uow.session
    assignment = await session.get(Assignment, assignment_id, with_for_update=True)
    if assignment is None:
        raise not_found("assignment", assignment_id)
    if assignment.pending:
        assignment.pending = False
        _emit_assignment(uow, assignment, events.assignment_created(assignment), version=1)
    reservation = await session.get(CapacityReservation, reservation_id)
    if reservation is not None:
        await session.delete(reservation)
    await uow.commit()
    return assignment


async def delete_assignment(*, uow: UnitOfWork, assignment_id: uuid.UUID) -> None:
    """Soft-delete an assignment and give its place back to the project."""
    session = uow.session
    assignment = await session.get(Assignment, assignment_id, with_for_update=True)
    if assignment is None or assignment.deleted_at is not None or assignment.pending:
        raise not_found("assignment", assignment_id)
    project = await _load_for_update(session, assignment.project_id)
    assignment.deleted_at = utcnow()
    project.assigned_count -= 1
    _emit_assignment(uow, assignment, events.assignment_removed(assignment), version=2)
    await uow.commit()


async def get_assignment(
    *, session: AsyncSession, assignment_id: uuid.UUID, include_deleted: bool = False
) -> Assignment:
    assignment = await session.get(Assignment, assignment_id)
    if assignment is None or assignment.pending or (assignment.deleted_at is not None and not include_deleted):
        raise not_found("assignment", assignment_id)
    return assignment


#: How the assignment list sorts and searches (sort=, q=, cursor=).
ASSIGNMENTS = ListSpec(
    sort={
        "start_date": Assignment.start_date,
        "employee_name": Assignment.employee_name,
        "project_name": Assignment.project_name,
        "allocation": Assignment.allocation,
        "created_at": Assignment.created_at,
    },
    default=("start_date",),
    key=Assignment.id,
    search=(Assignment.employee_name, Assignment.project_name, Assignment.role),
)


def assignments_where(
    *,
    employee_id: uuid.UUID | None = None,
    project_id: uuid.UUID | None = None,
    include_deleted: bool = False,
    scope: ColumnElement[bool] | None = None,
) -> Select[Any]:
    """Confirmed assignments matching the filters, unordered."""
    q = select(Assignment).where(Assignment.pending.is_(False))
    if scope is not None:
        q = q.where(scope)
    if employee_id is not None:
        q = q.where(Assignment.employee_id == employee_id)
    if project_id is not None:
        q = q.where(Assignment.project_id == project_id)
    if not include_deleted:
        q = q.where(Assignment.deleted_at.is_(None))
    return q
