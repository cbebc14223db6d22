"""The rules that turn a day's check-ins, shift and leave into an attendance day.

Pure functions, no database: :mod:`hrms.services.presence.compute` feeds them.
The rules (also in docs/presence.md):

* Corrections first: a correction of a record replaces it (its kind and time) or
  voids it; the newest correction of a record wins; a correction of nothing adds
  the record that was missing. What remains are the day's *effective* ins and outs.
* Ins and outs pair up in time order: an ``in`` opens, the next ``out`` closes;
  a second ``in`` while open keeps the first, an ``out`` with nothing open is
  ignored. Worked minutes are the closed pairs' sum. An ``in`` left open at the end
  of the day is a **forgotten check-out**: flagged, never guessed (it adds nothing).
* Status, first match: a full day of leave: ``on_leave``. No check-ins: ``absent``
  on a shift day (a half day of leave too: the other half was expected), else no
  row. Otherwise ``present``, or ``half_day`` when the worked minutes are under the
  shift's half-day threshold (half of it with a half day of leave). While a
  check-out is missing, the day stays ``present`` and neither ``half_day`` nor
  ``left_early`` is decided.
* Flags beside the status: ``late`` when the first in is after the shift's start
  plus its grace (not with a morning of leave); ``left_early`` when the last out is
  before the shift's end minus its grace (not with an afternoon of leave).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Record:
    """A row of ``checkins``, as the computation needs it (``id``: None for a record
    no correction points at)."""

    id: uuid.UUID | None
    kind: str  # in, out, correction
    at: datetime
    corrects_id: uuid.UUID | None = None
    corrected_kind: str | None = None
    is_void: bool = False
    created_at: datetime | None = None


@dataclass(frozen=True)
class ShiftRule:
    id: uuid.UUID
    start: time
    end: time
    late_grace_minutes: int
    early_grace_minutes: int
    half_day_minutes: int


@dataclass(frozen=True)
class DayResult:
    status: str
    late: bool = False
    left_early: bool = False
    missing_checkout: bool = False
    leave_part: str | None = None
    first_in: datetime | None = None
    last_out: datetime | None = None
    worked_minutes: int = 0


def effective(records: Iterable[Record]) -> list[tuple[datetime, str]]:
    """The ins and outs that count, in time order, corrections applied."""
    records = list(records)
    latest: dict[uuid.UUID, Record] = {}
    added: list[Record] = []
    for r in sorted(records, key=lambda r: (r.created_at or r.at, str(r.id))):
        if r.kind != "correction":
            continue
        if r.corrects_id is None:
            added.append(r)
        else:
            latest[r.corrects_id] = r  # the newest correction of a record wins
    out: list[tuple[datetime, str]] = []
    for r in records:
        if r.kind == "correction":
            continue
        fix = latest.get(r.id) if r.id is not None else None
        if fix is None:
            out.append((r.at, r.kind))
        elif not fix.is_void and fix.corrected_kind is not None:
            out.append((fix.at, fix.corrected_kind))
    out.extend((r.at, r.corrected_kind) for r in added if not r.is_void and r.corrected_kind is not None)
    out.sort(key=lambda e: (e[0], e[1] == "in"))  # at one instant, an out closes before an in opens
    return out


@dataclass(frozen=True)
class Pairs:
    first_in: datetime | None
    last_out: datetime | None
    worked_seconds: int
    open_in: bool


def pair(events: Sequence[tuple[datetime, str]]) -> Pairs:
    opened: datetime | None = None
    first_in = last_out = None
    worked = 0
    for at, kind in events:
        if kind == "in":
            first_in = first_in or at
            if opened is None:
                opened = at
        elif opened is not None:
            worked += int((at - opened).total_seconds())
            last_out = at
            opened = None
    return Pairs(first_in, last_out, worked, opened is not None)


def decide(
    *,
    day: date,
    zone: ZoneInfo,
    records: Iterable[Record],
    shift: ShiftRule | None,
    leave_part: str | None,
) -> DayResult | None:
    """The attendance of one employee on ``day`` (None: nothing to record)."""
    if leave_part == "full":
        p = pair(effective(records))
        return DayResult(
            "on_leave",
            leave_part="full",
            first_in=p.first_in,
            last_out=p.last_out,
            worked_minutes=p.worked_seconds // 60,
        )
    events = effective(records)
    if not events or not any(kind == "in" for _, kind in events):
        if shift is None:
            return None
        return DayResult("absent", leave_part=leave_part)
    p = pair(events)
    worked = p.worked_seconds // 60
    common = {"leave_part": leave_part, "first_in": p.first_in, "last_out": p.last_out, "worked_minutes": worked}
    if shift is None:
        return DayResult("present", missing_checkout=p.open_in, **common)  # type: ignore[arg-type]
    start = datetime.combine(day, shift.start, zone)
    end = datetime.combine(day, shift.end, zone)
    late = (
        leave_part != "morning"
        and p.first_in is not None
        and p.first_in > start + timedelta(minutes=shift.late_grace_minutes)
    )
    if p.open_in:
        return DayResult("present", late=late, missing_checkout=True, **common)  # type: ignore[arg-type]
    left_early = (
        leave_part != "afternoon"
        and p.last_out is not None
        and p.last_out < end - timedelta(minutes=shift.early_grace_minutes)
    )
    needed = shift.half_day_minutes // 2 if leave_part in ("morning", "afternoon") else shift.half_day_minutes
    status = "half_day" if worked < needed else "present"
    return DayResult(status, late=late, left_early=left_early, **common)  # type: ignore[arg-type]


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """``day`` in ``zone`` as a half-open range of instants."""
    return datetime.combine(day, time(0), zone), datetime.combine(day + timedelta(days=1), time(0), zone)
