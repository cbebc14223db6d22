"""How the project service turns its rows into the events it publishes."""

from __future__ import annotations

from collections.abc import Sequence

from hrms.contracts.project import (
    AssignmentCreated,
    AssignmentRemoved,
    ProjectCompleted,
    ProjectCreated,
    ProjectUpdated,
)
from hrms.services.project.models import Assignment, Project
from isles import utcnow

PUBLISHES = (ProjectCreated, ProjectUpdated, ProjectCompleted, AssignmentCreated, AssignmentRemoved)


def created(p: Project) -> ProjectCreated:
    return ProjectCreated(id=p.id, name=p.name, client=p.client, status=p.status, capacity=p.capacity)


def updated(p: Project, changes: Sequence[str]) -> ProjectUpdated:
    return ProjectUpdated(
        id=p.id, name=p.name, client=p.client, status=p.status, capacity=p.capacity, changes=sorted(changes)
    )


def completed(p: Project) -> ProjectCompleted:
    return ProjectCompleted(id=p.id, name=p.name, completed_at=p.completed_at or utcnow())


def assignment_created(a: Assignment) -> AssignmentCreated:
    return AssignmentCreated(
        id=a.id,
        company_id=a.company_id,
        employee_id=a.employee_id,
        project_id=a.project_id,
        project_name=a.project_name,
        client_name=a.client_name,
        role=a.role,
        allocation=a.allocation,
        start_date=a.start_date,
        end_date=a.end_date,
    )


def assignment_removed(a: Assignment) -> AssignmentRemoved:
    return AssignmentRemoved(id=a.id, company_id=a.company_id, employee_id=a.employee_id, project_id=a.project_id)
