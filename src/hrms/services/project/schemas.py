"""Request and response bodies of the project API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from hrms.contracts import examples as ex
from isles import field_error

ProjectName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Client = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Role = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Capacity = Annotated[int, Field(ge=0, le=100_000, description="How many active assignments the project takes.")]
DESCRIPTION = "Guidance software for the lunar module: navigation, landing and abort."


class ProjectCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": ex.PROJECT, "client": ex.CLIENT, "description": DESCRIPTION, "capacity": 8}]
        },
    )

    company_id: uuid.UUID | None = Field(
        default=None, description="Default: the caller's company.", examples=[ex.COMPANY_ID]
    )
    name: ProjectName = Field(examples=[ex.PROJECT])
    client: Client = Field(examples=[ex.CLIENT])
    description: Annotated[str, StringConstraints(max_length=10_000)] | None = Field(
        default=None, examples=[DESCRIPTION]
    )
    capacity: Capacity = Field(examples=[8])


class ProjectUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"capacity": 10}]})

    name: ProjectName | None = Field(default=None, examples=[ex.PROJECT])
    client: Client | None = Field(default=None, examples=[ex.CLIENT])
    description: Annotated[str, StringConstraints(max_length=10_000)] | None = Field(
        default=None, examples=[DESCRIPTION]
    )
    capacity: Capacity | None = Field(default=None, examples=[10])


class ProjectView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": ex.PROJECT_ID,
                    "name": ex.PROJECT,
                    "client": ex.CLIENT,
                    "description": DESCRIPTION,
                    "status": "active",
                    "capacity": 8,
                    "assigned_count": 3,
                    "capacity_left": 5,
                    "version": 2,
                    "created_at": ex.CREATED_AT,
                    "updated_at": ex.UPDATED_AT,
                }
            ]
        }
    )

    id: uuid.UUID
    name: str
    client: str
    description: str | None
    status: str
    capacity: int
    assigned_count: int
    capacity_left: int
    completed_at: datetime | None = Field(examples=["2025-12-19T17:00:00Z"])
    version: int
    created_at: datetime
    updated_at: datetime


class AssignmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    employee_id: uuid.UUID = Field(examples=[ex.EMPLOYEE_ID])
    project_id: uuid.UUID = Field(examples=[ex.PROJECT_ID])
    role: Role = Field(examples=[ex.ROLE])
    allocation: Annotated[int, Field(ge=1, le=100, description="Percent of the employee's time.")] = Field(
        examples=[50]
    )
    start_date: date = Field(examples=[ex.START_DATE])
    end_date: date | None = Field(default=None, examples=[ex.END_DATE])

    @model_validator(mode="after")
    def _dates_ordered(self) -> Self:
        if self.end_date is not None and self.end_date < self.start_date:
            raise field_error("end_date", "must not be before start_date")
        return self


class AssignmentView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": ex.ASSIGNMENT_ID,
                    "employee_id": ex.EMPLOYEE_ID,
                    "project_id": ex.PROJECT_ID,
                    "employee_name": f"{ex.FIRST_NAME} {ex.LAST_NAME}",
                    "employee_active": True,
                    "project_name": ex.PROJECT,
                    "client_name": ex.CLIENT,
                    "role": ex.ROLE,
                    "allocation": 50,
                    "start_date": ex.START_DATE,
                    "end_date": ex.END_DATE,
                    "created_at": ex.CREATED_AT,
                    "updated_at": ex.CREATED_AT,
                }
            ]
        }
    )

    id: uuid.UUID
    employee_id: uuid.UUID
    project_id: uuid.UUID
    employee_name: str
    employee_active: bool
    project_name: str
    client_name: str
    role: str
    allocation: int
    start_date: date
    end_date: date | None
    deleted_at: datetime | None = Field(examples=["2025-06-30T17:00:00Z"])
    created_at: datetime
    updated_at: datetime
