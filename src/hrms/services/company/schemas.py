"""Request bodies of the company API."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from hrms.contracts import examples as ex

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10_000)]
Phone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=50, pattern=r"^[0-9+() .\-]*$"),
    Field(examples=[ex.PHONE]),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
#: A setting's key: lower case, digits, ``_ . -`` (``week.start``, ``leave_days``).
SETTING_KEY = r"^[a-z][a-z0-9_.\-]{0,99}$"


class CompanyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)] = Field(
        examples=[ex.COMPANY]
    )
    description: Text | None = Field(default=None, examples=[ex.COMPANY_DESCRIPTION])
    industry: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = Field(
        default=None, examples=["Software"]
    )
    size: Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)] | None = Field(
        default=None, examples=["51-200"]
    )
    website: Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)] | None = Field(
        default=None, examples=[ex.WEBSITE]
    )
    phone: Phone | None = None
    address: Text | None = Field(default=None, examples=[ex.COMPANY_ADDRESS])


class SettingPut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: Text | None = Field(examples=["150"])


class DepartmentCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": ex.DEPARTMENT, "description": ex.DEPARTMENT_DESCRIPTION}]},
    )

    name: Name = Field(examples=[ex.DEPARTMENT])
    description: Text | None = Field(default=None, examples=[ex.DEPARTMENT_DESCRIPTION])
    manager_id: uuid.UUID | None = Field(default=None, examples=[ex.MANAGER_ID])
    # the caller's; an operator names one
    company_id: uuid.UUID | None = Field(default=None, examples=[ex.COMPANY_ID])


class DepartmentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"manager_id": ex.MANAGER_ID}]})

    name: Name | None = Field(default=None, examples=[ex.DEPARTMENT])
    description: Text | None = Field(default=None, examples=[ex.DEPARTMENT_DESCRIPTION])
    manager_id: uuid.UUID | None = Field(default=None, examples=[ex.MANAGER_ID])


class TeamCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": ex.TEAM, "description": ex.TEAM_DESCRIPTION}]}
    )

    name: Name = Field(examples=[ex.TEAM])
    description: Text | None = Field(default=None, examples=[ex.TEAM_DESCRIPTION])
    department_id: uuid.UUID | None = Field(default=None, examples=[ex.DEPARTMENT_ID])
    lead_id: uuid.UUID | None = Field(default=None, examples=[ex.MANAGER_ID])
    # the caller's; an operator names one
    company_id: uuid.UUID | None = Field(default=None, examples=[ex.COMPANY_ID])


class TeamUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"lead_id": ex.MANAGER_ID}]})

    name: Name | None = Field(default=None, examples=[ex.TEAM])
    description: Text | None = Field(default=None, examples=[ex.TEAM_DESCRIPTION])
    department_id: uuid.UUID | None = Field(default=None, examples=[ex.DEPARTMENT_ID])
    lead_id: uuid.UUID | None = Field(default=None, examples=[ex.MANAGER_ID])


class MemberPut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["member", "lead"] = Field(default="member", examples=["member"])
