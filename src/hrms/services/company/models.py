"""The company service's tables: ``companies``, ``company_settings`` and
``departments`` as in seed 001; ``teams`` and ``team_memberships`` (seed 004's Team and
UserTeam); and ``employee_copies``, the employees it knows of, kept from the employee
service's events (they give the headcount and a manager's scope)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, synonym

from isles import INFO_KEY, TenantOwned, UTCDateTime, new_metadata, reference, utcnow

metadata = new_metadata()


class Base(DeclarativeBase):
    metadata = metadata


class Company(TenantOwned, Base):
    __tablename__ = "companies"
    __table_args__ = (CheckConstraint("headcount >= 0", name="headcount_not_negative"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(255), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    industry: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[str | None] = mapped_column(String(50))
    website: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(50))
    address: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    headcount: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=0)

    # A company is its own tenant.
    company_id = synonym("id")


def _company_fk() -> Mapped[uuid.UUID]:
    return mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)


class CompanySetting(TenantOwned, Base):
    """One setting of a company (seed 001: key and text value)."""

    __tablename__ = "company_settings"

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True)
    setting_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    setting_value: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Department(TenantOwned, Base):
    """A department. Other services hold its id (employees, copies), so deleting one
    only sets ``deleted_at`` (soft delete, issue 19): it stays readable by its id,
    lists leave it out, and its name is free again (unique among the live ones)."""

    __tablename__ = "departments"
    __table_args__ = (
        Index(
            "uq_departments_company_id_name",
            "company_id",
            "name",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = _company_fk()
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    manager_id: Mapped[uuid.UUID | None] = reference("employee.employees", nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Seed 002: soft deletes get an index on deleted_at.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


class Team(TenantOwned, Base):
    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("company_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = _company_fk()
    department_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("departments.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    lead_id: Mapped[uuid.UUID | None] = reference("employee.employees", nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=0)


class TeamMembership(TenantOwned, Base):
    """An employee in a team (seed 004's UserTeam)."""

    __tablename__ = "team_memberships"

    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    employee_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, info={INFO_KEY: "employee.employees"})
    company_id: Mapped[uuid.UUID] = _company_fk()
    role: Mapped[str] = mapped_column(String(50), default="member")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("idx_team_memberships_employee_id", "employee_id"),)


class EmployeeCopy(TenantOwned, Base):
    """The employees this service knows of, as of the version it last saw (a replica
    of ``employee.employees``; no foreign key: events may come before the company's
    row in a restore)."""

    __tablename__ = "employee_copies"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, info={INFO_KEY: "employee.employees"})
    company_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    user_id: Mapped[uuid.UUID | None] = reference("auth.users", nullable=True)
    full_name: Mapped[str] = mapped_column(String(200))
    # isles: ignore[ISL302] shown with the employee only, never queried by department
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    is_active: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
