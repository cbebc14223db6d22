"""The project service's published events."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import ClassVar

from isles import Event

AGGREGATE = "project"


class ProjectCreated(Event):
    event_type: ClassVar[str] = "project.ProjectCreated"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    name: str
    client: str
    status: str
    capacity: int


class ProjectUpdated(Event):
    event_type: ClassVar[str] = "project.ProjectUpdated"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    name: str
    client: str
    status: str
    capacity: int
    changes: list[str] = []


class ProjectCompleted(Event):
    event_type: ClassVar[str] = "project.ProjectCompleted"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    name: str
    completed_at: datetime


class AssignmentCreated(Event):
    """An employee is on a project (published when the CreateAssignment saga confirms
    it). An assignment is created once and removed once: versions 1 and 2."""

    event_type: ClassVar[str] = "project.AssignmentCreated"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    company_id: uuid.UUID
    employee_id: uuid.UUID
    project_id: uuid.UUID
    project_name: str
    client_name: str = ""  # the project's client (added later: older events have none)
    role: str
    allocation: int
    start_date: date
    end_date: date | None = None


class AssignmentRemoved(Event):
    event_type: ClassVar[str] = "project.AssignmentRemoved"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    company_id: uuid.UUID
    employee_id: uuid.UUID
    project_id: uuid.UUID
