"""The tasks service's tables: tasks (seed 004's Task) and the employees it knows of
(seed 004's TaskUser), kept from employee events."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, Index, Integer, String, Text, Uuid, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from isles import INFO_KEY, TenantOwned, UTCDateTime, new_metadata, reference, utcnow

metadata = new_metadata()

TODO, IN_PROGRESS, DONE, CANCELLED = "TODO", "IN_PROGRESS", "DONE", "CANCELLED"
STATUSES = (TODO, IN_PROGRESS, DONE, CANCELLED)
#: A task still to be worked on: its assignee matters (reassigned when they leave).
OPEN = (TODO, IN_PROGRESS)
PRIORITIES = ("low", "medium", "high", "urgent")


class Base(DeclarativeBase):
    metadata = metadata


class TaskUser(TenantOwned, Base):
    """An employee as this service knows them (seed 004's TaskUser): who may create,
    be assigned and progress tasks. The id is the employee's; the user id finds the
    caller's own record."""

    __tablename__ = "task_users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, info={INFO_KEY: "employee.employees"})
    user_id: Mapped[uuid.UUID | None] = reference("auth.users", nullable=True)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    email: Mapped[str] = mapped_column(String(254))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class Task(TenantOwned, Base):
    """A piece of work in a company, made by one employee and given to another."""

    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint("status IN ('TODO', 'IN_PROGRESS', 'DONE', 'CANCELLED')", name="status_known"),
        CheckConstraint("priority IN ('low', 'medium', 'high', 'urgent')", name="priority_known"),
        CheckConstraint("(status = 'DONE') = (completed_at IS NOT NULL)", name="completed_when_done"),
        # The lists: a company's tasks by status, newest first; someone's open tasks;
        # the tasks waiting for a new assignee.
        Index("idx_tasks_company_id_status_created_at", "company_id", "status", "created_at"),
        Index("idx_tasks_assignee_id_status", "assignee_id", "status"),
        Index("idx_tasks_company_id_needs_reassignment", "company_id", "needs_reassignment"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=TODO, index=True)
    priority: Mapped[str] = mapped_column(String(10), default="medium")
    due_date: Mapped[date | None] = mapped_column(Date, index=True)
    # Employees (TaskUser ids). No creator: the operator made it.
    creator_id: Mapped[uuid.UUID | None] = reference("employee.employees", nullable=True)
    assignee_id: Mapped[uuid.UUID | None] = reference("employee.employees", nullable=True)
    # The assignee was deactivated while the task was open: someone must take it over.
    needs_reassignment: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=0)


__all__ = [
    "CANCELLED",
    "DONE",
    "IN_PROGRESS",
    "OPEN",
    "PRIORITIES",
    "STATUSES",
    "TODO",
    "Task",
    "TaskUser",
    "metadata",
]
