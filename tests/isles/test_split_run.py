"""``isles split run`` / ``verify``: the example monolith (tests/fixtures/monolith.py, 50
employees) loaded into the HR system's migrated databases (copied from the session's
templates), through the real command line: counts, checksums, ids consistent across
services, the dirt in the rejects file counted exactly, a rerun that changes nothing,
a threshold that stops the run."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from hrms.system import build as build_hrms
from isles.cli.main import app
from isles.storage import crypto
from isles.storage.db import connect_waiting
from isles.tools.split.analyse import analyse
from isles.tools.split.plan import TODO, Plan, check_plan, propose, target_of, write_plan
from isles.tools.split.run import namespace, read_rejects, uuid_of
from tests.fixtures.monolith import Stats, make_monolith
from tests.isles.test_split_plan import fill_todos
from tests.support import Backend, Templates, make_backend

pytestmark = pytest.mark.integration

EMPLOYEES = 50
HRMS = ["--system", "hrms.system:build"]
SERVICES = [s.name for s in build_hrms().services]


def hr_plan(stats: Stats, path: Path, *, threshold: float = 0.2, check: bool = True) -> Plan:
    """The proposal for the HR system with its TODOs decided (as test_split_plan does),
    and the decisions a run needs: a hire date for the rows whose date is not one, an
    allocation for 'n/a', leave requests' status in the target's words as proposed (or
    left to the target's default where the proposal could not match a word)."""
    analysis = analyse(stats.path)
    target = target_of(build_hrms())
    plan = propose(analysis, target)
    fill_todos(plan)
    plan.threshold = threshold
    plan.tables["employees"].defaults["hire_date"] = "1970-01-01"
    plan.tables["assignments"].defaults["allocation"] = 50
    requests = plan.tables["leave_requests"]
    if TODO in requests.values.get("status", {}).values():  # a word the proposal could not match
        del requests.columns["status"], requests.values["status"]
        requests.skip.append("status")
    if check:
        assert check_plan(plan, analysis, target) == []
    write_plan(plan, path)
    return plan


def env_of(backend: Backend) -> dict[str, str]:
    env = {
        "ISLES_DATA_DIR": str(backend.settings.data_dir),
        "ISLES_KEYS_DIR": str(backend.settings.data_dir / "keys"),
        "ISLES_POOL_SIZE": "2",
        "ISLES_POOL_MAX_OVERFLOW": "0",
        "COLUMNS": "200",
    }
    if backend.settings.database_url:
        env["ISLES_DATABASE_URL"] = backend.settings.database_url
    return env


def isles(backend: Backend, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, *HRMS], env=env_of(backend))


def prepare(backend: Backend, templates: Templates) -> None:
    asyncio.run(templates.clone(build_hrms(), backend))
    crypto.generate_data_key(crypto.data_keys_dir(backend.settings.data_dir / "keys", "employee"))


def one(db: sqlite3.Connection, sql: str) -> int:
    return int(db.execute(sql).fetchone()[0])


def expected_rejects(stats: Stats) -> Counter[tuple[str, str, str]]:
    """(table, column, decision) -> count, from the generator's Stats and, for the
    duplicates of the target's unique keys the generator did not aim at, the monolith."""
    n = stats.employees
    with sqlite3.connect(stats.path) as db:
        pairs = one(
            db,
            f"SELECT count(*) - count(DISTINCT employee_id || ':' || project_id) FROM assignments "
            f"WHERE employee_id <= {n}",
        )
        days = one(db, "SELECT count(*) - count(DISTINCT employee_id || ':' || work_date) FROM attendance")
    found = Counter(
        {
            ("assignments", "employee_id", "skip"): stats.orphan_assignments,
            ("assignments", "allocation", "default"): stats.text_na,  # '12' converts; 'n/a' does not
            ("employees", "hire_date", "default"): sum(stats.bad_dates.values()),
            ("employees", "phone", "null"): stats.empty_strings["employees.phone"],
            ("leave_requests", "reason", "null"): stats.empty_strings["leave_requests.reason"],
            ("assignments", "employee_id,project_id", "skip"): pairs,
            ("attendance", "employee_id,day", "skip"): days,
        }
    )
    return +found


