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

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Literal

import structlog

from isles.core.clock import utcnow
from isles.service.workers import Worker

if TYPE_CHECKING:
    from isles.service.context import ServiceContext

log = structlog.get_logger("isles.jobs")

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


class Scheduler:
    """Runs a service's scheduled jobs when due, each once per due day in this
    process (a restart runs the day's job again: jobs are idempotent for their day).
    A failing job is logged and tried again at the next check; the others still run."""

    def __init__(self, ctx: ServiceContext, jobs: Sequence[Job], *, clock: Callable[[], datetime] = utcnow) -> None:
        self.ctx = ctx
        self.jobs = [j for j in jobs if j.schedule is not None]
        self.clock = clock
        self.done: dict[str, date] = {}  # job name -> the last day it ran for
        self.failures = 0

    async def step(self) -> int:
        now = self.clock()
        ran = 0
        for job in self.jobs:
            day = job.due(now.date())
            if day is None or now.time() < job.at or self.done.get(job.name) == day:
                continue
            try:
                summary = await job.run(self.ctx, day)
            except Exception as exc:
                self.failures += 1
                log.error("job.failed", service=self.ctx.name, job=job.name, day=day.isoformat(), error=repr(exc))
                continue
            self.done[job.name] = day
            ran += 1
            log.info("job.ran", service=self.ctx.name, job=job.name, day=day.isoformat(), summary=summary)
        return ran


class _Untouched:
    """Watched by the scheduler's worker so that no commit wakes it: it keeps time by
    its poll interval."""


def scheduler_worker(
    ctx: ServiceContext, jobs: Sequence[Job], *, poll_interval: float, clock: Callable[[], datetime] = utcnow
) -> Worker | None:
    """The worker that runs ``jobs`` when due, or None when none is scheduled."""
    scheduler = Scheduler(ctx, jobs, clock=clock)
    if not scheduler.jobs:
        return None
    return Worker(f"{ctx.name}:jobs", scheduler.step, poll_interval=poll_interval, watches=(_Untouched,))


__all__ = ["Job", "JobRun", "Schedule", "Scheduler", "scheduler_worker"]
