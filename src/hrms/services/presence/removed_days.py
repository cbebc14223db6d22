"""``removed_attendance_days``: the attendance days a computation took away (the
employee has no row of the day any more) and the version of their last
``AttendanceMarked`` (status ``removed``). Should the day get a row again, its events go
on from that version rather than from 1 — a reader that keeps the highest version (the
analytics service) takes them. Written and cleared by ``compute.compute_company_day``."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import Date, Index, Integer, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from hrms.services.presence.models import Base
from isles import TenantOwned, reference


class RemovedAttendanceDay(TenantOwned, Base):
    """An attendance day without a row any more, and its events' version so far."""

    # isles: ignore[ISL303] recomputed as a whole with the day's rows; the event's time says when
    __tablename__ = "removed_attendance_days"
    __table_args__ = (Index("idx_removed_attendance_days_company_id_day", "company_id", "day"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # the day's id (compute.day_id)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    employee_id: Mapped[uuid.UUID] = reference("employee.employees")
    day: Mapped[date] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer)
