"""Request and response bodies of the project API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from isles import field_error

ProjectName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Client = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Role = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Capacity = Annotated[int, Field(ge=0, le=100_000, description="How many active assignments the project takes.")]


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: uuid.UUID | None = Field(default=None, description="Default: the caller's company.")
    name: ProjectName
    client: Client
    description: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    capacity: Capacity


class ProjectUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ProjectName | None = None
    client: Client | None = None
    description: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    capacity: Capacity | None = None


class ProjectView(BaseModel):
    id: uuid.UUID
    name: str
    client: str
    description: str | None
    status: str
    capacity: int
    assigned_count: int
    capacity_left: int
    completed_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


class AssignmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    employee_id: uuid.UUID
    project_id: uuid.UUID
    role: Role
    allocation: Annotated[int, Field(ge=1, le=100, description="Percent of the employee's time.")]
    start_date: date
    end_date: date | None = None

    @model_validator(mode="after")
    def _dates_ordered(self) -> Self:
        if self.end_date is not None and self.end_date < self.start_date:
            raise field_error("end_date", "must not be before start_date")
        return self


class AssignmentView(BaseModel):
    id: uuid.UUID
    employee_id: uuid.UUID
    project_id: uuid.UUID
    employee_name: str
    employee_active: bool
    project_name: str
    role: str
    allocation: int
    start_date: date
    end_date: date | None
    deleted_at: datetime | None
    created_at: datetime
    updated_at: datetime
