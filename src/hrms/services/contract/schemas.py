"""Request and response bodies of the contract API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from hrms.contracts import examples as ex
from hrms.contracts.contract import ContractType, ContractView
from isles import field_error

CONTRACT_ID = "a3c5e7f9-1b2d-4f6a-8c0e-2a4c6e8f0b1d"
DOCUMENT_ID = "d0c0d0c0-1a2b-4c3d-8e4f-5a6b7c8d9e0f"

Position = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Hours = Annotated[Decimal, Field(gt=0, le=80, max_digits=5, decimal_places=2, examples=["40"])]
Salary = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2, examples=["65000.00"])]
Day = Annotated[date, Field(ge=date(1900, 1, 1), le=date(2200, 12, 31))]
Notice = Annotated[int, Field(ge=0, le=3650, examples=[30])]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
COMPANY = Field(default=None, description="Default: the caller's company.", examples=[ex.COMPANY_ID])
DATED = ("fixed_term", "intern")

_EXAMPLE: dict[str, Any] = {
    "employee_id": ex.EMPLOYEE_ID,
    "contract_type": "fixed_term",
    "start_date": ex.START_DATE,
    "end_date": ex.END_DATE,
    "weekly_hours": "40",
    "salary": "65000.00",
    "currency": "EUR",
    "position": ex.POSITION,
    "notice_period_days": 30,
}


def _dates_ordered(start: date | None, end: date | None) -> None:
    if start is not None and end is not None and end <= start:
        raise field_error("end_date", "must be after start_date")


class ContractCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    company_id: uuid.UUID | None = COMPANY
    employee_id: uuid.UUID
    contract_type: ContractType
    start_date: Day
    end_date: Day | None = Field(default=None, description="Required for fixed_term and intern; after start_date.")
    weekly_hours: Hours
    salary: Salary
    currency: Currency = Field(description="ISO 4217 code.", examples=["EUR"])
    position: Position = Field(examples=[ex.POSITION])
    notice_period_days: Notice = 0
    signed_document_id: uuid.UUID | None = Field(
        default=None, description="The signed contract in the document service.", examples=[DOCUMENT_ID]
    )

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.contract_type in DATED and self.end_date is None:
            raise field_error("end_date", f"required for a {self.contract_type} contract")
        _dates_ordered(self.start_date, self.end_date)
        return self


class ContractUpdate(BaseModel):
    """The terms that may change: all of a draft's; an active contract's but its type
    and start date."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"salary": "68000.00"}]})

    contract_type: ContractType | None = None
    start_date: Day | None = Field(default=None, examples=[ex.START_DATE])
    end_date: Day | None = Field(default=None, examples=[ex.END_DATE])
    weekly_hours: Hours | None = None
    salary: Salary | None = None
    currency: Currency | None = Field(default=None, examples=["EUR"])
    position: Position | None = Field(default=None, examples=[ex.POSITION])
    notice_period_days: Notice | None = None
    signed_document_id: uuid.UUID | None = Field(default=None, examples=[DOCUMENT_ID])

    @model_validator(mode="after")
    def _rules(self) -> Self:
        _dates_ordered(self.start_date, self.end_date)
        return self


class Termination(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"date": ex.END_DATE, "reason": "Moved"}]}
    )

    date: Day = Field(description="The contract's last day.")
    reason: Reason


class ContractOut(ContractView):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    **_EXAMPLE,
                    "id": CONTRACT_ID,
                    "company_id": ex.COMPANY_ID,
                    "status": "ACTIVE",
                    "signed_document_id": DOCUMENT_ID,
                    "terminated_on": None,
                    "termination_reason": None,
                    "superseded_by": None,
                    "deleted_at": None,
                    "version": 2,
                    "created_at": ex.CREATED_AT,
                    "updated_at": ex.CREATED_AT,
                }
            ]
        },
    )


class HistoryEntry(BaseModel):
    """One past version of a contract: its terms then, and the change that ended it."""

    valid_from: datetime | None = Field(examples=[ex.CREATED_AT])
    valid_to: datetime | None = Field(description="None: the current version.", examples=["2025-04-01T08:00:00Z"])
    changed_by: str = Field(examples=[f"user:{ex.USER_ID}"])
    change_reason: str = Field(examples=["event:0190f3a2-..."])
    operation: str = Field(examples=["update"])
    contract: ContractOut


class JobRun(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: uuid.UUID | None = COMPANY
    day: Day = Field(description="The day to run the job for (today's date by default).", examples=["2025-03-01"])


class JobResult(BaseModel):
    job: str = Field(examples=["advance"])
    day: date = Field(examples=["2025-03-01"])
    summary: str = Field(examples=["advance 2025-03-01: 2 activated, 1 ended, 1 ending notices"])
    activated: int = Field(examples=[2])
    ended: int = Field(examples=[1])
    notices: int = Field(examples=[1])
