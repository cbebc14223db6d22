"""A plan's ``values``: the target's words for the monolith's (a leave request's
``'approved'`` becomes the ``'APPROVED'`` the target's ``CHECK`` takes). Proposed from
the target's fixed sets of values, checked, written and read back; applied by the run
on both of its ways (the fast path's SQL and the mapper's Python) and by verify, on
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections import Counter
from pathlib import Path

import pytest

from hrms.system import build as build_hrms
from isles.storage.db import connect_waiting
from isles.tools.split.analyse import analyse
from isles.tools.split.fast import words_case
from isles.tools.split.plan import TODO, check_plan, propose, read_plan, target_of, write_plan
from isles.tools.split.run import namespace, read_rejects, uuid_of
from tests.fixtures.monolith import make_monolith
from tests.isles.test_split_plan import fill_todos
from tests.isles.test_split_run import EMPLOYEES, SERVICES, expected_rejects, hr_plan, isles, prepare
from tests.support import Backend, Templates, make_backend

pytestmark = pytest.mark.integration
WORDS = ("PENDING", "APPROVED", "REJECTED", "CANCELLED")


def _dirty(path: Path) -> None:
    """Leave requests' status in the monolith's words, some spelled another way."""
    with sqlite3.connect(path) as db:
        db.execute("UPDATE leave_requests SET status = 'Cancelled ' WHERE id % 10 = 3")
        db.execute("UPDATE leave_requests SET status = 'on-hold' WHERE id % 10 = 7")


def test_the_proposal_lists_the_words_the_target_does_not_take(tmp_path: Path) -> None:
    monolith = make_monolith(tmp_path / "monolith.sqlite", employees=EMPLOYEES, seed=7)
    _dirty(monolith.path)
    analysis = analyse(monolith.path)
    target = target_of(build_hrms())
    assert target.tables["leave.leave_requests"].columns["status"].choices == WORDS
    assert target.tables["employee.employees"].columns["first_name"].choices is None
    plan = propose(analysis, target)
    requests = plan.tables["leave_requests"]
    assert requests.values == {
        "status": {
            "Cancelled ": "CANCELLED",  # the same letters, spaces and case aside
            "approved": "APPROVED",
            "on-hold": TODO,  # no word of the target's: to decide
            "pending": "PENDING",
            "rejected": "REJECTED",
        }
    }
    assert "tables.leave_requests.values.status.on-hold" in plan.todos
    fill_todos(plan)
    written = tmp_path / "plan.toml"
    write_plan(plan, written)
    text = written.read_text()
    assert "[tables.leave_requests.values.status]  # leave.leave_requests.status takes only: PENDING" in text
    back = read_plan(written)
    assert back.tables["leave_requests"].values == requests.values
    problems = [str(p) for p in check_plan(back, analysis, target)]
    todo = next(p for p in problems if "values.status.on-hold" in p)
    assert "still TODO" in todo
    assert f"plan.toml:{back.lines['tables.leave_requests.values.status.on-hold']}" not in todo  # a line number
    assert back.lines["tables.leave_requests.values.status.on-hold"] > 0

    # a word the target does not take; values for a column not mapped, for an id
    requests.values["status"]["on-hold"] = "HELD"
    requests.values["leave_type_id"] = {"1": "x"}
    requests.values["nonsense"] = {"a": "b"}
    found = {p.where: p.message for p in check_plan(plan, analysis, target)}
    assert (
        "'HELD' is not a value leave.leave_requests.status takes"
        in found["tables.leave_requests.values.status.on-hold"]
    )
    assert "is an id" in found["tables.leave_requests.values.leave_type_id"]
    assert "not a mapped column" in found["tables.leave_requests.values.nonsense"]

    # a mapped column whose words the target refuses, and no values for it: told before a run
    del requests.values["status"], requests.values["leave_type_id"], requests.values["nonsense"]
    found = {p.where: p.message for p in check_plan(plan, analysis, target)}
    message = found["tables.leave_requests.columns.status"]
    assert "'Cancelled '" in message
    assert "[tables.leave_requests.values.status]" in message
    # an empty values table: decided, the other words are rejects
    requests.values["status"] = {}
    assert "tables.leave_requests.columns.status" not in {p.where for p in check_plan(plan, analysis, target)}


def _pg_statuses(backend: Backend) -> dict[uuid.UUID, str]:
    async def read() -> dict[uuid.UUID, str]:
        conn = await connect_waiting(backend.url("leave").replace("postgresql+asyncpg", "postgresql"))
        try:
            return {r[0]: r[1] for r in await conn.fetch("SELECT id, status FROM leave_requests")}
        finally:
            await conn.close()

    return asyncio.run(read())


@pytest.mark.parametrize(
    ("backend_name", "fast"),
    [
        ("sqlite", True),  # SQLite has no fast path: every row the mapper's way
        pytest.param("postgres", True, marks=pytest.mark.postgres, id="postgres-fast"),
        pytest.param("postgres", False, marks=pytest.mark.postgres, id="postgres-no-fast"),
    ],
)
def test_the_run_writes_the_targets_words(backend_name: str, fast: bool, templates: Templates, tmp_path: Path) -> None:
    monolith = make_monolith(tmp_path / "monolith.sqlite", employees=EMPLOYEES, seed=7)
    _dirty(monolith.path)
    backend = make_backend(backend_name, tmp_path / "db")
    prepare(backend, templates)
    try:
        plan_file = tmp_path / "plan.toml"
        plan = hr_plan(monolith, plan_file)  # on-hold is TODO: status left to the target's default
        requests = plan.tables["leave_requests"]
        assert "status" in requests.skip
        requests.skip.remove("status")
        requests.columns["status"] = "status"
        requests.values["status"] = {
            "approved": "APPROVED",
            "pending": "PENDING",
            "rejected": "REJECTED",
            "Cancelled ": "CANCELLED",
            "on-hold": "PENDING",
        }
        assert check_plan(plan, analyse(monolith.path), target_of(build_hrms())) == []
        write_plan(plan, plan_file)
        extra = [] if fast else ["--no-fast"]
        ran = isles(backend, "split", "run", "--plan", str(plan_file), str(monolith.path), *extra)
        assert ran.exit_code == 0, ran.output
        rejects = read_rejects(tmp_path / "rejects.csv")
        assert Counter((r.table, r.column, r.decision) for r in rejects) == expected_rejects(monolith)
        requests_line = next(line for line in ran.output.splitlines() if "leave.leave_requests" in line)
        by_sql = int(requests_line.split("│")[6])
        # the fast path took every row with no other dirt: the words are no reason to leave it
        dirty = len({r.rowid for r in rejects if r.table == "leave_requests"})
        assert by_sql == (monolith.rows["leave_requests"] - dirty if fast and backend_name == "postgres" else 0)

        ns = namespace(plan)
        words = plan.tables["leave_requests"].values["status"]
        with sqlite3.connect(monolith.path) as db:
            want = {
                uuid_of(ns, "leave_requests", i): words[s]
                for i, s in db.execute("SELECT id, status FROM leave_requests")
            }
        if backend_name == "sqlite":
            with sqlite3.connect(backend.settings.data_dir / "leave.db") as db:
                found = {uuid.UUID(i): s for i, s in db.execute("SELECT id, status FROM leave_requests")}
        else:
            found = _pg_statuses(backend)
        assert found == want
        assert set(found.values()) <= set(WORDS)

        verified = isles(backend, "split", "verify", "--plan", str(plan_file), str(monolith.path), *extra)
        assert verified.exit_code == 0, verified.output
        # a word changed behind the run's back: verify sees it
        changed = next(i for i, s in want.items() if s == "APPROVED")
        if backend_name == "sqlite":
            with sqlite3.connect(backend.settings.data_dir / "leave.db") as db:
                db.execute("UPDATE leave_requests SET status = 'REJECTED' WHERE id = ?", (changed.hex,))
        else:

            async def change() -> None:
                conn = await connect_waiting(backend.url("leave").replace("postgresql+asyncpg", "postgresql"))
                try:
                    await conn.execute("UPDATE leave_requests SET status = 'REJECTED' WHERE id = $1", changed)
                finally:
                    await conn.close()

            asyncio.run(change())
        differs = isles(backend, "split", "verify", "--plan", str(plan_file), str(monolith.path), *extra)
        assert differs.exit_code == 1, differs.output
        assert f"leave_requests: {changed} differs: status ('APPROVED' expected, 'REJECTED' found)" in differs.output
    finally:
        if backend_name == "postgres":
            backend.drop_later(SERVICES)


def test_the_fast_paths_words_match_as_the_mappers_whatever_the_collation() -> None:
    """The SQL of the fast path matches a word on its text exactly, as the mapper's
    Python does, even in a monolith column declared COLLATE NOCASE."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (s TEXT COLLATE NOCASE, n INTEGER)")
    db.executemany("INSERT INTO t VALUES (?, ?)", [("approved", 1), ("Approved", 2), ("1", 1.5), (None, None)])
    words = {"approved": "APPROVED", "1": "ONE"}
    got = [tuple(r) for r in db.execute(f"SELECT {words_case('t.s', words)}, {words_case('t.n', words)} FROM t")]
    assert got == [("APPROVED", "ONE"), ("Approved", 2), ("ONE", 1.5), (None, None)]


