"""The tasks service's published contracts (issue 17). People are employees (ids of
``employee.employees``, the ids of the service's TaskUser copies)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import ClassVar, Literal

from isles import Event

AGGREGATE = "task"
Priority = Literal["low", "medium", "high", "urgent"]
TaskStatus = Literal["TODO", "IN_PROGRESS", "DONE", "CANCELLED"]


class TaskAssigned(Event):
    """A task has a (new) assignee: on creation with one, or on reassignment."""

    event_type: ClassVar[str] = "tasks.TaskAssigned"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    company_id: uuid.UUID
    title: str
    assignee_id: uuid.UUID
    previous_assignee_id: uuid.UUID | None = None
    assigned_by: uuid.UUID | None = None  # the employee who assigned it (None: the operator)
    creator_id: uuid.UUID | None = None
    priority: Priority = "medium"
    due_date: date | None = None


class TaskCompleted(Event):
    event_type: ClassVar[str] = "tasks.TaskCompleted"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    company_id: uuid.UUID
    title: str
    assignee_id: uuid.UUID | None = None
    creator_id: uuid.UUID | None = None
    completed_by: uuid.UUID | None = None
    completed_at: datetime


__all__ = ["AGGREGATE", "Priority", "TaskAssigned", "TaskCompleted", "TaskStatus"]
