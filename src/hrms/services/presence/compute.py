"""Computing a day's attendance for a company, and the ``compute_day`` job.

A company's day is computed in one transaction: its ``attendance_days`` rows for the
date are deleted and written again from the check-ins, shifts and leave days as they
are now, so running it twice gives the same rows (their ids are derived from the
employee and the day). Who gets a row: every active employee with a shift that day,
and anyone with check-ins or leave that day.

Each day whose outcome (status and flags) differs from its previous computation — the
first computation included — publishes ``presence.AttendanceMarked`` in the same
transaction; a day that lost its row publishes status ``removed``, and its version is
kept (``removed_attendance_days``) so that the day's events go on from it should it
get a row again.

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
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import String, Table, delete, insert, or_, select, type_coerce

from hrms.contracts.presence import AGGREGATE, AttendanceMarked
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
from hrms.services.presence.removed_days import RemovedAttendanceDay
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
    session = uow.session
    rules = {
        s.id: (
            s.weekdays,
            ShiftRule(s.id, s.start_time, s.end_time, s.late_grace_minutes, s.early_grace_minutes, s.half_day_minutes),
        )
        for s in (await session.execute(select(Shift).where(Shift.company_id == company_id))).scalars()
    }
    a = ShiftAssignment.__table__.c
    q = (
        select(a.employee_id, a.shift_id)
        .where(
            a.company_id == company_id,
            a.start_date <= day,
            or_(a.end_date.is_(None), a.end_date >= day),
        )
        .order_by(a.start_date, a.created_at)
    )
    chosen: dict[uuid.UUID, uuid.UUID] = {}
    for employee_id, shift_id in (await session.execute(q)).all():
        chosen[employee_id] = shift_id  # later rows win
    weekday = str(day.isoweekday())
    return {e: rules[s][1] for e, s in chosen.items() if weekday in rules[s][0]}


async def _records(uow: UnitOfWork, company_id: uuid.UUID, day: date, zone: ZoneInfo) -> dict[uuid.UUID, list[Record]]:
    """The day's records by employee. Corrections are few: they and the records they
    correct are read with their ids; the many plain records without (the id and
    creation time of 40,000 rows are most of the cost of reading them)."""
    start, end = day_bounds(day, zone)
    c = Checkin.__table__.c
    in_day = (c.company_id == company_id, c.at >= start, c.at < end)
    by_employee: dict[uuid.UUID, list[Record]] = defaultdict(list)
    fixes = (
        await uow.session.execute(
            select(c.id, c.employee_id, c.at, c.corrects_id, c.corrected_kind, c.is_void, c.created_at).where(
                *in_day, c.kind == "correction"
            )
        )
    ).all()
    corrected = {r.corrects_id for r in fixes if r.corrects_id is not None}
    for r in fixes:
        by_employee[r.employee_id].append(
            Record(r.id, "correction", r.at, r.corrects_id, r.corrected_kind, r.is_void, r.created_at)
        )
    if corrected:
        q = select(c.id, c.employee_id, c.kind, c.at).where(c.id.in_(corrected))
        for record_id, employee_id, kind, at in (await uow.session.execute(q)).all():
            by_employee[employee_id].append(Record(record_id, kind, at))
    # The employee id as the driver gives it (SQLite: text), made a UUID once per
    # employee rather than once per row.
    raw_employee = type_coerce(c.employee_id, String)
    plain = select(raw_employee, c.kind, c.at).where(*in_day, c.kind != "correction")
    if corrected:
        plain = plain.where(c.id.not_in(corrected))
    raw: dict[Any, list[Record]] = defaultdict(list)
    for employee_id, kind, at in (await uow.session.execute(plain)).all():
        raw[employee_id].append(Record(None, kind, at))
    for key, found in raw.items():
        by_employee[key if isinstance(key, uuid.UUID) else uuid.UUID(key)].extend(found)
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
    table = cast(Table, AttendanceDay.__table__)
    t = table.c
    before = {
        r.employee_id: r
        for r in (
            await session.execute(
                select(t.employee_id, t.status, t.late, t.left_early, t.missing_checkout, t.version).where(
                    t.company_id == company_id, t.day == day
                )
            )
        ).all()
    }
    gone = cast(Table, RemovedAttendanceDay.__table__)
    g = gone.c
    removed = dict(
        (await session.execute(select(g.employee_id, g.version).where(g.company_id == company_id, g.day == day))).all()
    )
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
        row = {
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
            "version": 0,
            "computed_at": now,
        }
        _mark(uow, row, before.get(employee_id), removed.get(employee_id, 0))
        rows.append(row)
    computed = {row["employee_id"] for row in rows}
    still = {e: v for e, v in removed.items() if e not in computed}
    for employee_id, held in sorted(before.items()):
        if employee_id not in computed:  # no row any more: the day's earlier outcome is void
            still[employee_id] = _removed(uow, company_id, day, employee_id, held.version)
    if removed or still:  # rarely any: the days taken away, with their versions
        await session.execute(delete(gone).where(g.company_id == company_id, g.day == day))
        if still:
            await session.execute(
                insert(gone),
                [
                    {"id": day_id(e, day), "company_id": company_id, "employee_id": e, "day": day, "version": v}
                    for e, v in sorted(still.items())
                ],
            )
    await session.execute(delete(table).where(t.company_id == company_id, t.day == day))
    if rows:  # on the session's connection: a plain executemany, without the ORM's bulk bookkeeping
        await (await session.connection()).execute(insert(table), rows)
    await uow.commit()
    return Computed(company_id, day, len(rows), dict(counts))


_OUTCOME = ("status", "late", "left_early", "missing_checkout")


@dataclass
class _DayAggregate:
    id: uuid.UUID
    version: int


def _mark(uow: UnitOfWork, row: dict[str, Any], before: Any, removed: int) -> None:
    """Publish AttendanceMarked when the day's outcome (status and flags) differs from
    its previous computation — the first computation included, a plain present day
    too; ``row["version"]`` carries the day's event version forward (from ``removed``,
    the version of its ``removed`` event, for a day that had its row taken away)."""
    outcome = tuple(row[k] for k in _OUTCOME)
    previous = tuple(getattr(before, k) for k in _OUTCOME) if before is not None else None
    row["version"] = before.version if before is not None else removed
    if outcome == previous:
        return
    row["version"] = _emit(uow, row, row["version"])


def _removed(uow: UnitOfWork, company_id: uuid.UUID, day: date, employee_id: uuid.UUID, version: int) -> int:
    """The employee has no row of ``day`` any more (no shift that day, no check-ins or
    leave left): publish status ``removed`` so that a reader drops the day's earlier
    outcome; the event's version (kept in ``removed_attendance_days``)."""
    row = {
        "id": day_id(employee_id, day),
        "company_id": company_id,
        "employee_id": employee_id,
        "day": day,
        "status": "removed",
        "late": False,
        "left_early": False,
        "missing_checkout": False,
        "worked_minutes": 0,
    }
    return _emit(uow, row, version)


def _emit(uow: UnitOfWork, row: dict[str, Any], version: int) -> int:
    """Write the day's AttendanceMarked at the next version; that version."""
    aggregate = _DayAggregate(row["id"], version)
    event = AttendanceMarked(
        id=row["id"],
        company_id=row["company_id"],
        employee_id=row["employee_id"],
        day=row["day"],
        status=row["status"],
        late=row["late"],
        left_early=row["left_early"],
        missing_checkout=row["missing_checkout"],
        worked_minutes=row["worked_minutes"],
    )
    uow.emit(event, aggregate=aggregate, aggregate_type=AGGREGATE, tenant_id=str(row["company_id"]))
    return aggregate.version


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
