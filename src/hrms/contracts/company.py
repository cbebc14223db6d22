"""The company service's published contracts: its events, API views and a typed client."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from hrms.contracts import examples as ex
from isles import Event

if TYPE_CHECKING:
    from isles import ServiceClient

AGGREGATE = "company"


class CompanyCreated(Event):
    event_type: ClassVar[str] = "company.CompanyCreated"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    name: str
    is_active: bool


class HeadcountChanged(Event):
    event_type: ClassVar[str] = "company.HeadcountChanged"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    headcount: int
    delta: int


#: A company setting other services act on: the most an employee may be allocated in
#: total over overlapping project assignments, in percent (default 100; at most 500).
MAX_ALLOCATION = "max_allocation_percent"
DEFAULT_MAX_ALLOCATION = 100
ALLOWED_MAX_ALLOCATION = range(100, 501)


def max_allocation(settings: dict[str, str | None]) -> int:
    """The allocation limit a company's settings give (the default when unset)."""
    value = settings.get(MAX_ALLOCATION)
    return int(value) if value is not None else DEFAULT_MAX_ALLOCATION


class CompanySettingsChanged(Event):
    """A company's settings now (all of them, not only the one that changed)."""

    event_type: ClassVar[str] = "company.CompanySettingsChanged"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    settings: dict[str, str | None]
    changes: list[str]


class DepartmentCreated(Event):
    event_type: ClassVar[str] = "company.DepartmentCreated"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    company_id: uuid.UUID
    name: str
    manager_id: uuid.UUID | None = None


class DepartmentUpdated(Event):
    event_type: ClassVar[str] = "company.DepartmentUpdated"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    company_id: uuid.UUID
    name: str
    manager_id: uuid.UUID | None = None
    changes: list[str] = []


class DepartmentDeleted(Event):
    """A department is gone: employees in it have none now (the employee service clears it)."""

    event_type: ClassVar[str] = "company.DepartmentDeleted"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    company_id: uuid.UUID


class TeamCreated(Event):
    event_type: ClassVar[str] = "company.TeamCreated"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    company_id: uuid.UUID
    name: str
    department_id: uuid.UUID | None = None
    lead_id: uuid.UUID | None = None


class TeamUpdated(Event):
    event_type: ClassVar[str] = "company.TeamUpdated"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    company_id: uuid.UUID
    name: str
    department_id: uuid.UUID | None = None
    lead_id: uuid.UUID | None = None
    changes: list[str] = []


class TeamDeleted(Event):
    event_type: ClassVar[str] = "company.TeamDeleted"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    company_id: uuid.UUID


class TeamMemberAdded(Event):
    event_type: ClassVar[str] = "company.TeamMemberAdded"
    schema_version: ClassVar[int] = 1

    team_id: uuid.UUID
    employee_id: uuid.UUID
    company_id: uuid.UUID
    role: str


class TeamMemberRemoved(Event):
    event_type: ClassVar[str] = "company.TeamMemberRemoved"
    schema_version: ClassVar[int] = 1

    team_id: uuid.UUID
    employee_id: uuid.UUID
    company_id: uuid.UUID


class CompanyView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": ex.COMPANY_ID,
                    "name": ex.COMPANY,
                    "description": ex.COMPANY_DESCRIPTION,
                    "industry": "Software",
                    "size": "51-200",
                    "website": ex.WEBSITE,
                    "phone": ex.PHONE,
                    "address": ex.COMPANY_ADDRESS,
                    "is_active": True,
                    "headcount": 120,
                    "version": 4,
                    "created_at": ex.CREATED_AT,
                    "updated_at": ex.UPDATED_AT,
                }
            ]
        }
    )

    id: uuid.UUID
    name: str
    description: str | None
    industry: str | None
    size: str | None
    website: str | None
    phone: str | None
    address: str | None
    is_active: bool
    headcount: int
    version: int
    created_at: datetime
    updated_at: datetime


class SettingView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"key": "max_allocation_percent", "value": "150", "updated_at": ex.UPDATED_AT},
            ]
        }
    )

    key: str
    value: str | None
    updated_at: datetime


class DepartmentView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": ex.DEPARTMENT_ID,
                    "company_id": ex.COMPANY_ID,
                    "name": ex.DEPARTMENT,
                    "description": ex.DEPARTMENT_DESCRIPTION,
                    "manager_id": ex.MANAGER_ID,
                    "version": 2,
                    "created_at": ex.CREATED_AT,
                    "updated_at": ex.UPDATED_AT,
                }
            ]
        }
    )

    id: uuid.UUID
    company_id: uuid.UUID
    name: str
    description: str | None
    manager_id: uuid.UUID | None
    version: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = Field(
        default=None,
        description="When it was deleted (it stays readable by its id: others hold it); null while it exists.",
        examples=["2026-06-30T17:00:00Z"],
    )


class TeamView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": ex.TEAM_ID,
                    "company_id": ex.COMPANY_ID,
                    "department_id": ex.DEPARTMENT_ID,
                    "name": ex.TEAM,
                    "description": ex.TEAM_DESCRIPTION,
                    "lead_id": ex.MANAGER_ID,
                    "members": 5,
                    "version": 2,
                    "created_at": ex.CREATED_AT,
                    "updated_at": ex.UPDATED_AT,
                }
            ]
        }
    )

    id: uuid.UUID
    company_id: uuid.UUID
    department_id: uuid.UUID | None
    name: str
    description: str | None
    lead_id: uuid.UUID | None
    members: int
    version: int
    created_at: datetime
    updated_at: datetime


class MemberView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"team_id": ex.TEAM_ID, "employee_id": ex.EMPLOYEE_ID, "role": "member", "created_at": ex.CREATED_AT},
            ]
        }
    )

    team_id: uuid.UUID
    employee_id: uuid.UUID
    role: str
    created_at: datetime


class CompanyClient:
    """The company service's API, over HTTP (or in-process in the embedded mode)."""

    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    async def get(self, company_id: uuid.UUID) -> CompanyView:
        return await self._client.call("GET", f"/companies/{company_id}", CompanyView)

    async def get_department(self, department_id: uuid.UUID) -> DepartmentView:
        return await self._client.call("GET", f"/departments/{department_id}", DepartmentView)
