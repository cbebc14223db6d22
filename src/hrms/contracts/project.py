"""The project service's published events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from isles.events import Event

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
