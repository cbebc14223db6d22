"""Computing a day's attendance for a company, and the ``compute_day`` job.

A company's day is computed in one transaction: its ``attendance_days`` rows for the
date are deleted and written again from the check-ins, shifts and leave days as they
are now, so running it twice gives the same rows (their ids are derived from the
employee and the day). Who gets a row: every active employee with a shift that day,
and anyone with check-ins or leave that day.

The job runs daily for the **previous** day: :class:`PreviousDayJob` is due at
12:00 UTC for yesterday, when yesterday has ended in every time zone (UTC-12 included)
and late check-outs are in. ``isles jobs run presence.compute_day --date D`` and
``POST /api/presence/days/compute`` compute the date they are given.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, or_, select

from hrms.services.presence.attendance import Record, ShiftRule, day_bounds, decide
from hrms.services.presence.models import (
    AttendanceDay,
    Checkin,
    CheckinUserInfo,
    LeaveDay,
    PresenceSettings,
    Shift,
    ShiftAssignment,
)
from isles import ACROSS_TENANTS, Job, ServiceContext, UnitOfWork, utcnow

_NAMESPACE = uuid.UUID("6f1c1f3e-8d6a-4f54-9a43-5a7d3f0c9b21")


def day_id(employee_id: uuid.UUID, day: date) -> uuid.UUID:
    """The id of an employee's attendance day: the same each time it is computed."""
    return uuid.uuid5(_NAMESPACE, f"{employee_id}/{day.isoformat()}")


def zone_of(name: str | None) -> ZoneInfo:
    return ZoneInfo(name or "UTC")


async def _shifts_on(uow: UnitOfWork, company_id: uuid.UUID, day: date) -> dict[uuid.UUID, ShiftRule]:
    """Each employee's shift on ``day`` (the assignment that starts latest wins), if
    ``day`` is one of its weekdays."""
    q = (
        select(ShiftAssignment.employee_id, Shift)
        .join(Shift, Shift.id == ShiftAssignment.shift_id)
        .where(
            ShiftAssignment.company_id == company_id,
            ShiftAssignment.start_date <= day,
            or_(ShiftAssignment.end_date.is_(None), ShiftAssignment.end_date >= day),
        )
        .order_by(ShiftAssignment.start_date, ShiftAssignment.created_at)
    )
    chosen: dict[uuid.UUID, Shift] = {}
    for employee_id, shift in (await uow.session.execute(q)).all():
        chosen[employee_id] = shift  # later rows win
    weekday = str(day.isoweekday())
    return {
        e: ShiftRule(s.id, s.start_time, s.end_time, s.late_grace_minutes, s.early_grace_minutes, s.half_day_minutes)
        for e, s in chosen.items()
        if weekday in s.weekdays
    }


async def _records(uow: UnitOfWork, company_id: uuid.UUID, day: date, zone: ZoneInfo) -> dict[uuid.UUID, list[Record]]:
    start, end = day_bounds(day, zone)
    c = Checkin.__table__.c
    q = select(c.id, c.employee_id, c.kind, c.at, c.corrects_id, c.corrected_kind, c.is_void, c.created_at).where(
        c.company_id == company_id, c.at >= start, c.at < end
    )
    by_employee: dict[uuid.UUID, list[Record]] = defaultdict(list)
    for r in (await uow.session.execute(q)).all():
        by_employee[r.employee_id].append(
            Record(r.id, r.kind, r.at, r.corrects_id, r.corrected_kind, r.is_void, r.created_at)
        )
    return by_employee


async def _leave(uow: UnitOfWork, company_id: uuid.UUID, day: date) -> dict[uuid.UUID, str]:
    q = select(LeaveDay.employee_id, LeaveDay.part).where(LeaveDay.company_id == company_id, LeaveDay.day == day)
    parts: dict[uuid.UUID, str] = {}
    for employee_id, part in (await uow.session.execute(q)).all():
        # Two requests on one day (a morning and an afternoon): the whole day.
        parts[employee_id] = part if employee_id not in parts or parts[employee_id] == part else "full"
    return parts


@dataclass(frozen=True)
class Computed:
    company_id: uuid.UUID
    day: date
    rows: int
    by_status: dict[str, int]


async def compute_company_day(*, uow: UnitOfWork, company_id: uuid.UUID, day: date) -> Computed:
    """Replace ``company_id``'s attendance rows of ``day`` with freshly computed ones."""
    session = uow.session
    tz = await session.scalar(select(PresenceSettings.timezone).where(PresenceSettings.company_id == company_id))
    zone = zone_of(tz)
    shifts = await _shifts_on(uow, company_id, day)
    records = await _records(uow, company_id, day, zone)
    leave = await _leave(uow, company_id, day)
    active = set(
        (
            await session.execute(
                select(CheckinUserInfo.id).where(
                    CheckinUserInfo.company_id == company_id, CheckinUserInfo.is_active.is_(True)
                )
            )
        ).scalars()
    )
    people = ({e for e in shifts if e in active}) | set(records) | set(leave)
    now = utcnow()
    rows: list[dict[str, Any]] = []
    counts: dict[str, int] = defaultdict(int)
    for employee_id in sorted(people):
        shift = shifts.get(employee_id)
        result = decide(
            day=day, zone=zone, records=records.get(employee_id, ()), shift=shift, leave_part=leave.get(employee_id)
        )
        if result is None:
            continue
        counts[result.status] += 1
        rows.append(
            {
                "id": day_id(employee_id, day),
                "company_id": company_id,
                "employee_id": employee_id,
                "day": day,
                "status": result.status,
                "late": result.late,
                "left_early": result.left_early,
                "missing_checkout": result.missing_checkout,
                "leave_part": result.leave_part,
                "shift_id": shift.id if shift else None,
                "first_in": result.first_in,
                "last_out": result.last_out,
                "worked_minutes": result.worked_minutes,
                "computed_at": now,
            }
        )
    await session.execute(delete(AttendanceDay).where(AttendanceDay.company_id == company_id, AttendanceDay.day == day))
    if rows:
        await session.execute(insert(AttendanceDay), rows)
    await uow.commit()
    return Computed(company_id, day, len(rows), dict(counts))


async def companies(ctx: ServiceContext) -> list[uuid.UUID]:
    """Every company this service knows of (its employees', its settings')."""
    async with ctx.db.read_session(tenant=ACROSS_TENANTS) as session:
        known = set((await session.execute(select(CheckinUserInfo.company_id).distinct())).scalars())
        known |= set((await session.execute(select(PresenceSettings.company_id))).scalars())
    return sorted(c for c in known if c is not None)


async def run_compute_day(ctx: ServiceContext, day: date) -> str:
    """The job: compute ``day`` for every company, one transaction each."""
    total = 0
    done = 0
    for company_id in await companies(ctx):
        async with ctx.uow(tenant=company_id) as uow:
            result = await compute_company_day(uow=uow, company_id=company_id, day=day)
        total += result.rows
        done += 1
    return f"attendance of {day.isoformat()}: {total} employee days in {done} companies"


@dataclass(frozen=True)
class PreviousDayJob(Job):
    """A daily job whose scheduled run is for the day before (see the module)."""

    def due(self, today: date) -> date | None:
        return today - timedelta(days=1) if self.schedule == "daily" else super().due(today)


COMPUTE_DAY = PreviousDayJob(
    "compute_day",
    run=run_compute_day,
    schedule="daily",
    at=time(12, 0),
    description="Compute every company's attendance of a day (scheduled: yesterday's, at 12:00 UTC).",
)
JOBS = (COMPUTE_DAY,)
