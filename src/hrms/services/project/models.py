"""The project service's tables: projects, assignments (seed 000), and local copies
of the employees it has seen and of the company settings it acts on (kept from
employee and company events)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from isles import INFO_KEY, TenantOwned, UTCDateTime, new_metadata, reference, utcnow

metadata = new_metadata()

ACTIVE = "active"
COMPLETED = "completed"


class Base(DeclarativeBase):
    metadata = metadata


class Project(TenantOwned, Base):
    __tablename__ = "projects"
    __table_args__ = (
        CheckConstraint("capacity >= 0", name="capacity_not_negative"),
        CheckConstraint("assigned_count >= 0 AND assigned_count <= capacity", name="assigned_within_capacity"),
        CheckConstraint("status IN ('active', 'completed')", name="status_known"),
        UniqueConstraint("company_id", "name"),  # a project's name is unique in its company
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    name: Mapped[str] = mapped_column(String(100), index=True)
    client: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=ACTIVE)
    capacity: Mapped[int] = mapped_column(Integer)
    assigned_count: Mapped[int] = mapped_column(Integer, default=0)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=0)

    @property
    def capacity_left(self) -> int:
        return self.capacity - self.assigned_count


class Assignment(TenantOwned, Base):
    __tablename__ = "assignments"
    __table_args__ = (
        CheckConstraint("allocation BETWEEN 1 AND 100", name="allocation_percent"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates_ordered"),
        # One live assignment (pending or confirmed, not removed) of an employee to a project.
        Index(
            "uq_assignments_employee_id_project_id_live",
            "employee_id",
            "project_id",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    employee_id: Mapped[uuid.UUID] = reference("employee.employees")
    # Same service, same database: an ordinary foreign key.
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"), index=True)
    project_name: Mapped[str] = mapped_column(String(100))  # denormalized, same service
    client_name: Mapped[str] = mapped_column(String(200))  # the project's client, denormalized likewise
    employee_name: Mapped[str] = mapped_column(String(200))  # replica of employee.employees
    employee_active: Mapped[bool] = mapped_column(Boolean, default=True)  # replica
    employee_version: Mapped[int] = mapped_column(Integer)  # version of the replicated fields
    role: Mapped[str] = mapped_column(String(100))
    allocation: Mapped[int] = mapped_column(Integer)  # percent of the employee's time
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # Being created by a CreateAssignment saga: not visible until confirmed.
    pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CapacityReservation(Base):
    """A place on a project held by a CreateAssignment saga (its id) until the
    assignment is confirmed or the saga is compensated. ``assigned_count`` counts it."""

    __tablename__ = "capacity_reservations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EmployeeCopy(Base):
    """The employees this service knows of, as of the version it last saw."""

    __tablename__ = "employee_copies"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, info={INFO_KEY: "employee.employees"})
    # Who the employee is as a user (their own assignments are theirs to read).
    user_id: Mapped[uuid.UUID | None] = reference("auth.users", nullable=True)
    full_name: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


__all__ = ["ACTIVE", "COMPLETED", "Assignment", "CapacityReservation", "EmployeeCopy", "Project", "metadata"]


class CompanyPolicy(Base):
    """What this service needs of a company's settings (kept from company events):
    the most an employee may be allocated over overlapping assignments. No row: the
    default (100 %)."""

    __tablename__ = "company_policies"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, info={INFO_KEY: "company.companies"})
    max_allocation_percent: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
