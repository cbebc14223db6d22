"""Request and response bodies of the leave API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from hrms.contracts import examples as ex
from hrms.contracts.leave import DayPart
from isles import field_error

LEAVE_TYPE_ID = "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b"
REQUEST_ID = "0e9d8c7b-6a5f-4e3d-9c2b-1a0f9e8d7c6b"
HOLIDAY_ID = "4a3b2c1d-0e9f-4a8b-b7c6-d5e4f3a2b1c0"
ENTRY_ID = "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e"
APPROVAL_ID = "d4c3b2a1-9f8e-4d7c-a6b5-c4d3e2f1a0b9"

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Days = Annotated[Decimal, Field(ge=0, le=1000, max_digits=6, decimal_places=2)]
SignedDays = Annotated[Decimal, Field(ge=-1000, le=1000, max_digits=6, decimal_places=2)]
Day = Annotated[date, Field(ge=date(2000, 1, 1), le=date(2100, 12, 31))]
Year = Annotated[int, Field(ge=2000, le=2100)]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
COMPANY = Field(default=None, description="Default: the caller's company.", examples=[ex.COMPANY_ID])


class LeaveTypeRules(BaseModel):
    """The rules of a leave type (every field optional in an update)."""

    model_config = ConfigDict(extra="forbid")

    paid: bool | None = None
    allowance_days: Days | None = Field(default=None, description="Days allocated per year.", examples=["25"])
    monthly_accrual: Days | None = Field(
        default=None, description="Days the monthly accrual job adds (none: no accrual).", examples=["2.08"]
    )
    half_days: bool | None = Field(default=None, description="Whether half days may be requested.")
    max_consecutive_days: Days | None = Field(default=None, gt=0, examples=["15"])
    allow_negative: bool | None = Field(default=None, description="Whether the balance may go below zero.")
    carry_forward_cap: Days | None = Field(
        default=None, description="The most days carried into the next year (0: none).", examples=["5"]
    )
    carry_forward_expiry_months: Annotated[int, Field(ge=1, le=24)] | None = Field(
        default=None,
        description="Carried-forward days expire this many months into the year (none: never).",
        examples=[3],
    )
    min_notice_days: Annotated[int, Field(ge=0, le=365)] | None = Field(
        default=None, description="Days between the request and its first day, at least.", examples=[7]
    )
    approval_levels: Literal[1, 2] | None = Field(default=None, description="1: the manager; 2: then HR (an admin).")


class LeaveTypeCreate(LeaveTypeRules):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Annual leave",
                    "paid": True,
                    "allowance_days": "25",
                    "carry_forward_cap": "5",
                    "carry_forward_expiry_months": 3,
                    "min_notice_days": 7,
                    "approval_levels": 1,
                }
            ]
        },
    )

    company_id: uuid.UUID | None = COMPANY
    name: Name = Field(examples=["Annual leave"])


class LeaveTypeUpdate(LeaveTypeRules):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"allowance_days": "27"}]})

    name: Name | None = Field(default=None, examples=["Annual leave"])


class LeaveTypeView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": LEAVE_TYPE_ID,
                    "company_id": ex.COMPANY_ID,
                    "name": "Annual leave",
                    "paid": True,
                    "allowance_days": "25.00",
                    "monthly_accrual": "2.08",
                    "half_days": True,
                    "max_consecutive_days": "15.00",
                    "allow_negative": False,
                    "carry_forward_cap": "5.00",
                    "carry_forward_expiry_months": 3,
                    "min_notice_days": 7,
                    "approval_levels": 1,
                    "is_active": True,
                    "version": 1,
                    "created_at": ex.CREATED_AT,
                    "updated_at": ex.UPDATED_AT,
                }
            ]
        }
    )

    id: uuid.UUID = Field(examples=[LEAVE_TYPE_ID])
    company_id: uuid.UUID = Field(examples=[ex.COMPANY_ID])
    name: str = Field(examples=["Annual leave"])
    paid: bool
    allowance_days: Decimal = Field(examples=["25.00"])
    monthly_accrual: Decimal | None = Field(examples=["2.08"])
    half_days: bool
    max_consecutive_days: Decimal | None = Field(examples=["15.00"])
    allow_negative: bool
    carry_forward_cap: Decimal = Field(examples=["5.00"])
    carry_forward_expiry_months: int | None = Field(examples=[3])
    min_notice_days: int = Field(examples=[7])
    approval_levels: int = Field(examples=[1])
    is_active: bool
    version: int = Field(examples=[1])
    created_at: datetime = Field(examples=[ex.CREATED_AT])
    updated_at: datetime = Field(examples=[ex.UPDATED_AT])


class WorkWeekUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: uuid.UUID | None = COMPANY
    working_days: list[Weekday] = Field(
        min_length=1, max_length=7, examples=[["monday", "tuesday", "wednesday", "thursday", "friday"]]
    )


class WorkWeekView(BaseModel):
    company_id: uuid.UUID = Field(examples=[ex.COMPANY_ID])
    working_days: list[str] = Field(examples=[["monday", "tuesday", "wednesday", "thursday", "friday"]])


class HolidayCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: uuid.UUID | None = COMPANY
    name: Name = Field(examples=["Christmas Day"])
    day: Day = Field(examples=["2025-12-25"])
    recurring: bool = Field(default=False, description="Every year on this month and day.")


class HolidayView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": HOLIDAY_ID,
                    "company_id": ex.COMPANY_ID,
                    "name": "Christmas Day",
                    "day": "2025-12-25",
                    "recurring": True,
                    "created_at": ex.CREATED_AT,
                }
            ]
        }
    )

    id: uuid.UUID = Field(examples=[HOLIDAY_ID])
    company_id: uuid.UUID = Field(examples=[ex.COMPANY_ID])
    name: str = Field(examples=["Christmas Day"])
    day: date = Field(examples=["2025-12-25"])
    recurring: bool
    created_at: datetime = Field(examples=[ex.CREATED_AT])


class AllocationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    employee_id: uuid.UUID = Field(examples=[ex.EMPLOYEE_ID])
    leave_type_id: uuid.UUID = Field(examples=[LEAVE_TYPE_ID])
    year: Year = Field(examples=[2025])
    days: Days | None = Field(default=None, description="Default: the type's yearly allowance.", examples=["25"])
    reason: Text | None = Field(default=None, examples=["Yearly allowance"])


class AdjustmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    employee_id: uuid.UUID = Field(examples=[ex.EMPLOYEE_ID])
    leave_type_id: uuid.UUID = Field(examples=[LEAVE_TYPE_ID])
    year: Year = Field(examples=[2025])
    days: SignedDays = Field(description="Positive credits, negative debits.", examples=["-1.5"])
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)] = Field(
        examples=["Worked on a public holiday"]
    )

    @model_validator(mode="after")
    def _not_zero(self) -> Self:
        if self.days == 0:
            raise field_error("days", "an adjustment of 0 days changes nothing")
        return self


class LedgerEntryView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": ENTRY_ID,
                    "employee_id": ex.EMPLOYEE_ID,
                    "leave_type_id": LEAVE_TYPE_ID,
                    "year": 2025,
                    "kind": "taken",
                    "days": "-5.00",
                    "effective_on": "2025-08-04",
                    "period_key": f"taken:{REQUEST_ID}",
                    "request_id": REQUEST_ID,
                    "created_by": ex.USER_ID,
                    "created_at": ex.CREATED_AT,
                }
            ]
        }
    )

    id: uuid.UUID = Field(examples=[ENTRY_ID])
    employee_id: uuid.UUID = Field(examples=[ex.EMPLOYEE_ID])
    leave_type_id: uuid.UUID = Field(examples=[LEAVE_TYPE_ID])
    year: int = Field(examples=[2025])
    kind: str = Field(examples=["allocation"])
    days: Decimal = Field(examples=["25.00"])
    effective_on: date = Field(examples=["2025-01-01"])
    expires_on: date | None = Field(examples=["2026-03-31"])
    period_key: str | None = Field(examples=["accrual:2025-03"])
    request_id: uuid.UUID | None = Field(examples=[REQUEST_ID])
    reason: str | None = Field(examples=["Yearly allowance"])
    created_by: uuid.UUID | None = Field(examples=[ex.USER_ID])
    created_at: datetime = Field(examples=[ex.CREATED_AT])


class BalanceView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "employee_id": ex.EMPLOYEE_ID,
                    "leave_type_id": LEAVE_TYPE_ID,
                    "leave_type_name": "Annual leave",
                    "year": 2025,
                    "credited": "25.00",
                    "taken": "3.50",
                    "balance": "21.50",
                    "pending": "2.00",
                    "available": "19.50",
                }
            ]
        }
    )

    employee_id: uuid.UUID = Field(examples=[ex.EMPLOYEE_ID])
    leave_type_id: uuid.UUID = Field(examples=[LEAVE_TYPE_ID])
    leave_type_name: str = Field(examples=["Annual leave"])
    year: int = Field(examples=[2025])
    credited: Decimal = Field(description="Allocated, accrued, carried and adjusted.", examples=["25.00"])
    taken: Decimal = Field(description="Approved leave, less cancellations.", examples=["3.50"])
    balance: Decimal = Field(description="credited - taken (the ledger's sum).", examples=["21.50"])
    pending: Decimal = Field(description="Days of requests awaiting a decision.", examples=["2.00"])
    available: Decimal = Field(description="balance - pending.", examples=["19.50"])


class LeaveRequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    employee_id: uuid.UUID | None = Field(
        default=None, description="Default: the caller (an admin may name anyone).", examples=[ex.EMPLOYEE_ID]
    )
    leave_type_id: uuid.UUID = Field(examples=[LEAVE_TYPE_ID])
    start_date: Day = Field(examples=["2025-08-04"])
    end_date: Day = Field(examples=["2025-08-08"])
    first_day: DayPart = Field(default="full", description="full, or its afternoon only (or morning: one day).")
    last_day: DayPart = Field(default="full", description="full, or its morning only (or afternoon: one day).")
    reason: Text | None = Field(default=None, examples=["Summer holiday"])

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.end_date < self.start_date:
            raise field_error("end_date", "must not be before start_date")
        if self.end_date.year != self.start_date.year:
            raise field_error("end_date", "a request stays within one leave year: make one per year")
        if self.start_date == self.end_date:
            if self.first_day != self.last_day:
                raise field_error("last_day", "a one-day request takes the same part in first_day and last_day")
        elif self.first_day == "morning":
            raise field_error("first_day", "the first day of a longer request is full or its afternoon")
        elif self.last_day == "afternoon":
            raise field_error("last_day", "the last day of a longer request is full or its morning")
        return self


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: Text | None = Field(default=None, examples=["Enjoy!"])


class ApprovalView(BaseModel):
    id: uuid.UUID = Field(examples=[APPROVAL_ID])
    level: int = Field(examples=[1])
    decision: str = Field(examples=["approved"])
    decided_by: uuid.UUID | None = Field(examples=[ex.MANAGER_ID])
    decided_by_user: uuid.UUID | None = Field(examples=[ex.USER_ID])
    decided_at: datetime = Field(examples=[ex.UPDATED_AT])
    comment: str | None = Field(examples=["Enjoy!"])


class LeaveRequestView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": REQUEST_ID,
                    "company_id": ex.COMPANY_ID,
                    "employee_id": ex.EMPLOYEE_ID,
                    "employee_name": f"{ex.FIRST_NAME} {ex.LAST_NAME}",
                    "leave_type_id": LEAVE_TYPE_ID,
                    "leave_type_name": "Annual leave",
                    "paid": True,
                    "start_date": "2025-08-04",
                    "end_date": "2025-08-08",
                    "first_day": "full",
                    "last_day": "full",
                    "days": "5.00",
                    "reason": "Summer holiday",
                    "status": "APPROVED",
                    "level": 1,
                    "levels": 1,
                    "approver_id": ex.MANAGER_ID,
                    "decided_at": ex.UPDATED_AT,
                    "approvals": [
                        {
                            "id": APPROVAL_ID,
                            "level": 1,
                            "decision": "approved",
                            "decided_by": ex.MANAGER_ID,
                            "decided_by_user": ex.USER_ID,
                            "decided_at": ex.UPDATED_AT,
                            "comment": "Enjoy!",
                        }
                    ],
                    "version": 2,
                    "created_at": ex.CREATED_AT,
                    "updated_at": ex.UPDATED_AT,
                }
            ]
        }
    )

    id: uuid.UUID = Field(examples=[REQUEST_ID])
    company_id: uuid.UUID = Field(examples=[ex.COMPANY_ID])
    employee_id: uuid.UUID = Field(examples=[ex.EMPLOYEE_ID])
    employee_name: str = Field(examples=[f"{ex.FIRST_NAME} {ex.LAST_NAME}"])
    leave_type_id: uuid.UUID = Field(examples=[LEAVE_TYPE_ID])
    leave_type_name: str = Field(examples=["Annual leave"])
    paid: bool
    start_date: date = Field(examples=["2025-08-04"])
    end_date: date = Field(examples=["2025-08-08"])
    first_day: DayPart
    last_day: DayPart
    days: Decimal = Field(description="Working days taken, counted when requested.", examples=["5.00"])
    reason: str | None = Field(examples=["Summer holiday"])
    status: Literal["PENDING", "APPROVED", "REJECTED", "CANCELLED"]
    level: int = Field(description="The approval level awaited (while PENDING).", examples=[1])
    levels: int = Field(examples=[1])
    approver_id: uuid.UUID | None = Field(
        description="The manager whose decision it awaits (null: an admin's).", examples=[ex.MANAGER_ID]
    )
    decided_at: datetime | None = Field(examples=[ex.UPDATED_AT])
    approvals: list[ApprovalView] = Field(default_factory=list)
    version: int = Field(examples=[1])
    created_at: datetime = Field(examples=[ex.CREATED_AT])
    updated_at: datetime = Field(examples=[ex.UPDATED_AT])


class JobRun(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: uuid.UUID | None = COMPANY
    day: Day = Field(description="The day to run the job for.", examples=["2025-03-01"])


class JobResult(BaseModel):
    job: str = Field(examples=["accrue"])
    day: date = Field(examples=["2025-03-01"])
    summary: str = Field(examples=["accrue 2025-03: 42 entries added"])
    entries: int = Field(examples=[42])
