"""The contract service's published contracts (issue 19): the life of an employment
contract.

A contract is made as a DRAFT, activated (ACTIVE from its start date; SCHEDULED
until then), and ends: ENDED (its end date passed, or a newer contract of the
employee began and superseded it) or TERMINATED (ended early, with a reason).
``ContractActivated`` and ``ContractChanged`` carry the terms the employee service
copies onto the employee (position, salary); the envelope's aggregate version is the
contract's, and ``start_date`` orders contracts of one employee (a later start is a
newer contract).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from isles import Event

AGGREGATE = "contract"
ContractType = Literal["permanent", "fixed_term", "contractor", "intern"]
ContractStatus = Literal["DRAFT", "SCHEDULED", "ACTIVE", "ENDED", "TERMINATED"]


class _Contract(Event):
    # The fields every contract event carries; never published itself.
    event_type: ClassVar[str] = "contract._Contract"

    id: uuid.UUID
    company_id: uuid.UUID
    employee_id: uuid.UUID


class _Terms(_Contract):
    event_type: ClassVar[str] = "contract._Terms"

    contract_type: ContractType
    position: str
    salary: Decimal
    currency: str
    weekly_hours: Decimal
    start_date: date
    end_date: date | None = None


class ContractCreated(_Terms):
    """A draft contract was made (not yet in force)."""

    event_type: ClassVar[str] = "contract.ContractCreated"
    schema_version: ClassVar[int] = 1


class ContractActivated(_Terms):
    """The contract is in force from ``start_date``: the employee's position and salary
    are its own from now on."""

    event_type: ClassVar[str] = "contract.ContractActivated"
    schema_version: ClassVar[int] = 1


class ContractChanged(_Terms):
    """The terms of an active contract changed (``changes``: the fields)."""

    event_type: ClassVar[str] = "contract.ContractChanged"
    schema_version: ClassVar[int] = 1

    changes: list[str] = []


class ContractEnded(_Contract):
    """The contract is over: its end date passed, or ``superseded_by`` (a newer contract
    of the employee) began the day after ``end_date``."""

    event_type: ClassVar[str] = "contract.ContractEnded"
    schema_version: ClassVar[int] = 1

    end_date: date
    superseded_by: uuid.UUID | None = None


class ContractTerminated(_Contract):
    """The contract was ended early, on ``end_date``, for ``reason``."""

    event_type: ClassVar[str] = "contract.ContractTerminated"
    schema_version: ClassVar[int] = 1

    end_date: date
    reason: str


class ContractEnding(_Contract):
    """An active contract ends within ``within_days`` (30, then 7): raised once per
    contract and window by the daily job."""

    event_type: ClassVar[str] = "contract.ContractEnding"
    schema_version: ClassVar[int] = 1

    position: str
    end_date: date
    within_days: int
    days_left: int


class ContractView(BaseModel):
    """A contract as the contract service's API returns it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    company_id: uuid.UUID
    employee_id: uuid.UUID
    contract_type: ContractType
    status: ContractStatus
    start_date: date
    end_date: date | None
    weekly_hours: Decimal
    salary: Decimal
    currency: str
    position: str
    notice_period_days: int
    signed_document_id: uuid.UUID | None
    terminated_on: date | None = Field(examples=["2025-11-30"])
    termination_reason: str | None = Field(examples=["Moved abroad"])
    superseded_by: uuid.UUID | None = Field(
        description="The newer contract that ended this one.", examples=["b4d6f8a0-2c4e-4a6c-8e0a-3b5d7f9a1c2e"]
    )
    deleted_at: datetime | None = Field(examples=["2025-03-02T10:00:00Z"])
    version: int
    created_at: datetime
    updated_at: datetime

    @field_validator("weekly_hours")
    @classmethod
    def _two_places(cls, value: Decimal) -> Decimal:
        return value.quantize(Decimal("0.01"))  # SQLite hands NUMERIC back as a float's digits
