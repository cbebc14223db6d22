"""How the project service turns its rows into the events it publishes."""

from __future__ import annotations

from collections.abc import Sequence

from hrms.contracts.project import ProjectCompleted, ProjectCreated, ProjectUpdated
from hrms.services.project.models import Project
from isles.schema import utcnow

PUBLISHES = (ProjectCreated, ProjectUpdated, ProjectCompleted)


def created(p: Project) -> ProjectCreated:
    return ProjectCreated(id=p.id, name=p.name, client=p.client, status=p.status, capacity=p.capacity)


def updated(p: Project, changes: Sequence[str]) -> ProjectUpdated:
    return ProjectUpdated(
        id=p.id, name=p.name, client=p.client, status=p.status, capacity=p.capacity, changes=sorted(changes)
    )


def completed(p: Project) -> ProjectCompleted:
    return ProjectCompleted(id=p.id, name=p.name, completed_at=p.completed_at or utcnow())
