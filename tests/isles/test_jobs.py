"""Jobs (``isles.Job``): declared by a service, run when due by the running service
(once per due day, a failing one retried without stopping the others), and by
``isles jobs run`` for a chosen day, idempotently (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter
from typer.testing import CliRunner

from isles.cli.main import app
from isles.runtime.system import SystemRuntime
from isles.service.declaration import Service
from isles.service.jobs import Job, Scheduler
from isles.storage.schema import new_metadata
from tests.isles import jobtoy
from tests.support import Backend, make_backend

SYSTEM = "tests.isles.jobtoy:build"


async def _noop(ctx: Any, day: date) -> str:
    return "nothing"


def test_a_job_is_due_today_when_daily_and_on_the_first_when_monthly() -> None:
    day = date(2026, 11, 28)
    assert Job("a", run=_noop, schedule="daily").due(day) == day
    assert Job("a", run=_noop, schedule="monthly").due(day) == date(2026, 11, 1)
    assert Job("a", run=_noop, schedule=None).due(day) is None
    with pytest.raises(ValueError, match="letters, digits"):
        Job("a b", run=_noop)
    with pytest.raises(ValueError, match="job names repeat"):
        Service(name="s", metadata=new_metadata(), router=APIRouter(), migrations=None, jobs=[Job("a", _noop)] * 2)


class _Ctx:
    name = "svc"


async def test_the_scheduler_runs_each_due_job_once_per_day_after_its_hour() -> None:
    runs: list[tuple[str, date]] = []
    now = [datetime(2026, 11, 28, 0, 30, tzinfo=UTC)]

    def job(name: str, schedule: Any) -> Job:
        async def run(ctx: Any, day: date) -> str:
            runs.append((name, day))
            return "ok"

        return Job(name, run=run, schedule=schedule, at=time(1, 0))

    scheduler = Scheduler(_Ctx(), [job("d", "daily"), job("m", "monthly"), job("x", None)], clock=lambda: now[0])  # type: ignore[arg-type]
    assert await scheduler.step() == 0, "before 01:00 UTC nothing is due"
    now[0] = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
    assert await scheduler.step() == 2
    assert runs == [("d", date(2026, 11, 28)), ("m", date(2026, 11, 1))]
    assert await scheduler.step() == 0, "each ran for its day already"
    now[0] = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
    assert await scheduler.step() == 1
    now[0] = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert await scheduler.step() == 2
    assert runs[2:] == [("d", date(2026, 11, 29)), ("d", date(2026, 12, 1)), ("m", date(2026, 12, 1))]


async def test_a_failing_job_is_tried_again_and_does_not_stop_the_others() -> None:
    attempts: list[date] = []
    others: list[date] = []

    async def flaky(ctx: Any, day: date) -> str:
        attempts.append(day)
        if len(attempts) == 1:
            raise RuntimeError("the database blinked")
        return "ok"

    async def other(ctx: Any, day: date) -> str:
        others.append(day)
        return "ok"

    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    scheduler = Scheduler(_Ctx(), [Job("flaky", flaky), Job("other", other)], clock=lambda: now)  # type: ignore[arg-type]
    assert await scheduler.step() == 1
    assert (scheduler.failures, others) == (1, [now.date()])
    assert await scheduler.step() == 1, "the failed job runs again at the next check"
    assert attempts == [now.date(), now.date()]
    assert await scheduler.step() == 0


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    made = make_backend(request.param, tmp_path)
    yield made
    made.drop_later(["clock"])


@pytest.mark.integration
async def test_the_running_service_runs_its_scheduled_jobs_unless_turned_off(backend: Backend) -> None:
    off = SystemRuntime(jobtoy.build(), backend.settings, environ={})
    assert "clock:jobs" not in off["clock"].workers, "the tests' settings turn scheduled jobs off"
    settings = backend.settings.but(jobs_enabled=True, jobs_poll_interval=0.05)
    runtime = SystemRuntime(jobtoy.build(), settings, environ={})
    await runtime.start()
    try:
        worker = runtime["clock"].workers["clock:jobs"]
        for _ in range(200):
            if len(await jobtoy.ticks(runtime["clock"])) == 2 and worker.idle:
                break
            await asyncio.sleep(0.05)
        today = datetime.now(UTC).date()
        if datetime.now(UTC).time() >= time(1, 0):
            assert await jobtoy.ticks(runtime["clock"]) == [("month", today.replace(day=1)), ("tick", today)]
        else:  # between midnight and 01:00 UTC nothing is due yet
            assert await jobtoy.ticks(runtime["clock"]) == []
    finally:
        await runtime.stop()


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


@pytest.mark.integration
def test_isles_jobs_lists_jobs_and_runs_one_for_a_day_idempotently(backend: Backend, tmp_path: Path) -> None:
    asyncio.run(_prepare(backend))
    where = ["--database-url", backend.settings.database_url] if backend.settings.database_url else []
    where += ["--data-dir", str(backend.settings.data_dir), "--system", SYSTEM]
    code, output = _cli("jobs", "list", *where)
    assert code == 0, output
    for expected in ("clock.tick", "daily", "clock.month", "monthly", "clock.manual", "by command", "a tick a day"):
        assert expected in output
    code, output = _cli("jobs", "run", "clock.manual", "--date", "2026-01-05", *where)
    assert code == 0, output
    assert "clock.manual for 2026-01-05: 1 tick" in output
    code, output = _cli("jobs", "run", "clock.manual", "--date", "2026-01-05", *where)
    assert (code, "clock.manual for 2026-01-05: already done" in output) == (0, True), output
    assert asyncio.run(_ticks(backend)) == [("manual", date(2026, 1, 5))]
    code, output = _cli("jobs", "run", "clock.nope", *where)
    assert code == 2
    assert "no job 'clock.nope'" in output
    assert "clock.tick" in output
    code, output = _cli("jobs", "run", "clock.tick", "--date", "2026-13-01", *where)
    assert code == 2
    assert "is not a date" in output


async def _prepare(backend: Backend) -> None:
    runtime = SystemRuntime(jobtoy.build(), backend.settings, environ={})
    await runtime.prepare()
    for rt in runtime.services.values():
        await rt.db.dispose()


async def _ticks(backend: Backend) -> list[tuple[str, date]]:
    runtime = SystemRuntime(jobtoy.build(), backend.settings, environ={})
    try:
        return await jobtoy.ticks(runtime["clock"])
    finally:
        await runtime["clock"].db.dispose()
