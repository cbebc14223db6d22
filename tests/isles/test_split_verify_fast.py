"""``isles split verify``'s fast path on PostgreSQL (the expected rows' ``COPY`` text
from the run's fast path against ``COPY ... TO``'s, the rows whose text differs
compared by value): on the dirty monolith of test_split_fast, after a run, it must
give exactly the :class:`VerifyResult` of the mapper's way (``--no-fast``: every row
converted and compared in Python) — per table expected, found, missing, differing and
the samples, the references checked, unresolved and reported — and again after each
change made behind the run's back: a column of one row, a timestamp, an encrypted
value, a row deleted, a row added, a reference broken, a replica's row deleted."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from hrms.system import build as build_hrms
from isles.cli.common import Tooling
from isles.runtime.keys import load_data_keys
from isles.tools.split.analyse import analyse
from isles.tools.split.plan import read_plan, target_of
from isles.tools.split.run import Reject, read_rejects
from isles.tools.split.verify import VerifyResult, verify
from tests.fixtures.monolith import make_monolith
from tests.isles.split_dirt import dirty, run_sql
from tests.isles.test_split_run import SERVICES, env_of, hr_plan, isles, prepare
from tests.support import Backend, Templates, make_backend

pytestmark = pytest.mark.integration


async def _both(backend: Backend, monolith: Path, plan_file: Path, rejects: list[Reject]) -> list[VerifyResult]:
    """verify's result with the fast path and without it."""
    system = build_hrms()
    plan = read_plan(plan_file)
    analysis = analyse(monolith, anomalies=False)
    target = target_of(system)
    tooling = Tooling(system, backend.settings, env_of(backend))
    load_data_keys(backend.settings, [tooling[s].service for s in SERVICES], generate=False, strict=False)
    dbs = {s: tooling[s].db for s in SERVICES}
    try:
        return [await verify(plan, analysis, target, system, dbs, rejects, fast=fast) for fast in (True, False)]
    finally:
        await tooling.dispose()


def _table(result: VerifyResult, target: str) -> tuple[int, int, int, int]:
    t = next(t for t in result.tables if t.target == target)
    return t.expected, t.found, t.missing, t.differing


