"""The employee service's published contracts: its events and its API view."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, Field

from hrms.contracts import examples as ex
from isles import Event, Upcaster

if TYPE_CHECKING:
    from isles import ServiceClient

AGGREGATE = "employee"


class EmployeeCreated(Event):
    event_type: ClassVar[str] = "employee.EmployeeCreated"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    employee_number: str
    company_id: uuid.UUID
    user_id: uuid.UUID
    first_name: str
    last_name: str
    email: str
    position: str | None = None
    department_id: uuid.UUID | None = None
    manager_id: uuid.UUID | None = None
    hire_date: date
    is_active: bool = True

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


def _updated_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 was the seed's ``EmployeeUpdated { id, name, email }``; v2 carries the
    replicated state in full. v1 had no active flag: only active employees could be
    updated then, so an upcast v1 event says active."""
    first, _, last = str(data["name"]).strip().partition(" ")
    return {
        "id": data["id"],
        "first_name": first,
        "last_name": last,
        "email": data["email"],
        "is_active": True,
        "changes": [],
    }


class EmployeeUpdated(Event):
    event_type: ClassVar[str] = "employee.EmployeeUpdated"
    schema_version: ClassVar[int] = 2
    upcasters: ClassVar[dict[int, Upcaster]] = {1: _updated_v1_to_v2}

    id: uuid.UUID
    first_name: str
    last_name: str
    email: str
    is_active: bool
    employee_number: str | None = None
    company_id: uuid.UUID | None = None
    position: str | None = None
    department_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    manager_id: uuid.UUID | None = None
    changes: list[str] = []

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class EmployeeDeactivated(Event):
    event_type: ClassVar[str] = "employee.EmployeeDeactivated"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    first_name: str
    last_name: str
    email: str
    is_active: bool = False
    deactivated_at: datetime
    company_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    department_id: uuid.UUID | None = None

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class EmployeeView(BaseModel):
    """An employee as the employee service's API returns it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": ex.EMPLOYEE_ID,
                    "employee_number": "E-1001",
                    "company_id": ex.COMPANY_ID,
                    "user_id": ex.USER_ID,
                    "first_name": ex.FIRST_NAME,
                    "last_name": ex.LAST_NAME,
                    "email": ex.EMAIL,
                    "phone": ex.PHONE,
                    "position": ex.POSITION,
                    "department_id": ex.DEPARTMENT_ID,
                    "department_name": ex.DEPARTMENT,
                    "manager_id": ex.MANAGER_ID,
                    "manager_name": ex.MANAGER,
                    "hire_date": ex.HIRE_DATE,
                    "salary": "85000.00",
                    "is_active": True,
                    "version": 3,
                    "created_at": ex.CREATED_AT,
                    "updated_at": ex.UPDATED_AT,
                }
            ]
        }
    )

    id: uuid.UUID
    employee_number: str
    company_id: uuid.UUID
    user_id: uuid.UUID
    first_name: str
    last_name: str
    email: str
    phone: str | None
    position: str | None
    department_id: uuid.UUID | None
    department_name: str | None = Field(
        default=None, description="The department's name (kept from company events; null while unknown)."
    )
    manager_id: uuid.UUID | None
    manager_name: str | None = Field(default=None, description="The manager's full name.")
    hire_date: date
    salary: Decimal | None
    contract_id: uuid.UUID | None = Field(
        default=None,
        description="The active contract, which sets position and salary (null: none).",
        examples=["a3c5e7f9-1b2d-4f6a-8c0e-2a4c6e8f0b1d"],
    )
    is_active: bool
    version: int
    created_at: datetime
    updated_at: datetime

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class ProfileView(BaseModel):
    """An employee's profile (seed 001's employee_profiles)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "employee_id": ex.EMPLOYEE_ID,
                    "date_of_birth": "1990-12-10",
                    "gender": "female",
                    "address": "12 St James's Square, London SW1Y 4JH, United Kingdom",
                    "emergency_contact_name": "Mary Somerville",
                    "emergency_contact_phone": "+44 20 7946 0321",
                    "skills": ["Python", "Numerical analysis"],
                    "certifications": ["AWS Certified Developer"],
                    "updated_at": ex.UPDATED_AT,
                }
            ]
        }
    )

    employee_id: uuid.UUID
    date_of_birth: date | None
    gender: str | None
    address: str | None
    emergency_contact_name: str | None
    emergency_contact_phone: str | None
    skills: list[str]
    certifications: list[str]
    updated_at: datetime


class EmployeeDirectory(Protocol):
    """How another service looks an employee up (raises NotFound, ServiceUnavailable)."""

    async def get(self, employee_id: uuid.UUID) -> EmployeeView: ...


class EmployeeClient:
    """The employee service's API, over HTTP (or in-process in the embedded mode)."""

    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    async def get(self, employee_id: uuid.UUID) -> EmployeeView:
        return await self._client.call("GET", f"/employees/{employee_id}", EmployeeView)
