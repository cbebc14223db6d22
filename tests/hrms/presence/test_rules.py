"""The attendance rules alone (no database): pairing, corrections, leave halves."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hrms.services.presence.attendance import Record, ShiftRule, decide, effective
from hrms.services.presence.compute import COMPUTE_DAY

DAY = date(2026, 11, 23)
UTC_ZONE = ZoneInfo("UTC")
SHIFT = ShiftRule(uuid.uuid4(), time(9), time(17), 10, 10, 240)


def rec(kind: str, hour: int, minute: int = 0, **extra: object) -> Record:
    return Record(uuid.uuid4(), kind, datetime.combine(DAY, time(hour, minute), UTC), **extra)  # type: ignore[arg-type]


def test_the_job_is_due_for_yesterday_at_noon_utc() -> None:
    assert COMPUTE_DAY.due(DAY) == DAY - timedelta(days=1)
    assert COMPUTE_DAY.at == time(12, 0)


def test_pairs_ignore_a_second_in_and_an_out_with_nothing_open() -> None:
    records = [rec("out", 8), rec("in", 9), rec("in", 10), rec("out", 12), rec("out", 13)]
    result = decide(day=DAY, zone=UTC_ZONE, records=records, shift=SHIFT, leave_part=None)
    assert result is not None
    assert (result.status, result.worked_minutes, result.left_early) == ("half_day", 180, True)


def test_the_newest_correction_of_a_record_wins() -> None:
    wrong = rec("in", 9)
    first = Record(uuid.uuid4(), "correction", wrong.at, wrong.id, "in", False, datetime(2026, 11, 24, 8, tzinfo=UTC))
    later = Record(
        uuid.uuid4(),
        "correction",
        wrong.at.replace(hour=8),
        wrong.id,
        "in",
        False,
        datetime(2026, 11, 24, 9, tzinfo=UTC),
    )
    assert effective([wrong, later, first]) == [(wrong.at.replace(hour=8), "in")]


def test_a_morning_and_an_afternoon_of_leave_excuse_their_half_only() -> None:
    morning = decide(day=DAY, zone=UTC_ZONE, records=[rec("in", 13), rec("out", 16)], shift=SHIFT, leave_part="morning")
    assert morning is not None
    # Not late (the morning was leave), but left early; 180 of the 120 needed: present.
    assert (morning.status, morning.late, morning.left_early) == ("present", False, True)
    afternoon = decide(
        day=DAY, zone=UTC_ZONE, records=[rec("in", 9, 30), rec("out", 10, 30)], shift=SHIFT, leave_part="afternoon"
    )
    assert afternoon is not None
    assert (afternoon.status, afternoon.late, afternoon.left_early) == ("half_day", True, False)
    nothing = decide(day=DAY, zone=UTC_ZONE, records=[], shift=SHIFT, leave_part="afternoon")
    assert nothing is not None
    assert (nothing.status, nothing.leave_part) == ("absent", "afternoon")


def test_shift_times_are_the_companys_local_time() -> None:
    berlin = ZoneInfo("Europe/Berlin")  # UTC+1 in November
    on_time = decide(day=DAY, zone=berlin, records=[rec("in", 8, 5), rec("out", 16)], shift=SHIFT, leave_part=None)
    assert on_time is not None
    assert (on_time.late, on_time.left_early, on_time.status) == (False, False, "present")
