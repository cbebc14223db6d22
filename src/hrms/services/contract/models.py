"""The contract service's tables (seed 000's Contract Domain): ``contracts`` with their
change history (``contracts_history``), the markers of the ending notices sent
(``contract_ending_notices``), and the employees it knows (``contract_employees``,
kept from employee events).

At most one contract of an employee is ACTIVE at a time: the partial unique index
``uq_contracts_company_id_employee_id_active`` holds it on both backends.
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
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import isles
from isles import INFO_KEY, Money, TenantOwned, UTCDateTime, new_metadata, reference, utcnow

metadata = new_metadata()

DRAFT, SCHEDULED, ACTIVE, ENDED, TERMINATED = "DRAFT", "SCHEDULED", "ACTIVE", "ENDED", "TERMINATED"
TYPES = ("permanent", "fixed_term", "contractor", "intern")
#: Types that must say when they end.
DATED_TYPES = ("fixed_term", "intern")
#: The windows (days before the end) of the ContractEnding notices, widest first.
NOTICE_WINDOWS = (30, 7)


class Base(DeclarativeBase):
    metadata = metadata


class ContractEmployee(Base):
    """An employee as this service knows them (kept from employee events): their
    company, user and manager (whose reports' contracts a manager reads)."""

    __tablename__ = "contract_employees"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, info={INFO_KEY: "employee.employees"})
    user_id: Mapped[uuid.UUID | None] = reference("auth.users", nullable=True)
    company_id: Mapped[uuid.UUID | None] = reference("company.companies", nullable=True)
    manager_id: Mapped[uuid.UUID | None] = reference("employee.employees", nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Contract(TenantOwned, isles.Historied, Base):
    """An employment contract of one employee and where it is in its life."""

    __tablename__ = "contracts"
    __table_args__ = (
        CheckConstraint("contract_type IN ('permanent', 'fixed_term', 'contractor', 'intern')", name="type_known"),
        CheckConstraint("status IN ('DRAFT', 'SCHEDULED', 'ACTIVE', 'ENDED', 'TERMINATED')", name="status_known"),
        CheckConstraint("weekly_hours > 0 AND weekly_hours <= 80", name="weekly_hours_in_range"),
        CheckConstraint("salary >= 0", name="salary_not_negative"),
        CheckConstraint("notice_period_days >= 0", name="notice_period_not_negative"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates_ordered"),
        Index(
            "uq_contracts_company_id_employee_id_active",
            "company_id",
            "employee_id",
            unique=True,
            sqlite_where=text("status = 'ACTIVE'"),
            postgresql_where=text("status = 'ACTIVE'"),
        ),
        Index("idx_contracts_employee_id_status", "employee_id", "status"),
        Index("idx_contracts_status_start_date", "status", "start_date"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    employee_id: Mapped[uuid.UUID] = reference("employee.employees")
    contract_type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12), default=DRAFT)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    weekly_hours: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    salary: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    position: Mapped[str] = mapped_column(String(100))
    notice_period_days: Mapped[int] = mapped_column(Integer, default=0)
    # A document of the document service (the signed contract): a reference, no
    # foreign key, no call (isles audit checks that it exists).
    signed_document_id: Mapped[uuid.UUID | None] = reference("document.documents", nullable=True)
    terminated_on: Mapped[date | None] = mapped_column(Date)
    termination_reason: Mapped[str | None] = mapped_column(Text)
    # The newer contract that ended this one (same service: an ordinary foreign key).
    superseded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contracts.id"), index=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


CONTRACTS_HISTORY = isles.add_history(metadata, "contracts")


class ContractEndingNotice(TenantOwned, Base):
    """A ContractEnding raised for a contract and window (30 or 7 days): written with
    the event, so a second run of the job raises it no more."""

    __tablename__ = "contract_ending_notices"
    __table_args__ = (
        UniqueConstraint("contract_id", "within_days", name="uq_contract_ending_notices_contract_id_within_days"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    contract_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contracts.id"))
    within_days: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