@pytest.mark.postgres
def test_fast_verify_finds_what_the_mappers_way_finds(templates: Templates, tmp_path: Path) -> None:
    stats = make_monolith(tmp_path / "monolith.sqlite", employees=50, seed=7)
    dirty(stats.path)
    with sqlite3.connect(stats.path) as db:  # a real whose SQLite text ("3.0") is not PostgreSQL's ("3")
        db.execute("UPDATE leave_balances SET entitled = 3.0 WHERE id = (SELECT max(id) FROM leave_balances)")
        # a department skipped (a duplicate name) that employees name: loaded before the
        # departments (the two tables name each other), they keep its id, which verify
        # reports as a reference to a rejected row
        first, second = db.execute("SELECT id, name FROM departments WHERE company_id = 1 ORDER BY id LIMIT 2")
        db.execute("UPDATE departments SET name = ? WHERE id = ?", (first[1], second[0]))
        assert db.execute("SELECT count(*) FROM employees WHERE department_id = ?", (second[0],)).fetchone()[0]
    backend = make_backend("postgres", tmp_path / "db")
    prepare(backend, templates)
    try:
        plan_file = tmp_path / "plan.toml"
        hr_plan(stats, plan_file, threshold=1.0)
        ran = isles(backend, "split", "run", "--plan", str(plan_file), str(stats.path))
        assert ran.exit_code == 0, ran.output
        rejects = read_rejects(tmp_path / "rejects.csv")
        assert rejects

        def both() -> VerifyResult:
            fast, slow = asyncio.run(_both(backend, stats.path, plan_file, rejects))
            assert fast == slow
            assert [t.samples for t in fast.tables] == [t.samples for t in slow.tables]
            return fast

        def change(service: str, sql: str) -> VerifyResult:
            asyncio.run(run_sql(backend, service, sql))
            return both()

        clean = both()
        assert clean.ok, clean
        assert clean.references > 0
        assert clean.reported > 0
        # the text compare was taken (a real's "3.0" is PostgreSQL's "3"), and the rows whose
        # text differs were compared by value: no difference
        assert 0 < sum(t.by_value for t in clean.tables) < sum(t.expected for t in clean.tables) // 10
        for way in ("--fast", "--no-fast"):
            verified = isles(backend, "split", "verify", "--plan", str(plan_file), str(stats.path), way)
            assert verified.exit_code == 0, verified.output

        one = "(SELECT id FROM {} ORDER BY id LIMIT 1)"
        found = change("project", f"UPDATE assignments SET role = 'changed' WHERE id = {one.format('assignments')}")
        assert _table(found, "project.assignments")[3] == 1
        assert not found.ok
        found = change(
            "auth", f"UPDATE users SET created_at = created_at + interval '1 second' WHERE id = {one.format('users')}"
        )
        assert _table(found, "auth.users")[3] == 1
        # two employees' salaries swapped (each still decrypts: a value, not the one expected)
        found = change(
            "employee",
            "WITH two AS (SELECT id, salary FROM employees WHERE salary IS NOT NULL ORDER BY id LIMIT 2) "
            "UPDATE employees e SET salary = (SELECT t.salary FROM two t WHERE t.id <> e.id) "
            "WHERE e.id IN (SELECT id FROM two)",
        )
        assert _table(found, "employee.employees")[3] == 2
        # the column named, its values not (encrypted: not shown in clear)
        samples = next(t for t in found.tables if t.target == "employee.employees").samples
        assert len(samples) == 2, samples
        assert all(s.endswith(" differs: salary") for s in samples), samples
        before = _table(found, "leave.leave_balances")
        found = change("leave", f"DELETE FROM leave_balances WHERE id = {one.format('leave_balances')}")
        expected, rows, missing, _ = _table(found, "leave.leave_balances")
        assert (expected, rows, missing) == (before[0], before[1] - 1, 1)
        found = change(
            "leave",
            "INSERT INTO leave_balances (id, company_id, employee_id, leave_type_id, year, credited, taken, balance, "
            "entries, updated_at) SELECT gen_random_uuid(), company_id, employee_id, leave_type_id, year + 100, "
            "credited, taken, balance, entries, updated_at FROM leave_balances ORDER BY id LIMIT 1",
        )
        assert _table(found, "leave.leave_balances")[1] == before[1]
        unresolved = len(found.unresolved)
        found = change(  # a monolith row's UUID, not an employee's
            "project",
            "UPDATE assignments SET employee_id = id WHERE id = (SELECT id FROM assignments ORDER BY id DESC LIMIT 1)",
        )
        assert len(found.unresolved) == unresolved + 1
        copies = [t for t in found.tables if t.target == "tasks.task_users"]
        assert copies
        assert copies[0].missing == 0
        found = change("tasks", f"DELETE FROM task_users WHERE id = {one.format('task_users')}")
        assert next(t for t in found.tables if t.target == "tasks.task_users").missing == 1
        # a copy the monolith does not have is found, as a table's extra row is, and named
        found = change(
            "tasks",
            "INSERT INTO task_users (id, user_id, company_id, email, first_name, last_name, is_active, version, "
            "created_at, updated_at) SELECT gen_random_uuid(), NULL, company_id, 'x' || email, first_name, last_name, "
            "is_active, version, created_at, updated_at FROM task_users ORDER BY id LIMIT 1",
        )
        copy = next(t for t in found.tables if t.target == "tasks.task_users")
        assert (copy.found, copy.missing) == (copy.expected, 1), copy
        assert "1 row the monolith does not have" in copy.samples, copy.samples
        balances = next(t for t in found.tables if t.target == "leave.leave_balances")
        assert "1 row the monolith does not have" in balances.samples, balances.samples
    finally:
        backend.drop_later(SERVICES)
