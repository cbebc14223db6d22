"""How the tasks service turns its rows into the events it publishes (the contracts
are in ``hrms.contracts.tasks``)."""

from __future__ import annotations

import uuid

from hrms.contracts.tasks import TaskAssigned, TaskCompleted
from hrms.services.tasks.models import Task
from isles import utcnow

PUBLISHES = (TaskAssigned, TaskCompleted)


def assigned(t: Task, *, previous: uuid.UUID | None, by: uuid.UUID | None) -> TaskAssigned:
    assert t.assignee_id is not None
    return TaskAssigned(
        id=t.id,
        company_id=t.company_id,
        title=t.title,
        assignee_id=t.assignee_id,
        previous_assignee_id=previous,
        assigned_by=by,
        creator_id=t.creator_id,
        priority=t.priority,  # one of Priority: the table checks it
        due_date=t.due_date,
    )


def completed(t: Task, *, by: uuid.UUID | None) -> TaskCompleted:
    return TaskCompleted(
        id=t.id,
        company_id=t.company_id,
        title=t.title,
        assignee_id=t.assignee_id,
        creator_id=t.creator_id,
        completed_by=by,
        completed_at=t.completed_at or utcnow(),
    )