def counts(backend: Backend) -> dict[str, int]:
    """Rows per table in every service's SQLite database."""
    found = {}
    for service in SERVICES:
        with sqlite3.connect(backend.settings.data_dir / f"{service}.db") as db:
            for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
                found[f"{service}.{table}"] = one(db, f'SELECT count(*) FROM "{table}"')
    return found


@pytest.fixture
def monolith(tmp_path: Path) -> Stats:
    return make_monolith(tmp_path / "monolith.sqlite", employees=EMPLOYEES, seed=7)


def test_run_loads_the_hr_system_and_verify_passes(monolith: Stats, templates: Templates, tmp_path: Path) -> None:
    backend = make_backend("sqlite", tmp_path / "db")
    prepare(backend, templates)
    plan_file = tmp_path / "plan.toml"
    plan = hr_plan(monolith, plan_file)
    before = counts(backend)

    ran = isles(backend, "split", "run", "--plan", str(plan_file), str(monolith.path))
    assert ran.exit_code == 0, ran.output
    rejects = read_rejects(tmp_path / "rejects.csv")
    got = Counter((r.table, r.column, r.decision) for r in rejects)
    assert got == expected_rejects(monolith)
    assert not [r for r in rejects if r.table in ("users", "employees") and r.column == "email"]  # see below
    skipped = Counter(r.table for r in rejects if r.decision == "skip")

    after = counts(backend)
    targets = {name: tp.target for name, tp in plan.tables.items()}
    for name, target in targets.items():
        assert after[target] - before[target] == monolith.rows[name] - skipped[name], name
    total = sum(after[target] - before[target] for target in targets.values())
    assert f"{total} rows loaded, {total} of them written by this run;" in ran.output
    # no events for the historical rows
    for service in SERVICES:
        table = f"{service}.isles_outbox"
        if table in after:
            assert after[table] == before[table], service

    # ids: uuid5 of the plan's namespace, the same in every service
    ns = namespace(plan)
    with (
        sqlite3.connect(backend.settings.data_dir / "employee.db") as employee,
        sqlite3.connect(backend.settings.data_dir / "project.db") as project,
        sqlite3.connect(monolith.path) as source,
    ):
        employee_ids = {uuid.UUID(r[0]) for r in employee.execute("SELECT id FROM employees")}
        assert employee_ids == {uuid_of(ns, "employees", i) for i in range(1, EMPLOYEES + 1)}
        pairs = source.execute(
            f"SELECT id, employee_id FROM assignments WHERE employee_id <= {EMPLOYEES} ORDER BY id LIMIT 10"
        ).fetchall()
        for assignment, person in pairs:
            row = project.execute(
                "SELECT employee_id, employee_name, employee_version FROM assignments WHERE id = ?",
                (uuid_of(ns, "assignments", assignment).hex,),
            ).fetchone()
            if row is None:  # a duplicate pair: in the rejects
                assert any(r.table == "assignments" and r.rowid == assignment for r in rejects)
                continue
            assert uuid.UUID(row[0]) == uuid_of(ns, "employees", person)
            assert uuid.UUID(row[0]) in employee_ids
            first, last = source.execute(
                "SELECT first_name, last_name FROM employees WHERE id = ?", (person,)
            ).fetchone()
            assert row[1:] == (f"{first} {last}", 1)  # the copy, from the owner's row
        assert one(employee, "SELECT count(*) FROM employees WHERE version = 1") == EMPLOYEES
        # an encrypted Decimal holds the monolith's REAL as written, not the float's
        # binary expansion (78778.94 had become 78778.9400000000023283064365386962890625)
        crypto.ring("employee").load(crypto.data_keys_dir(backend.settings.data_dir / "keys", "employee"))
        salaries = dict(source.execute("SELECT id, salary FROM employees WHERE typeof(salary) = 'real'").fetchall())
        assert salaries
        for person, salary in salaries.items():
            stored = employee.execute(
                "SELECT salary FROM employees WHERE id = ?", (uuid_of(ns, "employees", person).hex,)
            ).fetchone()[0]
            assert crypto.decrypt("employee", "employees.salary", stored) == str(salary)
        bad = [r.rowid for r in rejects if r.column == "hire_date"]
        for rowid in bad:
            day = employee.execute(
                "SELECT hire_date FROM employees WHERE id = ?", (uuid_of(ns, "employees", rowid).hex,)
            ).fetchone()[0]
            assert day == "1970-01-01"  # the plan's default, as [rejects] bad_values = "default" says
    # the replicas other services keep, filled from the owners' rows with their version
    assert "copy project.company_policies: not filled: max_allocation_percent" in ran.output
    for copy, owner in (("tasks.task_users", "employees"), ("notification.notification_users", "users")):
        assert f"copy {copy}: {monolith.rows[owner] - skipped[owner]} rows" in ran.output
    with sqlite3.connect(backend.settings.data_dir / "project.db") as project:
        copies = {uuid.UUID(r[0]): r[1:] for r in project.execute("SELECT id, full_name, version FROM employee_copies")}
    assert set(copies) == employee_ids
    with sqlite3.connect(monolith.path) as source:
        first, last = source.execute("SELECT first_name, last_name FROM employees WHERE id = 7").fetchone()
    assert copies[uuid_of(ns, "employees", 7)] == (f"{first} {last}", 1)

    ids = sqlite3.connect(plan_file.with_suffix(".ids.sqlite"))
    assert one(ids, "SELECT count(*) FROM isles_split_ids WHERE source_table = 'employees'") == EMPLOYEES
    assert ids.execute("SELECT id FROM isles_split_ids WHERE source_table = 'employees' AND source_id = 3").fetchone()[
        0
    ] == str(uuid_of(ns, "employees", 3))
    ids.close()

    verified = isles(backend, "split", "verify", "--plan", str(plan_file), str(monolith.path))
    assert verified.exit_code == 0, verified.output
    assert "verified: every table matches the monolith" in verified.output
    copy_line = next(line for line in verified.output.splitlines() if "tasks.task_users" in line)
    assert "employees (copy)" in copy_line
    assert copy_line.split("│")[-2].strip() == "ok"

    # a rerun: nothing twice, the same rejects, verify still passes
    again = isles(backend, "split", "run", "--plan", str(plan_file), str(monolith.path))
    assert again.exit_code == 0, again.output
    assert counts(backend) == after
    # the rerun says it wrote nothing (it said it had loaded every row again)
    assert f"{total} rows loaded, 0 of them written by this run;" in again.output
    users = monolith.rows["employees"] - skipped["employees"]
    assert f"copy tasks.task_users: {users} rows, {users} written by this run" in ran.output
    assert f"copy tasks.task_users: {users} rows, 0 written by this run" in again.output
    assert read_rejects(tmp_path / "rejects.csv") == rejects
    assert isles(backend, "split", "verify", "--plan", str(plan_file), str(monolith.path)).exit_code == 0

    # a row changed behind the run's back: verify names it
    with sqlite3.connect(backend.settings.data_dir / "company.db") as company:
        company.execute("UPDATE companies SET name = 'Renamed' WHERE id = ?", (uuid_of(ns, "companies", 1).hex,))
        company.execute("DELETE FROM departments WHERE id = ?", (uuid_of(ns, "departments", 2).hex,))
    with sqlite3.connect(backend.settings.data_dir / "tasks.db") as tasks:
        tasks.execute("DELETE FROM task_users WHERE id = ?", (uuid_of(ns, "employees", 5).hex,))
    changed = isles(backend, "split", "verify", "--plan", str(plan_file), str(monolith.path))
    assert changed.exit_code == 1
    copy_line = next(line for line in changed.output.splitlines() if "tasks.task_users" in line)
    assert copy_line.split("│")[-2].strip() == "NO"
    # the differing row's column named, with both values
    assert f"companies: {uuid_of(ns, 'companies', 1)} differs: name (" in changed.output
    assert "expected, 'Renamed' found)" in changed.output
    assert f"departments: {uuid_of(ns, 'departments', 2)} missing" in changed.output
    assert "unresolved reference: employee.employees.department_id" in changed.output
    assert f"to a rejected row (in {tmp_path / 'rejects.csv'})" in changed.output.replace("\n", "")

    # without the run's rejects file every monolith row is expected, and verify says why
    (tmp_path / "rejects.csv").rename(tmp_path / "elsewhere.csv")
    unread = isles(backend, "split", "verify", "--plan", str(plan_file), str(monolith.path))
    assert unread.exit_code == 1
    assert f"no rejects file at {tmp_path / 'rejects.csv'}" in unread.output.replace("\n", "")


