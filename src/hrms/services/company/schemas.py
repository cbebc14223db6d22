"""Request bodies of the company API."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10_000)]
Phone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=50, pattern=r"^[0-9+() .\-]*$"),
    Field(examples=["+44 20 7946 0958"]),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
#: A setting's key: lower case, digits, ``_ . -`` (``week.start``, ``leave_days``).
SETTING_KEY = r"^[a-z][a-z0-9_.\-]{0,99}$"


class CompanyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
    description: Text | None = None
    industry: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    size: Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)] | None = None
    website: Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)] | None = None
    phone: Phone | None = None
    address: Text | None = None


class SettingPut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: Text | None


class DepartmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Text | None = None
    manager_id: uuid.UUID | None = None
    company_id: uuid.UUID | None = None  # the caller's; an operator names one


class DepartmentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Text | None = None
    manager_id: uuid.UUID | None = None


class TeamCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Text | None = None
    department_id: uuid.UUID | None = None
    lead_id: uuid.UUID | None = None
    company_id: uuid.UUID | None = None  # the caller's; an operator names one


class TeamUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Text | None = None
    department_id: uuid.UUID | None = None
    lead_id: uuid.UUID | None = None


class MemberPut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["member", "lead"] = "member"
