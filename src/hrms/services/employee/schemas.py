"""Request bodies of the employee API."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from hrms.contracts import examples as ex
from hrms.contracts.employee import EmployeeView
from hrms.contracts.permissions import RoleName
from isles import field_error

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, max_length=255, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    Field(examples=[ex.EMAIL]),
]
Number = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Phone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=50, pattern=r"^[0-9+() .\-]*$"),
    Field(examples=[ex.PHONE]),
]
Salary = Annotated[Decimal, Field(ge=0, max_digits=10, decimal_places=2)]
#: How far ahead a hire may be recorded (an offer signed today for next season).
HIRE_AHEAD_DAYS = 366


def _not_far_ahead(value: date | None) -> date | None:
    if value is not None and value > date.today() + timedelta(days=HIRE_AHEAD_DAYS):
        raise field_error("hire_date", f"at most {HIRE_AHEAD_DAYS} days ahead (a hire date, not a guess)")
    return value


HireDate = Annotated[date, AfterValidator(_not_far_ahead)]


class EmployeeCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "employee_number": "E-1001",
                    "first_name": ex.FIRST_NAME,
                    "last_name": ex.LAST_NAME,
                    "email": ex.EMAIL,
                    "phone": ex.PHONE,
                    "position": ex.POSITION,
                    "hire_date": ex.HIRE_DATE,
                    "salary": 85000,
                    "roles": ["employee"],
                }
            ]
        },
    )

    employee_number: Number = Field(examples=["E-1001"])
    company_id: uuid.UUID | None = Field(
        default=None, description="Default: the caller's company.", examples=[ex.COMPANY_ID]
    )
    user_id: uuid.UUID | None = Field(
        default=None,
        description="An existing auth user to link; without it the user is created.",
        examples=[ex.USER_ID],
    )
    first_name: Name = Field(examples=[ex.FIRST_NAME])
    last_name: Name = Field(examples=[ex.LAST_NAME])
    email: Email
    phone: Phone | None = None
    position: Name | None = Field(default=None, examples=[ex.POSITION])
    department_id: uuid.UUID | None = Field(
        default=None, description="A department of the company.", examples=[ex.DEPARTMENT_ID]
    )
    manager_id: uuid.UUID | None = Field(
        default=None, description="An active employee of the company.", examples=[ex.MANAGER_ID]
    )
    hire_date: HireDate = Field(examples=[ex.HIRE_DATE])
    salary: Salary | None = Field(default=None, examples=[85000])
    roles: Annotated[list[RoleName], Field(min_length=1, max_length=3)] = Field(
        default=["employee"], examples=[["employee"]]
    )


class EmployeeUpdate(BaseModel):
    """Fields to change; absent fields stay as they are."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"position": "Senior Engineer", "salary": 92000}]}
    )

    first_name: Name | None = Field(default=None, examples=[ex.FIRST_NAME])
    last_name: Name | None = Field(default=None, examples=[ex.LAST_NAME])
    email: Email | None = None
    phone: Phone | None = None
    position: Name | None = Field(default=None, examples=["Senior Engineer"])
    department_id: uuid.UUID | None = Field(default=None, examples=[ex.DEPARTMENT_ID])
    manager_id: uuid.UUID | None = Field(default=None, examples=[ex.MANAGER_ID])
    hire_date: HireDate | None = Field(default=None, examples=[ex.HIRE_DATE])
    salary: Salary | None = Field(default=None, examples=[92000])

    def changes(self) -> dict[str, object]:
        data = self.model_dump(exclude_unset=True)
        for required in ("first_name", "last_name", "email", "hire_date"):
            if required in data and data[required] is None:
                raise ValueError(required)
        return data


Item = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class ProfilePut(BaseModel):
    """An employee's profile, whole (absent fields become empty)."""

    model_config = ConfigDict(extra="forbid")

    date_of_birth: date | None = Field(default=None, examples=["1990-12-10"])
    gender: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None = Field(
        default=None, examples=["female"]
    )
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=10_000)] | None = Field(
        default=None, examples=["12 St James's Square, London SW1Y 4JH, United Kingdom"]
    )
    emergency_contact_name: Name | None = Field(default=None, examples=["Mary Somerville"])
    emergency_contact_phone: Phone | None = Field(default=None, examples=["+44 20 7946 0321"])
    skills: Annotated[list[Item], Field(max_length=100)] = Field(
        default=[], examples=[["Python", "Numerical analysis"]]
    )
    certifications: Annotated[list[Item], Field(max_length=100)] = Field(
        default=[], examples=[["AWS Certified Developer"]]
    )


class EmployeeVersion(BaseModel):
    """One version of an employee: its values and when they held. ``changed_by`` and
    ``change_reason`` are of the change that ended it (who: ``user:<id>``,
    ``service:<name>``, ``operator:<name>``; why: the request id or the event id);
    ``operation`` is that change (``update``); the current version has none."""

    employee: EmployeeView
    valid_from: datetime | None = Field(
        description="When this version began (null: before the history was kept).", examples=["2026-03-01T09:30:00Z"]
    )
    valid_to: datetime | None = Field(
        description="When it ended; null for the current version.", examples=["2026-06-15T14:05:12Z"]
    )
    changed_by: str | None = Field(examples=["user:3f6c1e0a-1b2c-4d5e-8f90-123456789abc"])
    change_reason: str | None = Field(examples=["PATCH /api/employee/employees/3f6c1e0a-1b2c-4d5e-8f90-123456789abc"])
    operation: str | None = Field(examples=["update"])


class EmployeeHistory(BaseModel):
    """An employee's versions, oldest first; the current one last."""

    items: list[EmployeeVersion] = Field(
        examples=[
            [
                {
                    "employee": EmployeeView.model_json_schema()["examples"][0],
                    "valid_from": "2025-03-01T09:00:00Z",
                    "valid_to": "2025-03-14T16:30:00Z",
                    "changed_by": "user:7c9e6679-7425-40de-944b-e07fc1f90ae7",
                    "change_reason": "PATCH /api/employee/employees/5b1f3c2e-8d4a-4e6b-9f0a-2c7d1e8b4a93",
                    "operation": "update",
                }
            ]
        ]
    )
