"""Request bodies of the employee API."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from hrms.contracts.permissions import RoleName
from isles import field_error

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, max_length=255, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    Field(examples=["ada.lovelace@example.com"]),
]
Number = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Phone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=50, pattern=r"^[0-9+() .\-]*$"),
    Field(examples=["+44 20 7946 0958"]),
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
    model_config = ConfigDict(extra="forbid")

    employee_number: Number
    company_id: uuid.UUID | None = Field(default=None, description="Default: the caller's company.")
    user_id: uuid.UUID | None = Field(
        default=None, description="An existing auth user to link; without it the user is created."
    )
    first_name: Name
    last_name: Name
    email: Email
    phone: Phone | None = None
    position: Name | None = None
    department_id: uuid.UUID | None = Field(default=None, description="A department of the company.")
    manager_id: uuid.UUID | None = Field(default=None, description="An active employee of the company.")
    hire_date: HireDate
    salary: Salary | None = None
    roles: Annotated[list[RoleName], Field(min_length=1, max_length=3)] = ["employee"]


class EmployeeUpdate(BaseModel):
    """Fields to change; absent fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    first_name: Name | None = None
    last_name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    position: Name | None = None
    department_id: uuid.UUID | None = None
    manager_id: uuid.UUID | None = None
    hire_date: HireDate | None = None
    salary: Salary | None = None

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

    date_of_birth: date | None = None
    gender: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None = None
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=10_000)] | None = None
    emergency_contact_name: Name | None = None
    emergency_contact_phone: Phone | None = None
    skills: Annotated[list[Item], Field(max_length=100)] = []
    certifications: Annotated[list[Item], Field(max_length=100)] = []
