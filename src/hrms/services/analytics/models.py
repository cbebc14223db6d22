"""The analytics service's tables (seed 001's ``analytics_service_db``).

* ``analytics_events``: the archive: every event of every HR service, as published
  (``isles.EventArchive``), written in the inbox transaction that takes it.
* ``isles_read_models``: each read model's active generation and version.
* ``reports``: report definitions saved per company (which figures, grouping,
  interval, which period, a schedule and its recipients); ``report_runs``: each
  run's stored result, one per report and period key (a scheduled run's period, so
  a schedule firing twice runs it once).
* ``approved_leave_requests``: the leave model: approved requests (days by type), cancellations marked.
* ``allocations``: the allocation model: assignments to projects with their allocation.
* ``known_teams`` and ``team_memberships``: the teams model: teams and who was in them when.
* ``headcount_people`` and ``headcount_spans``: the headcount read model: per
  employee, when they were hired and left; and the spans of their employment in one
  department (``[starts_on, ends_on)``: a transfer ends one span and starts the next).
  Rows carry the model's generation (a rebuild writes the next one, then swaps).

The read models' id columns lead no index of their own (``isles: ignore[ISL302]``):
their rows are found by (generation, company_id) and by their key.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, Date, Index, Integer, Numeric, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from isles import StringList, TenantOwned, UTCDateTime, new_metadata, utcnow

metadata = new_metadata()


class Base(DeclarativeBase):
    metadata = metadata


class HeadcountPerson(TenantOwned, Base):
    """An employee as the headcount model knows them (from employee events, up to ``version``)."""

    # isles: ignore[ISL303] a read model: a rebuild writes its rows again, the events' times are in them
    __tablename__ = "headcount_people"

    generation: Mapped[int] = mapped_column(Integer, primary_key=True)
    employee_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # isles: ignore[ISL302] see the module
    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)  # isles: ignore[ISL302] see the module
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)  # isles: ignore[ISL302] see the module
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True, index=True)  # a manager: their department
    hired_on: Mapped[date] = mapped_column(Date, nullable=False)
    left_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __table_args__ = (Index("idx_headcount_people_generation_company_id", "generation", "company_id"),)


class HeadcountSpan(TenantOwned, Base):
    """An employee counted in ``department_id`` from ``starts_on`` until ``ends_on``
    (excluded; open while null)."""

    # isles: ignore[ISL303] a read model: a rebuild writes its rows again, the events' times are in them
    __tablename__ = "headcount_spans"

    generation: Mapped[int] = mapped_column(Integer, primary_key=True)
    employee_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # isles: ignore[ISL302] see the module
    starts_on: Mapped[date] = mapped_column(Date, primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)  # isles: ignore[ISL302] see the module
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)  # isles: ignore[ISL302] see the module
    ends_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    started_by: Mapped[str] = mapped_column(String(10), nullable=False)  # hire | return | transfer
    ended_by: Mapped[str | None] = mapped_column(String(10), nullable=True)  # left | transfer

    __table_args__ = (
        CheckConstraint("started_by IN ('hire', 'return', 'transfer')", name="started_by"),
        CheckConstraint("ended_by IN ('left', 'transfer')", name="ended_by"),
        Index("idx_headcount_spans_generation_company_id_starts_on", "generation", "company_id", "starts_on"),
    )


# a report's kinds (reports.KINDS says what each shows)
KINDS = ("headcount", "leave", "allocation", "utilization", "teams", "balances", "sagas", "attendance")
PERIODS = ("previous_month", "previous_quarter", "last_12_months", "year_to_date")
SCHEDULES = ("monthly",)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Report(TenantOwned, Base):
    """A saved report: ``kind``'s figures over ``period`` (relative to the day it runs),
    by ``interval`` and grouped ``by``; with a ``schedule``, run and mailed to
    ``recipients`` (user ids) once per period."""

    __tablename__ = "reports"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    interval: Mapped[str] = mapped_column(String(10), nullable=False)
    group_by: Mapped[str] = mapped_column(String(20), nullable=False)
    period: Mapped[str] = mapped_column(String(20), nullable=False)
    schedule: Mapped[str | None] = mapped_column(String(20), nullable=True)
    recipients: Mapped[list[str]] = mapped_column(StringList, nullable=False, default=list)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("company_id", "name"),
        CheckConstraint(_in("kind", KINDS), name="kind"),
        CheckConstraint(_in("period", PERIODS), name="period"),
        CheckConstraint(f"schedule IS NULL OR {_in('schedule', SCHEDULES)}", name="schedule"),
    )


class ReportRun(TenantOwned, Base):
    """One run of a report and its result (the figures as JSON)."""

    # isles: ignore[ISL303] a run is never changed: created_at is when it ran
    __tablename__ = "report_runs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    report_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False, index=True)
    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False, index=True)
    period_key: Mapped[str] = mapped_column(String(60), nullable=False)  # "2026-10", or "manual:<id>"
    period_start: Mapped[date] = mapped_column(Date, nullable=False)
    period_end: Mapped[date] = mapped_column(Date, nullable=False)
    triggered_by: Mapped[str] = mapped_column(String(10), nullable=False)  # schedule | manual
    result: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (
        UniqueConstraint("report_id", "period_key"),
        CheckConstraint("triggered_by IN ('schedule', 'manual')", name="triggered_by"),
    )


class LeaveTaken(TenantOwned, Base):
    """An approved leave request as the leave model knows it (a cancellation after
    approval marks it; the days then count no more)."""

    # isles: ignore[ISL303] a read model: a rebuild writes its rows again, the events' times are in them
    __tablename__ = "approved_leave_requests"

    generation: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # isles: ignore[ISL302] see the module
    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)  # isles: ignore[ISL302] see the module
    employee_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)  # isles: ignore[ISL302] see the module
    leave_type_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)  # isles: ignore[ISL302] see the module
    leave_type_name: Mapped[str] = mapped_column(String(100), nullable=False)
    start_date: Mapped[date] = mapped_column(Date, nullable=False)
    end_date: Mapped[date] = mapped_column(Date, nullable=False)
    days: Mapped[Decimal] = mapped_column(Numeric(6, 1), nullable=False)
    cancelled: Mapped[bool] = mapped_column(Boolean, nullable=False)

    __table_args__ = (
        Index("idx_approved_leave_requests_generation_company_id_start_date", "generation", "company_id", "start_date"),
    )


class Allocation(TenantOwned, Base):
    """An assignment of an employee to a project as the allocation model knows it:
    ``allocation`` per cent of their time from ``start_date`` to ``end_date`` (or
    open), until ``removed_on`` when it was removed."""

    # isles: ignore[ISL303] a read model: a rebuild writes its rows again, the events' times are in them
    __tablename__ = "allocations"

    generation: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # isles: ignore[ISL302] see the module
    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)  # isles: ignore[ISL302] see the module
    employee_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)  # isles: ignore[ISL302] see the module
    project_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)  # isles: ignore[ISL302] see the module
    project_name: Mapped[str] = mapped_column(String(200), nullable=False)
    allocation: Mapped[int] = mapped_column(Integer, nullable=False)
    start_date: Mapped[date] = mapped_column(Date, nullable=False)
    end_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    removed_on: Mapped[date | None] = mapped_column(Date, nullable=True)

    __table_args__ = (Index("idx_allocations_generation_company_id", "generation", "company_id"),)


class TeamKnown(TenantOwned, Base):
    """A team as the teams model knows it (from company events)."""

    # isles: ignore[ISL303] a read model: a rebuild writes its rows again, the events' times are in them
    __tablename__ = "known_teams"

    generation: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # isles: ignore[ISL302] see the module
    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)  # isles: ignore[ISL302] see the module
    department_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)  # isles: ignore[ISL302] see the module
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    deleted: Mapped[bool] = mapped_column(Boolean, nullable=False)


class TeamMembership(TenantOwned, Base):
    """An employee in a team from ``starts_on`` until ``ends_on`` (excluded; open while null)."""

    # isles: ignore[ISL303] a read model: a rebuild writes its rows again, the events' times are in them
    __tablename__ = "team_memberships"

    generation: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # isles: ignore[ISL302] see the module
    employee_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # isles: ignore[ISL302] see the module
    starts_on: Mapped[date] = mapped_column(Date, primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)  # isles: ignore[ISL302] see the module
    ends_on: Mapped[date | None] = mapped_column(Date, nullable=True)

    __table_args__ = (Index("idx_team_memberships_generation_company_id", "generation", "company_id"),)