@pytest.mark.parametrize("backend_name", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_run_with_verify_verifies_in_the_same_process(
    backend_name: str, monolith: Stats, templates: Templates, tmp_path: Path
) -> None:
    """``split run --verify``: the run's report, then verify's, from one process; exit 1
    where the databases do not match the monolith (a rerun writes nothing, so a row
    changed behind the run's back is still different, and verify names it)."""
    backend = make_backend(backend_name, tmp_path / "db")
    prepare(backend, templates)
    try:
        plan_file = tmp_path / "plan.toml"
        ns = namespace(hr_plan(monolith, plan_file))
        argv = ["split", "run", "--plan", str(plan_file), str(monolith.path), "--verify"]
        ran = isles(backend, *argv)
        assert ran.exit_code == 0, ran.output
        assert ran.output.index("split run") < ran.output.index("split verify")
        assert "of them written by this run;" in ran.output
        assert f"to a rejected row (in {tmp_path / 'rejects.csv'})" in ran.output.replace("\n", "")
        assert "verified: every table matches the monolith" in ran.output

        company = uuid_of(ns, "companies", 1)
        sql = "UPDATE companies SET name = 'Renamed' WHERE id = "
        if backend_name == "sqlite":
            with sqlite3.connect(backend.settings.data_dir / "company.db") as db:
                db.execute(sql + "?", (company.hex,))
        else:

            async def rename() -> None:
                conn = await connect_waiting(backend.url("company").replace("postgresql+asyncpg", "postgresql"))
                try:
                    await conn.execute(sql + "$1", company)
                finally:
                    await conn.close()

            asyncio.run(rename())
        again = isles(backend, *argv)
        assert again.exit_code == 1, again.output
        assert f"companies: {company} differs: name (" in again.output
        assert "expected, 'Renamed' found)" in again.output
        assert "the services' databases do not match the monolith" in again.output
        assert "verified:" not in again.output
    finally:
        backend.drop_later(SERVICES)


def test_a_threshold_of_zero_stops_the_run(monolith: Stats, templates: Templates, tmp_path: Path) -> None:
    backend = make_backend("sqlite", tmp_path / "db")
    prepare(backend, templates)
    plan_file = tmp_path / "plan.toml"
    plan = hr_plan(monolith, plan_file, threshold=0.0)
    ran = isles(
        backend,
        "split",
        "run",
        "--plan",
        str(plan_file),
        str(monolith.path),
        "--rejects",
        str(tmp_path / "r.csv"),
        "--verify",
    )
    assert ran.exit_code == 1, ran.output
    assert "stopped:" in ran.output
    assert "> threshold 0.0%" in ran.output
    assert "split verify" not in ran.output  # --verify: not after a stopped run
    with (tmp_path / "r.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["file", "table", "rowid", "column", "value", "reason", "decision"]
    assert len(rows) > 1
    # the converter runs ahead of the writes: nothing after the table that stopped the run
    # is written, reported or given a watermark
    stopped = rows[1][1]
    assert {r[1] for r in rows[1:]} == {stopped}
    with sqlite3.connect(plan_file.with_suffix(".ids.sqlite")) as db:
        marked = [t for (t,) in db.execute("SELECT source_table FROM isles_split_watermarks")]
    assert stopped in marked
    found = counts(backend)
    for name, tp in plan.tables.items():
        if name not in marked:
            assert found[tp.target] == 0, name
    assert len(marked) < len(plan.tables)


def test_run_refuses_a_plan_check_refuses_and_unmigrated_databases(monolith: Stats, tmp_path: Path) -> None:
    backend = make_backend("sqlite", tmp_path / "db")
    plan_file = tmp_path / "plan.toml"
    plan = hr_plan(monolith, plan_file)
    result = isles(backend, "split", "run", "--plan", str(plan_file), str(monolith.path))
    assert result.exit_code == 2, result.output
    assert "run isles migrate upgrade first" in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1
    # verify, too (a newcomer's trial: "database error: unable to open database file",
    # exit 1 — the code of "the databases differ"), and nothing is created
    result = isles(backend, "split", "verify", "--plan", str(plan_file), str(monolith.path))
    assert result.exit_code == 2, result.output
    assert "no database at sqlite+aiosqlite:///" in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1
    assert not list(backend.settings.data_dir.glob("*.db"))

    plan.tables["projects"].defaults["capacity"] = "TODO"
    write_plan(plan, plan_file)
    result = isles(backend, "split", "run", "--plan", str(plan_file), str(monolith.path))
    assert result.exit_code == 2
    assert "tables.projects.defaults.capacity: still TODO" in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1


def test_a_service_without_its_data_key_stops_the_run_before_anything_is_written(
    monolith: Stats, templates: Templates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A newcomer's trial: without `isles keys generate` the run wrote three tables,
    then died on the employees' salaries (DataKeyError, a traceback)."""
    backend = make_backend("sqlite", tmp_path / "db")
    asyncio.run(templates.clone(build_hrms(), backend))  # no data key
    monkeypatch.setattr(crypto, "RINGS", {})  # this process's: the templates' runtime loaded theirs
    plan_file = tmp_path / "plan.toml"
    hr_plan(monolith, plan_file)
    before = counts(backend)
    ran = isles(backend, "split", "run", "--plan", str(plan_file), str(monolith.path))
    assert ran.exit_code == 2, ran.output
    lines = [line for line in ran.output.splitlines() if line.strip()]
    assert len(lines) == 1, ran.output
    assert "employee: no data key to encrypt employees.salary with" in lines[0]
    assert "isles keys generate" in lines[0]
    assert counts(backend) == before


@pytest.mark.postgres
def test_run_and_verify_on_postgres(monolith: Stats, templates: Templates, tmp_path: Path) -> None:
    backend = make_backend("postgres", tmp_path / "db")
    prepare(backend, templates)
    try:
        plan_file = tmp_path / "plan.toml"
        hr_plan(monolith, plan_file)
        ran = isles(backend, "split", "run", "--plan", str(plan_file), str(monolith.path))
        assert ran.exit_code == 0, ran.output
        got = Counter((r.table, r.column, r.decision) for r in read_rejects(tmp_path / "rejects.csv"))
        assert got == expected_rejects(monolith)
        verified = isles(backend, "split", "verify", "--plan", str(plan_file), str(monolith.path))
        assert verified.exit_code == 0, verified.output
        again = isles(backend, "split", "run", "--plan", str(plan_file), str(monolith.path))
        assert again.exit_code == 0, again.output
        total = int(ran.output.split(" rows loaded, ")[0].split()[-1])
        assert f"{total} rows loaded, {total} of them written by this run;" in ran.output
        assert f"{total} rows loaded, 0 of them written by this run;" in again.output
        assert isles(backend, "split", "verify", "--plan", str(plan_file), str(monolith.path)).exit_code == 0
    finally:
        backend.drop_later(SERVICES)  # in the background; the session waits for it


@pytest.mark.parametrize("command", ["run", "verify"])
def test_split_run_commands_have_help_with_an_example(command: str) -> None:
    result = CliRunner().invoke(app, ["split", command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert f"Example: isles split {command} " in result.stdout


def _user_rows(backend: Backend) -> int:
    """Rows in auth.users (among the first tables loaded: the ones after it name its
    rows) so far."""
    if backend.name == "sqlite":
        with sqlite3.connect(backend.settings.data_dir / "auth.db", timeout=0.1) as db:
            return one(db, "SELECT count(*) FROM users")

    async def count() -> int:
        conn = await connect_waiting(backend.url("auth").replace("postgresql+asyncpg", "postgresql"))
        try:
            return int(await conn.fetchval("SELECT count(*) FROM users"))
        finally:
            await conn.close()

    return asyncio.run(count())


def _counts_of(backend: Backend) -> dict[str, int]:
    if backend.name == "sqlite":
        return counts(backend)

    async def count() -> dict[str, int]:
        found = {}
        for service in SERVICES:
            conn = await connect_waiting(backend.url(service).replace("postgresql+asyncpg", "postgresql"))
            try:
                for (table,) in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"):
                    found[f"{service}.{table}"] = int(await conn.fetchval(f'SELECT count(*) FROM "{table}"'))
            finally:
                await conn.close()
        return found

    return asyncio.run(count())


@pytest.mark.parametrize("backend_name", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_run_killed_mid_way_then_rerun_loads_everything_once(
    backend_name: str, templates: Templates, tmp_path: Path
) -> None:
    """kill -9 after the first batches of a real `isles split run` (its converter runs
    ahead of its writes: batches converted, not written, die with it); the rerun
    completes, with no duplicates, the replicas too, the same rejects file as a run
    from scratch, and verify passes."""
    stats = make_monolith(tmp_path / "monolith.sqlite", employees=1000, seed=3)
    backend = make_backend(backend_name, tmp_path / "db")
    prepare(backend, templates)
    try:
        plan_file = tmp_path / "plan.toml"
        plan = hr_plan(stats, plan_file)
        env = {**os.environ, **env_of(backend), "PYTHONPATH": os.pathsep.join(sys.path)}
        argv = [sys.executable, "-m", "isles.cli", "split", "run", "--plan", str(plan_file), str(stats.path), *HRMS]
        before = _counts_of(backend)

        def killed_mid_way() -> int:
            proc = subprocess.Popen(
                [*argv, "--batch", "100"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            deadline = time.monotonic() + 60
            try:
                while True:
                    assert proc.poll() is None, "the run ended before it was killed"
                    assert time.monotonic() < deadline
                    with contextlib.suppress(sqlite3.OperationalError):
                        if _user_rows(backend) >= 200:
                            break
                    time.sleep(0.02)
            finally:
                proc.kill()
                proc.wait(timeout=30)
            partial = _counts_of(backend)
            there = sum(partial[t.target] - before[t.target] for t in plan.tables.values())
            assert there < stats.total_rows // 2  # it was mid-way
            return there

        # a killed run can be undone as it is (a newcomer's trial: its ids were written
        # only at its end, so rollback said "no id mapping" and the rows stayed)
        killed_mid_way()
        undone = isles(backend, "split", "rollback", "--plan", str(plan_file), str(stats.path))
        assert undone.exit_code == 0, undone.output
        assert _counts_of(backend) == before

        there = killed_mid_way()
        rerun = isles(backend, "split", "run", "--plan", str(plan_file), str(stats.path))
        assert rerun.exit_code == 0, rerun.output
        rejects = read_rejects(tmp_path / "rejects.csv")
        skipped = Counter(r.table for r in rejects if r.decision == "skip")
        after = _counts_of(backend)
        for name, tp in plan.tables.items():
            assert after[tp.target] == stats.rows[name] - skipped[name], name
        # the rerun counts what it found there apart from what it wrote
        total = sum(after[tp.target] - before[tp.target] for tp in plan.tables.values())
        assert f"{total} rows loaded, {total - there} of them written by this run;" in rerun.output
        assert after["tasks.task_users"] == after["employee.employees"]
        assert Counter((r.table, r.column, r.decision) for r in rejects) == expected_rejects(stats)
        verified = isles(backend, "split", "verify", "--plan", str(plan_file), str(stats.path))
        assert verified.exit_code == 0, verified.output
    finally:
        backend.drop_later(SERVICES)
