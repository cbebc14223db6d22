"""``isles jobs``: services' periodic jobs (``isles.Job``): list them, run one for a day."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from isles.cli.common import app, fail, load_system, make_runtime, out, run_db

if TYPE_CHECKING:
    from isles.service.jobs import Job

jobs_app = typer.Typer(
    help="Services' periodic jobs (accruals, daily computations, reminders): list them, run one for a day.\n\n"
    "Example: isles jobs run leave.accrue --date 2026-11-01",
    no_args_is_help=True,
)
app.add_typer(jobs_app, name="jobs")


def _all_jobs() -> dict[str, tuple[str, Job]]:
    """``service.job`` -> (service, job), in the system's order."""
    return {f"{s.name}.{j.name}": (s.name, j) for s in load_system().services for j in s.jobs}


@jobs_app.command("list")
def jobs_list() -> None:
    """Every job of every service: its schedule (daily, monthly, or by command only),
    the UTC time after which a day's run is due, and what it does.

    Example: isles jobs list
    """
    jobs = _all_jobs()
    if not jobs:
        out.print("no service of this system declares a job")
        return
    table = Table("job", "schedule", "due after (UTC)", "what it does")
    for name, (_service, job) in jobs.items():
        due = job.at.strftime("%H:%M") if job.schedule else "-"
        table.add_row(name, job.schedule or "by command", due, job.description)
    out.print(table)


def _day(value: str | None, job: Job) -> date:
    if value is None:
        today = date.today()
        return job.due(today) or today
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"--date {value!r} is not a date: give YYYY-MM-DD") from None


@jobs_app.command("run")
def jobs_run(
    name: Annotated[str, typer.Argument(help="The job, as SERVICE.JOB (see `isles jobs list`).")],
    day: Annotated[
        str | None,
        typer.Option("--date", help="The day to run it for, YYYY-MM-DD (default: the day it is due for today)."),
    ] = None,
) -> None:
    """Run one job for one day, now, against the system's databases (the running
    system may run at the same time: jobs are idempotent for their day, so a second
    run for the same day changes nothing). Events it writes are published by the
    service's relay.

    Example: isles jobs run leave.accrue --date 2026-11-01
    """
    jobs = _all_jobs()
    if name not in jobs:
        known = ", ".join(jobs) or "none"
        raise fail(f"no job {name!r}: give SERVICE.JOB, one of: {known}")
    service, job = jobs[name]
    when = _day(day, job)
    runtime = make_runtime()

    async def go() -> str:
        return await job.run(runtime[service], when)

    summary = run_db(runtime, go)
    out.print(f"{name} for {when.isoformat()}: {summary}", highlight=False)
