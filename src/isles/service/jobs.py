"""Jobs: a service's periodic work for a day (a monthly accrual, a daily attendance
computation, reminders of what expires), declared once and run two ways:

* by its schedule, inside the running service (a worker checks every minute whether
  a run is due: ``daily`` once per UTC day, ``monthly`` once per month, for the day
  it falls due, after ``at`` o'clock UTC);
* by command for a chosen day: ``isles jobs run leave.accrue --date 2026-11-01``, to
  catch up, test or replay.

A job must be **idempotent for its day**: running it twice for one day changes
nothing the second time (write its effects under a unique key that includes the day
or period). That is what makes a restart, a second replica or a replay safe, and
why the platform keeps no record of which runs happened beyond the process's memory.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, time
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from isles.service.context import ServiceContext

Schedule = Literal["daily", "monthly"]
#: ``run(ctx, day)``: does the day's work; returns a one-line summary of what it did.
JobRun = Callable[["ServiceContext", date], Awaitable[str]]


@dataclass(frozen=True)
class Job:
    """A named periodic job of a service (``name`` unique in the service)."""

    name: str
    run: JobRun
    schedule: Schedule | None = "daily"  # None: by command only
    description: str = ""
    at: time = time(1, 0)  # UTC time of day after which the day's run is due

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"job name {self.name!r}: letters, digits, '-' and '_' only")

    def due(self, today: date) -> date | None:
        """The day a scheduled run is for, as of ``today`` (None: never scheduled):
        today for a daily job, the first of the month for a monthly one."""
        if self.schedule == "daily":
            return today
        if self.schedule == "monthly":
            return today.replace(day=1)
        return None


__all__ = ["Job", "JobRun", "Schedule"]
