"""The leave service's tables (seed 004: LeaveType, LeaveBalance, LeaveRequest,
LeaveRequestUser), its calendar and its ledger.

The balance of an employee for a leave type and year is the sum of the
``leave_ledger_entries`` entries: the ledger is only ever appended to (a cancellation is a
reversing entry, never a delete). ``leave_balances`` is a projection of the ledger,
changed in the transaction of each entry, that :func:`hrms.services.leave.ledger.check`
compares with the ledger and :func:`~hrms.services.leave.ledger.rebuild` remakes.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from isles import INFO_KEY, TenantOwned, UTCDateTime, new_metadata, reference, utcnow

metadata = new_metadata()

DAYS = Numeric(7, 2)  # day counts: Decimal, never float

# Request states (the durable state machine, see docs/leave.md).
PENDING, APPROVED, REJECTED, CANCELLED = "PENDING", "APPROVED", "REJECTED", "CANCELLED"
# Ledger entry kinds.
ALLOCATION, ACCRUAL, TAKEN, CANCELLATION = "allocation", "accrual", "taken", "cancellation"
CARRY_FORWARD, EXPIRY, ADJUSTMENT = "carry_forward", "expiry", "adjustment"
KINDS = (ALLOCATION, ACCRUAL, TAKEN, CANCELLATION, CARRY_FORWARD, EXPIRY, ADJUSTMENT)
#: The kinds that count as days taken (a cancellation gives taken days back).
TAKEN_KINDS = (TAKEN, CANCELLATION)


class Base(DeclarativeBase):
    metadata = metadata


class LeaveRequestUser(Base):
    """An employee as this service knows them (kept from employee events): who they
    are as a user, their company and their manager (who approves their requests)."""

    __tablename__ = "leave_request_users"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, info={INFO_KEY: "employee.employees"})
    user_id: Mapped[uuid.UUID | None] = reference("auth.users", nullable=True)
    company_id: Mapped[uuid.UUID | None] = reference("company.companies", nullable=True)
    email: Mapped[str] = mapped_column(String(320))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    manager_id: Mapped[uuid.UUID | None] = reference("employee.employees", nullable=True)
    department_id: Mapped[uuid.UUID | None] = reference("company.departments", nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class LeaveType(TenantOwned, Base):
    """A kind of leave of one company and its rules."""

    __tablename__ = "leave_types"
    __table_args__ = (
        UniqueConstraint("company_id", "name", name="uq_leave_types_company_id_name"),
        CheckConstraint("approval_levels IN (1, 2)", name="approval_levels_known"),
        CheckConstraint("allowance_days >= 0", name="allowance_not_negative"),
        CheckConstraint("carry_forward_cap >= 0", name="carry_forward_cap_not_negative"),
        CheckConstraint("min_notice_days >= 0", name="min_notice_not_negative"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    name: Mapped[str] = mapped_column(String(100))
    paid: Mapped[bool] = mapped_column(Boolean, default=True)
    allowance_days: Mapped[Decimal] = mapped_column(DAYS)  # a year's allocation
    monthly_accrual: Mapped[Decimal | None] = mapped_column(DAYS)  # added by the accrue job
    half_days: Mapped[bool] = mapped_column(Boolean, default=True)
    max_consecutive_days: Mapped[Decimal | None] = mapped_column(DAYS)
    allow_negative: Mapped[bool] = mapped_column(Boolean, default=False)
    carry_forward_cap: Mapped[Decimal] = mapped_column(DAYS)  # 0: nothing carries forward
    carry_forward_expiry_months: Mapped[int | None] = mapped_column(Integer)  # None: never expires
    min_notice_days: Mapped[int] = mapped_column(Integer, default=0)
    approval_levels: Mapped[int] = mapped_column(Integer, default=1)  # 1: manager; 2: manager then HR
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WorkWeek(TenantOwned, Base):
    """A company's working weekdays (ISO numbers, ``"12345"`` = Monday to Friday).
    No row: Monday to Friday."""

    __tablename__ = "work_weeks"

    company_id: Mapped[uuid.UUID] = reference("company.companies", primary_key=True)
    working_days: Mapped[str] = mapped_column(String(7))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Holiday(TenantOwned, Base):
    """A company's day off: on ``day``, or every year on its month and day (``recurring``)."""

    __tablename__ = "holidays"
    __table_args__ = (UniqueConstraint("company_id", "day", "recurring", name="uq_holidays_company_id_day_recurring"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    name: Mapped[str] = mapped_column(String(100))
    day: Mapped[date] = mapped_column(Date)
    recurring: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerEntry(TenantOwned, Base):
    """One change of a balance (days: positive credits, negative debits). Never
    changed nor deleted. ``period_key`` makes an entry unique per employee and type
    where it must happen once (an accrual per month, a request's debit)."""

    __tablename__ = "leave_ledger_entries"
    __table_args__ = (
        UniqueConstraint(
            "employee_id",
            "leave_type_id",
            "period_key",
            name="uq_leave_ledger_entries_employee_id_leave_type_id_period_key",
        ),
        Index("idx_leave_ledger_entries_employee_id_leave_type_id_year", "employee_id", "leave_type_id", "year"),
        # A job's "which of this period's entries exist already" (accrual, carry-forward).
        Index("idx_leave_ledger_entries_leave_type_id_period_key", "leave_type_id", "period_key"),
        CheckConstraint(
            "kind IN ('allocation', 'accrual', 'taken', 'cancellation', 'carry_forward', 'expiry', 'adjustment')",
            name="kind_known",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    employee_id: Mapped[uuid.UUID] = reference("employee.employees")
    leave_type_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("leave_types.id"))
    year: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    days: Mapped[Decimal] = mapped_column(DAYS)
    effective_on: Mapped[date] = mapped_column(Date)  # the day it counts from
    expires_on: Mapped[date | None] = mapped_column(Date)  # carried-forward days: their expiry
    period_key: Mapped[str | None] = mapped_column(String(60))
    request_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("leave_requests.id"), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = reference("auth.users", nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LeaveBalance(TenantOwned, Base):
    """The ledger summed per employee, type and year (a projection of ``leave_ledger_entries``):
    ``credited`` (allocations, accruals, carry-forward, adjustments, expiries),
    ``taken`` (days taken, less cancellations) and ``balance = credited - taken``."""

    __tablename__ = "leave_balances"
    __table_args__ = (
        UniqueConstraint(
            "employee_id", "leave_type_id", "year", name="uq_leave_balances_employee_id_leave_type_id_year"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    employee_id: Mapped[uuid.UUID] = reference("employee.employees")
    leave_type_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("leave_types.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    credited: Mapped[Decimal] = mapped_column(DAYS)
    taken: Mapped[Decimal] = mapped_column(DAYS)
    balance: Mapped[Decimal] = mapped_column(DAYS)
    entries: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class LeaveRequest(TenantOwned, Base):
    """A request for leave and where it is in its life (PENDING at ``level`` of
    ``levels``, then APPROVED, REJECTED or CANCELLED). ``days`` is counted once, when
    the request is made, and never again."""

    __tablename__ = "leave_requests"
    __table_args__ = (
        CheckConstraint("end_date >= start_date", name="dates_ordered"),
        CheckConstraint("status IN ('PENDING', 'APPROVED', 'REJECTED', 'CANCELLED')", name="status_known"),
        CheckConstraint("first_day IN ('full', 'morning', 'afternoon')", name="first_day_known"),
        CheckConstraint("last_day IN ('full', 'morning', 'afternoon')", name="last_day_known"),
        Index("idx_leave_requests_employee_id_status", "employee_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    employee_id: Mapped[uuid.UUID] = reference("employee.employees")
    employee_name: Mapped[str] = mapped_column(String(200))
    leave_type_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("leave_types.id"), index=True)
    leave_type_name: Mapped[str] = mapped_column(String(100))
    paid: Mapped[bool] = mapped_column(Boolean)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    first_day: Mapped[str] = mapped_column(String(10), default="full")
    last_day: Mapped[str] = mapped_column(String(10), default="full")
    days: Mapped[Decimal] = mapped_column(DAYS)
    reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default=PENDING)
    level: Mapped[int] = mapped_column(Integer, default=1)  # the approval level awaited
    levels: Mapped[int] = mapped_column(Integer, default=1)
    approver_id: Mapped[uuid.UUID | None] = reference("employee.employees", nullable=True)
    requested_by: Mapped[uuid.UUID | None] = reference("auth.users", nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class LeaveApproval(TenantOwned, Base):
    """A decision on a request: who (employee and user), when, at which level."""

    __tablename__ = "leave_approvals"
    __table_args__ = (
        CheckConstraint("decision IN ('approved', 'rejected', 'cancelled')", name="decision_known"),
        UniqueConstraint("request_id", "level", "decision", name="uq_leave_approvals_request_id_level_decision"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("leave_requests.id"), index=True)
    level: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(String(10))
    decided_by: Mapped[uuid.UUID | None] = reference("employee.employees", nullable=True)
    decided_by_user: Mapped[uuid.UUID | None] = reference("auth.users", nullable=True)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    comment: Mapped[str | None] = mapped_column(Text)


__all__ = [
    "APPROVED",
    "CANCELLED",
    "KINDS",
    "PENDING",
    "REJECTED",
    "Holiday",
    "LeaveApproval",
    "LeaveBalance",
    "LeaveRequest",
    "LeaveRequestUser",
    "LeaveType",
    "LedgerEntry",
    "WorkWeek",
    "metadata",
]
