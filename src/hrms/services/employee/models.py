"""The employee service's tables: ``employees`` and ``employee_profiles`` as in seed
001, with the manager/subordinate relation of seed 004 (``employees.manager_id``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, UniqueConstraint, Uuid, false, true
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from isles import (
    Encrypted,
    Historied,
    LowerCase,
    Orphans,
    StringList,
    TenantOwned,
    UTCDateTime,
    add_history,
    new_metadata,
    reference,
    utcnow,
)

SERVICE = "employee"
metadata = new_metadata()


class Base(DeclarativeBase):
    metadata = metadata


class Employee(TenantOwned, Historied, Base):
    __tablename__ = "employees"
    # Business keys are unique in a company, never across companies (seed 004: no
    # company learns anything of another, not even that a number is used there).
    __table_args__ = (UniqueConstraint("employee_id", "company_id"), UniqueConstraint("company_id", "email"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # The seed's column name; the API calls it employee_number to keep it apart
    # from the UUID references named employee_id in other services.
    employee_id: Mapped[str] = mapped_column(String(50))
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    user_id: Mapped[uuid.UUID] = reference("auth.users")
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(LowerCase(255))
    phone: Mapped[str | None] = mapped_column(String(50))
    position: Mapped[str | None] = mapped_column(String(100))
    # The company service deletes departments softly and, by its DepartmentDeleted
    # event, moves their people out; one still in a deleted department missed it:
    # ``isles audit`` reports it, and its repair moves the person out (issue 20).
    department_id: Mapped[uuid.UUID | None] = reference(
        "company.departments", nullable=True, live="deleted_at", on_orphan=Orphans.nullify()
    )
    # Same service, same database: an ordinary foreign key (a manager is an employee).
    manager_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"), index=True)
    hire_date: Mapped[date] = mapped_column(Date)
    # Sensitive (seed 001): AES-GCM ciphertext in the database, the value in the ORM.
    salary: Mapped[Decimal | None] = mapped_column(Encrypted(Decimal, SERVICE, "employees.salary"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # The active contract that sets position and salary (contract events; None: none
    # active, they are set here), the start date and version of the contract last
    # applied: an older contract's event never overwrites a newer one's.
    contract_id: Mapped[uuid.UUID | None] = reference("contract.contracts", nullable=True)
    contract_start: Mapped[date | None] = mapped_column(Date)
    contract_version: Mapped[int | None] = mapped_column(Integer)
    # Being created by a CreateEmployee saga: not visible, no event yet, until activated.
    pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=0)

    @property
    def employee_number(self) -> str:
        return self.employee_id

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


#: Every change of an employee (salary, position, department, manager, ...) keeps the
#: previous version, who changed it and why (issue 19): ``employees_history``.
EMPLOYEES_HISTORY = add_history(metadata, "employees")


class EmployeeProfile(TenantOwned, Base):
    """Extended data of an employee (seed 001); skills and certifications are lists
    (``TEXT[]`` on PostgreSQL, JSON arrays on SQLite)."""

    __tablename__ = "employee_profiles"

    employee_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), primary_key=True)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    # Sensitive (seed 001): encrypted before they are stored.
    date_of_birth: Mapped[date | None] = mapped_column(Encrypted(date, SERVICE, "employee_profiles.date_of_birth"))
    gender: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(Encrypted(str, SERVICE, "employee_profiles.address"))
    emergency_contact_name: Mapped[str | None] = mapped_column(
        Encrypted(str, SERVICE, "employee_profiles.emergency_contact_name")
    )
    emergency_contact_phone: Mapped[str | None] = mapped_column(
        Encrypted(str, SERVICE, "employee_profiles.emergency_contact_phone")
    )
    skills: Mapped[list[str]] = mapped_column(StringList, default=list)
    certifications: Mapped[list[str]] = mapped_column(StringList, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class DepartmentCopy(Base):
    """The departments this service has heard of (company events): employee views name
    their department without asking the company service."""

    __tablename__ = "department_copies"

    id: Mapped[uuid.UUID] = reference("company.departments", primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