@pytest.mark.parametrize("backend_name", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_words_that_become_booleans_reach_the_owner_and_its_copies(
    backend_name: str, templates: Templates, tmp_path: Path
) -> None:
    """employees.active written 'A' / 'I' (a text column: only its values make it a
    boolean): the plan's values give true / false, the check accepts the text column for
    the target's boolean, and the copies other services keep of the employee
    (assignments' employee_active) hold what the owner's row holds."""
    monolith = make_monolith(tmp_path / "monolith.sqlite", employees=EMPLOYEES, seed=7)
    with sqlite3.connect(monolith.path) as db:
        db.execute("ALTER TABLE employees ADD COLUMN active TEXT")
        db.execute("UPDATE employees SET active = CASE WHEN id % 4 = 0 THEN 'I' ELSE 'A' END")
    backend = make_backend(backend_name, tmp_path / "db")
    prepare(backend, templates)
    try:
        plan_file = tmp_path / "plan.toml"
        analysis = analyse(monolith.path)
        target = target_of(build_hrms())
        plan = hr_plan(monolith, plan_file, check=False)
        people = plan.tables["employees"]
        assert people.columns["active"] == "is_active"  # the proposal's rename
        found = {p.where: p.message for p in check_plan(plan, analysis, target)}
        assert "text -> Boolean" in found["tables.employees.columns.active"]  # words, not yet values
        people.values["active"] = {"A": True, "I": False}
        assert check_plan(plan, analysis, target) == []
        write_plan(plan, plan_file)
        ran = isles(backend, "split", "run", "--plan", str(plan_file), str(monolith.path))
        assert ran.exit_code == 0, ran.output
        ns = namespace(plan)
        idle = {uuid_of(ns, "employees", i) for i in range(4, EMPLOYEES + 1, 4)}
        if backend_name == "sqlite":
            with sqlite3.connect(backend.settings.data_dir / "employee.db") as db:
                active = {uuid.UUID(i): bool(a) for i, a in db.execute("SELECT id, is_active FROM employees")}
            with sqlite3.connect(backend.settings.data_dir / "project.db") as db:
                copies = {
                    uuid.UUID(e): bool(a) for e, a in db.execute("SELECT employee_id, employee_active FROM assignments")
                }
        else:

            async def read() -> tuple[dict[uuid.UUID, bool], dict[uuid.UUID, bool]]:
                e = await connect_waiting(backend.url("employee").replace("postgresql+asyncpg", "postgresql"))
                p = await connect_waiting(backend.url("project").replace("postgresql+asyncpg", "postgresql"))
                try:
                    return (
                        {r[0]: r[1] for r in await e.fetch("SELECT id, is_active FROM employees")},
                        {r[0]: r[1] for r in await p.fetch("SELECT employee_id, employee_active FROM assignments")},
                    )
                finally:
                    await e.close()
                    await p.close()

            active, copies = asyncio.run(read())
        assert {i for i, a in active.items() if not a} == idle
        assert copies
        assert all(a == active[e] for e, a in copies.items())
        assert any(not a for a in copies.values())
        verified = isles(backend, "split", "verify", "--plan", str(plan_file), str(monolith.path))
        assert verified.exit_code == 0, verified.output
    finally:
        if backend_name == "postgres":
            backend.drop_later(SERVICES)
