"""A company's calendar: which days are working days, and how many working days a
request takes (weekends and holidays skipped, half days at either end).

Pure functions: the use cases load the work week and holidays and pass them in.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DEFAULT_WORK_WEEK = "12345"  # ISO weekday numbers: Monday to Friday
MORNING, AFTERNOON = 0, 1
HALF, ONE = Decimal("0.5"), Decimal("1")


def encode_week(days: Iterable[str]) -> str:
    """``["monday", "friday"]`` -> ``"15"`` (sorted, each once)."""
    return "".join(str(n) for n in sorted({WEEKDAYS.index(d) + 1 for d in days}))


def decode_week(stored: str) -> list[str]:
    return [WEEKDAYS[int(c) - 1] for c in stored]


@dataclass(frozen=True)
class Calendar:
    """The working weekdays (ISO numbers) and holidays of a company."""

    working: frozenset[int] = frozenset(range(1, 6))
    dated: frozenset[date] = frozenset()
    yearly: frozenset[tuple[int, int]] = field(default_factory=frozenset)  # (month, day)

    @classmethod
    def of(cls, week: str | None, holidays: Iterable[tuple[date, bool]]) -> Calendar:
        pairs = list(holidays)
        return cls(
            working=frozenset(int(c) for c in (week if week is not None else DEFAULT_WORK_WEEK)),
            dated=frozenset(d for d, recurring in pairs if not recurring),
            yearly=frozenset((d.month, d.day) for d, recurring in pairs if recurring),
        )

    def is_working_day(self, day: date) -> bool:
        return day.isoweekday() in self.working and day not in self.dated and (day.month, day.day) not in self.yearly


def days_between(start: date, end: date) -> Iterator[date]:
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


def slots(start: date, end: date, first_day: str, last_day: str, day: date) -> set[int]:
    """The halves (morning, afternoon) of ``day`` that a request takes."""
    if day < start or day > end:
        return set()
    taken = {MORNING, AFTERNOON}
    if day == start and first_day != "full":
        taken &= {MORNING if first_day == "morning" else AFTERNOON}
    if day == end and last_day != "full":
        taken &= {MORNING if last_day == "morning" else AFTERNOON}
    return taken


def count_days(calendar: Calendar, start: date, end: date, first_day: str, last_day: str) -> Decimal:
    """The working days a request takes, in halves."""
    total = Decimal(0)
    for day in days_between(start, end):
        if calendar.is_working_day(day):
            total += HALF * len(slots(start, end, first_day, last_day, day))
    return total


@dataclass(frozen=True)
class Span:
    """A request's dates and the parts of its first and last day."""

    start: date
    end: date
    first_day: str = "full"
    last_day: str = "full"


def overlap(a: Span, b: Span) -> date | None:
    """The first day (a half of it) that both take, or None."""
    for day in days_between(max(a.start, b.start), min(a.end, b.end)):
        if slots(a.start, a.end, a.first_day, a.last_day, day) & slots(b.start, b.end, b.first_day, b.last_day, day):
            return day
    return None


__all__ = ["WEEKDAYS", "Calendar", "Span", "count_days", "decode_week", "encode_week", "overlap", "slots"]
