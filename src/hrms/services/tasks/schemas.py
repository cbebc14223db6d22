"""Request and response bodies of the tasks API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from hrms.contracts import examples as ex
from hrms.contracts.tasks import Priority, TaskStatus

TASK_ID = "b3d9f2a1-6c4e-4f7a-8e2b-5a1c9d7e3f60"
TITLE = "Review the landing-radar interface"
DESCRIPTION = "Check the interface document against the simulator runs and note any gaps."
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=10_000)]


class TaskCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title": TITLE,
                    "description": DESCRIPTION,
                    "priority": "high",
                    "due_date": ex.END_DATE,
                    "assignee_id": ex.EMPLOYEE_ID,
                }
            ]
        },
    )

    company_id: uuid.UUID | None = Field(
        default=None, description="Default: the caller's company.", examples=[ex.COMPANY_ID]
    )
    title: Title = Field(examples=[TITLE])
    description: Description | None = Field(default=None, examples=[DESCRIPTION])
    priority: Priority = Field(default="medium", examples=["high"])
    due_date: date | None = Field(default=None, examples=[ex.END_DATE])
    assignee_id: uuid.UUID | None = Field(
        default=None,
        description="An active employee of the company (none: unassigned for now).",
        examples=[ex.EMPLOYEE_ID],
    )


class TaskUpdate(BaseModel):
    """The fields to change (those left out stay). ``status`` moves the task along
    its transitions (see the service's documentation)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"status": "IN_PROGRESS"}]})

    title: Title | None = Field(default=None, examples=[TITLE])
    description: Description | None = Field(default=None, examples=[DESCRIPTION])
    priority: Priority | None = Field(default=None, examples=["urgent"])
    due_date: date | None = Field(default=None, examples=[ex.END_DATE])
    status: TaskStatus | None = Field(default=None, examples=["DONE"])


class TaskAssign(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignee_id: uuid.UUID = Field(description="An active employee of the task's company.", examples=[ex.EMPLOYEE_ID])


class TaskView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": TASK_ID,
                    "company_id": ex.COMPANY_ID,
                    "title": TITLE,
                    "description": DESCRIPTION,
                    "status": "IN_PROGRESS",
                    "priority": "high",
                    "due_date": ex.END_DATE,
                    "creator_id": ex.MANAGER_ID,
                    "creator_name": ex.MANAGER,
                    "assignee_id": ex.EMPLOYEE_ID,
                    "assignee_name": f"{ex.FIRST_NAME} {ex.LAST_NAME}",
                    "needs_reassignment": False,
                    "completed_at": None,
                    "version": 3,
                    "created_at": ex.CREATED_AT,
                    "updated_at": ex.UPDATED_AT,
                }
            ]
        }
    )

    id: uuid.UUID
    company_id: uuid.UUID
    title: str
    description: str | None
    status: TaskStatus
    priority: Priority
    due_date: date | None
    creator_id: uuid.UUID | None = Field(description="The employee who made it (null: the operator).")
    creator_name: str | None = Field(default=None, description="The creator's full name (null while unknown).")
    assignee_id: uuid.UUID | None
    assignee_name: str | None = Field(default=None, description="The assignee's full name (null while unknown).")
    needs_reassignment: bool = Field(
        description="The assignee was deactivated while the task was open: assign it to someone else."
    )
    completed_at: datetime | None = Field(examples=["2025-03-20T15:00:00Z"])
    version: int
    created_at: datetime
    updated_at: datetime
