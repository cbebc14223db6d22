"""The presence service's tables.

* ``checkin_user_infos``: the replicated user model (seed 004's CheckinUserInfo), one
  row per employee, kept from employee events: who may check in and whom a manager
  reads.
* ``presence_settings``: a company's presence rules (geofence enforcement, time zone).
* ``places`` and ``nfc_tags``: where people check in, and the tags fixed there.
* ``checkins``: **append-only**. A check-in or check-out is never changed or deleted;
  a correction is a new row (``kind='correction'``) that points at the row it corrects.
* ``shifts`` and ``shift_assignments``: what a working day is expected to be.
* ``leave_days``: approved leave, kept from the leave service's events.
* ``attendance_days``: one row per employee and day, computed (and recomputed as a
  whole for a day) from the above by the ``compute_day`` job.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
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
    Time,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from isles import INFO_KEY, TenantOwned, UTCDateTime, new_metadata, reference, utcnow

metadata = new_metadata()

KINDS = ("in", "out", "correction")
SOURCES = ("web", "mobile", "nfc", "admin")
STATUSES = ("present", "half_day", "absent", "on_leave")
DAY_PARTS = ("full", "morning", "afternoon")


class Base(DeclarativeBase):
    metadata = metadata


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class CheckinUserInfo(TenantOwned, Base):
    """An employee as this service knows them (as of ``version`` of the employee)."""

    __tablename__ = "checkin_user_infos"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, info={INFO_KEY: "employee.employees"})
    company_id: Mapped[uuid.UUID | None] = reference("company.companies", nullable=True)
    user_id: Mapped[uuid.UUID | None] = reference("auth.users", nullable=True)
    email: Mapped[str] = mapped_column(String(320))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    manager_id: Mapped[uuid.UUID | None] = reference("employee.employees", nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class PresenceSettings(TenantOwned, Base):
    """A company's presence rules. No row: the defaults (no enforcement, UTC)."""

    __tablename__ = "presence_settings"

    company_id: Mapped[uuid.UUID] = reference("company.companies", primary_key=True)
    enforce_geofence: Mapped[bool] = mapped_column(Boolean, default=False)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Place(TenantOwned, Base):
    """Somewhere people check in; with coordinates and a radius, a geofence."""

    __tablename__ = "places"
    __table_args__ = (
        UniqueConstraint("company_id", "name"),
        CheckConstraint("radius_m IS NULL OR radius_m > 0", name="radius_positive"),
        CheckConstraint("(latitude IS NULL) = (longitude IS NULL)", name="coordinates_together"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    name: Mapped[str] = mapped_column(String(100))
    latitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    longitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    radius_m: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def geofenced(self) -> bool:
        return self.latitude is not None and self.longitude is not None and self.radius_m is not None


class NfcTag(TenantOwned, Base):
    """An NFC tag fixed at a place; its ``uid`` (what a reader sees) is unique per company."""

    __tablename__ = "nfc_tags"
    __table_args__ = (UniqueConstraint("company_id", "uid"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    uid: Mapped[str] = mapped_column(String(64))
    place_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("places.id"), index=True)
    label: Mapped[str | None] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Checkin(TenantOwned, Base):
    """One record of presence, never changed: a check-in (``in``), a check-out
    (``out``), or a correction. A correction says what the record it ``corrects``
    should have been (``corrected_kind`` at ``at``) or that it is void; without
    ``corrects_id`` it adds a record that was missing (a forgotten check-out)."""

    __tablename__ = "checkins"
    __table_args__ = (
        CheckConstraint(_in("kind", KINDS), name="kind_known"),
        CheckConstraint(_in("source", SOURCES), name="source_known"),
        CheckConstraint(
            "kind <> 'correction' OR (reason IS NOT NULL AND made_by IS NOT NULL)", name="correction_explained"
        ),
        CheckConstraint(
            "kind <> 'correction' OR is_void OR corrected_kind IN ('in', 'out')", name="correction_says_what"
        ),
        Index("idx_checkins_employee_id_at", "employee_id", "at"),
        Index("idx_checkins_company_id_at", "company_id", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    employee_id: Mapped[uuid.UUID] = reference("employee.employees")
    kind: Mapped[str] = mapped_column(String(12))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(12))
    place_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("places.id"), index=True)
    tag_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("nfc_tags.id"), index=True)
    latitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    longitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    accuracy_m: Mapped[Decimal | None] = mapped_column(Numeric(9, 2))
    corrects_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("checkins.id"), index=True)
    corrected_kind: Mapped[str | None] = mapped_column(String(12))
    is_void: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    made_by: Mapped[str | None] = mapped_column(String(120))  # who recorded a correction (the principal)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Shift(TenantOwned, Base):
    """A kind of working day: from ``start_time`` to ``end_time`` (the company's local
    time, same day), on ``weekdays`` (ISO: 1 Monday .. 7 Sunday, as digits)."""

    __tablename__ = "shifts"
    __table_args__ = (
        UniqueConstraint("company_id", "name"),
        CheckConstraint("end_time > start_time", name="ends_after_start"),
        CheckConstraint("late_grace_minutes >= 0 AND early_grace_minutes >= 0", name="graces_not_negative"),
        CheckConstraint("half_day_minutes > 0", name="half_day_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    name: Mapped[str] = mapped_column(String(100))
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)
    weekdays: Mapped[str] = mapped_column(String(7), default="12345")
    late_grace_minutes: Mapped[int] = mapped_column(Integer, default=0)
    early_grace_minutes: Mapped[int] = mapped_column(Integer, default=0)
    half_day_minutes: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ShiftAssignment(TenantOwned, Base):
    """An employee works ``shift`` from ``start_date`` to ``end_date`` (open: None).
    Where assignments overlap, the one that starts latest decides (then the newest)."""

    __tablename__ = "shift_assignments"
    __table_args__ = (
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates_ordered"),
        Index("idx_shift_assignments_employee_id_start_date", "employee_id", "start_date"),
        Index("idx_shift_assignments_company_id_start_date", "company_id", "start_date"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    employee_id: Mapped[uuid.UUID] = reference("employee.employees")
    shift_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shifts.id"), index=True)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LeaveDay(TenantOwned, Base):
    """A day (or half) of an approved leave request, from the leave service's events."""

    __tablename__ = "leave_days"
    __table_args__ = (
        CheckConstraint(_in("part", DAY_PARTS), name="part_known"),
        Index("idx_leave_days_employee_id_day", "employee_id", "day"),
        Index("idx_leave_days_company_id_day", "company_id", "day"),
    )

    request_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # the leave request (leave service)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    employee_id: Mapped[uuid.UUID] = reference("employee.employees")
    part: Mapped[str] = mapped_column(String(12))


class AttendanceDay(TenantOwned, Base):
    """An employee's computed day: a ``status`` and flags (see docs/presence.md)."""

    __tablename__ = "attendance_days"
    __table_args__ = (
        UniqueConstraint("employee_id", "day"),
        CheckConstraint(_in("status", STATUSES), name="status_known"),
        CheckConstraint("worked_minutes >= 0", name="worked_not_negative"),
        Index("idx_attendance_days_company_id_day", "company_id", "day"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    employee_id: Mapped[uuid.UUID] = reference("employee.employees")
    day: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12))
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    left_early: Mapped[bool] = mapped_column(Boolean, default=False)
    missing_checkout: Mapped[bool] = mapped_column(Boolean, default=False)
    leave_part: Mapped[str | None] = mapped_column(String(12))
    shift_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("shifts.id"), index=True)
    first_in: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_out: Mapped[datetime | None] = mapped_column(UTCDateTime)
    worked_minutes: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=0)  # of its AttendanceMarked events
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
