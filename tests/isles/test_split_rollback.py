"""``isles split rollback``: the example monolith run into the HR system's migrated
databases, then undone through the real command line: every table's row count back
to what it was before the run (the kernel's too: no events), a second rollback a
no-op, rows the live system added afterwards left alone (and a parent they hold
reported, not deleted), a run after it lining the ids up again."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from isles.tools.split.run import namespace, uuid_of
from tests.fixtures.monolith import Stats, make_monolith
from tests.isles.test_split_run import EMPLOYEES, HRMS, SERVICES, counts, env_of, hr_plan, isles, prepare
from tests.support import Backend, Templates, make_backend

pytestmark = pytest.mark.integration


@pytest.fixture
def monolith(tmp_path: Path) -> Stats:
    return make_monolith(tmp_path / "monolith.sqlite", employees=EMPLOYEES, seed=7)


def live_employee(backend: Backend, *, manager: uuid.UUID | None) -> uuid.UUID:
    """An employee "the live system" added after the run: a copy of a loaded one with
    a new id (and new unique values), managed by ``manager``."""
    new = uuid.uuid4()
    with sqlite3.connect(backend.settings.data_dir / "employee.db") as db:
        columns = [r[1] for r in db.execute("PRAGMA table_info(employees)")]
        fresh = {
            "id": f"'{new.hex}'",
            "employee_id": f"'LIVE-{new.hex[:8]}'",
            "email": f"'live.{new.hex[:8]}@example.com'",
            "user_id": f"'{uuid.uuid4().hex}'",
            "manager_id": f"'{manager.hex}'" if manager else "NULL",
        }
        picked = ", ".join(fresh.get(c, f'"{c}"') for c in columns)
        db.execute(f"INSERT INTO employees SELECT {picked} FROM employees LIMIT 1")
    return new


def employee_ids(backend: Backend) -> set[uuid.UUID]:
    with sqlite3.connect(backend.settings.data_dir / "employee.db") as db:
        return {uuid.UUID(r[0]) for r in db.execute("SELECT id FROM employees")}


def test_rollback_undoes_the_run_and_leaves_the_live_systems_rows(
    monolith: Stats, templates: Templates, tmp_path: Path
) -> None:
    backend = make_backend("sqlite", tmp_path / "db")
    prepare(backend, templates)
    plan_file = tmp_path / "plan.toml"
    plan = hr_plan(monolith, plan_file)
    before = counts(backend)
    args = ("--plan", str(plan_file), str(monolith.path))

    ran = isles(backend, "split", "run", *args)
    assert ran.exit_code == 0, ran.output
    loaded = counts(backend)
    assert sum(loaded.values()) > sum(before.values()) + 300  # it did load (tables, copies)

    back = isles(backend, "split", "rollback", *args)
    assert back.exit_code == 0, back.output
    assert counts(backend) == before  # every table, the kernel's (outbox, inbox) too
    assert "rolled back" in back.output
    assert f"{sum(loaded.values()) - sum(before.values())} rows deleted" in back.output

    again = isles(backend, "split", "rollback", *args)  # nothing left to do: a no-op
    assert again.exit_code == 0, again.output
    assert "0 rows deleted" in again.output
    assert counts(backend) == before

    # run again; the live system adds an employee; the rollback leaves it alone
    assert isles(backend, "split", "run", *args).exit_code == 0
    assert counts(backend) == loaded
    live = live_employee(backend, manager=None)
    back = isles(backend, "split", "rollback", *args)
    assert back.exit_code == 0, back.output
    assert employee_ids(backend) == {live}
    after = counts(backend)
    assert after["employee.employees"] == before["employee.employees"] + 1
    assert {k: v for k, v in after.items() if k != "employee.employees"} == {
        k: v for k, v in before.items() if k != "employee.employees"
    }

    # a live row managed by one of the run's employees: that one is reported and kept
    assert isles(backend, "split", "run", *args).exit_code == 0
    ns = namespace(plan)
    boss = uuid_of(ns, "employees", 3)
    second = live_employee(backend, manager=boss)
    held = isles(backend, "split", "rollback", *args)
    assert held.exit_code == 1, held.output
    left = [line for line in held.output.splitlines() if line.startswith("left: ")]
    assert len(left) == 1, held.output
    assert left[0].startswith(f"left: employee.employees {boss}: employees.manager_id of a row the run did not")
    assert "1 row(s) not deleted" in held.output
    assert employee_ids(backend) == {live, second, boss}
    with sqlite3.connect(backend.settings.data_dir / "project.db") as project:  # the others went on
        assert project.execute("SELECT count(*) FROM assignments").fetchone()[0] == before["project.assignments"]

    # the live system lets go of it: the rollback finishes; a run lines the ids up again
    with sqlite3.connect(backend.settings.data_dir / "employee.db") as db:
        db.execute("DELETE FROM employees WHERE id IN (?, ?)", (live.hex, second.hex))
    assert isles(backend, "split", "rollback", *args).exit_code == 0
    assert counts(backend) == before
    assert isles(backend, "split", "run", *args).exit_code == 0
    assert counts(backend) == loaded
    verified = isles(backend, "split", "verify", *args)
    assert verified.exit_code == 0, verified.output


def test_rollback_without_an_id_mapping_is_bad_input(monolith: Stats, tmp_path: Path) -> None:
    backend = make_backend("sqlite", tmp_path / "db")
    plan_file = tmp_path / "plan.toml"
    hr_plan(monolith, plan_file)
    result = isles(backend, "split", "rollback", "--plan", str(plan_file), str(monolith.path))
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "plan.ids.sqlite: no id mapping of a run" in lines[0]


def test_rollback_has_help_with_an_example() -> None:
    from typer.testing import CliRunner

    from isles.cli.main import app

    result = CliRunner().invoke(app, ["split", "rollback", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "Example: isles split rollback " in result.stdout


@pytest.mark.postgres
def test_rollback_on_postgres(monolith: Stats, templates: Templates, tmp_path: Path) -> None:
    backend = make_backend("postgres", tmp_path / "db")
    prepare(backend, templates)
    try:
        plan_file = tmp_path / "plan.toml"
        hr_plan(monolith, plan_file)
        args = ("--plan", str(plan_file), str(monolith.path))
        ran = isles(backend, "split", "run", *args)
        assert ran.exit_code == 0, ran.output
        back = isles(backend, "split", "rollback", *args)
        assert back.exit_code == 0, back.output
        assert "rolled back" in back.output
        again = isles(backend, "split", "rollback", *args)
        assert again.exit_code == 0, again.output
        assert "0 rows deleted" in again.output
        assert isles(backend, "split", "run", *args).exit_code == 0
        verified = isles(backend, "split", "verify", *args)
        assert verified.exit_code == 0, verified.output
    finally:
        backend.drop_later(SERVICES)


def test_a_rollback_killed_mid_way_then_rerun_finishes(templates: Templates, tmp_path: Path) -> None:
    """kill -9 a real `isles split rollback` after some batches; the rerun deletes the
    rest, and the databases are as before the run."""
    stats = make_monolith(tmp_path / "monolith.sqlite", employees=1000, seed=3)
    backend = make_backend("sqlite", tmp_path / "db")
    prepare(backend, templates)
    plan_file = tmp_path / "plan.toml"
    hr_plan(stats, plan_file)
    before = counts(backend)
    args = ("--plan", str(plan_file), str(stats.path))
    assert isles(backend, "split", "run", *args).exit_code == 0
    loaded = sum(counts(backend).values())
    env = {**os.environ, **env_of(backend), "PYTHONPATH": os.pathsep.join(sys.path)}
    argv = [sys.executable, "-m", "isles.cli", "split", "rollback", *args, *HRMS, "--batch", "20"]
    # The rollback's replicas come last: with the tasks service's database locked it
    # stops there (its driver waits up to 30 s), mid-way whatever the machine's speed.
    # (A clean-clone run: it deleted everything between the check below and the kill.)
    lock = sqlite3.connect(backend.settings.data_dir / "tasks.db", timeout=0)
    lock.execute("BEGIN IMMEDIATE")
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    try:
        while True:
            assert proc.poll() is None, "the rollback ended before it was killed"
            assert time.monotonic() < deadline
            with contextlib.suppress(sqlite3.OperationalError):
                if sum(counts(backend).values()) <= loaded - 300:
                    break
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        lock.rollback()
        lock.close()
    partial = sum(counts(backend).values())
    assert sum(before.values()) < partial < loaded  # it was mid-way
    rerun = isles(backend, "split", "rollback", *args)
    assert rerun.exit_code == 0, rerun.output
    assert f"{partial - sum(before.values())} rows deleted" in rerun.output
    assert counts(backend) == before
