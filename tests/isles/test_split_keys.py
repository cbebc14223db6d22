"""Monolith tables whose rows have no one-column integer id: a join table with a
primary key of two columns (``assignments (employee_id, project_id)``) and a table with
no primary key at all (``attendance``). The proposal gives the target's UUID key as
``{ key = [...] }`` / ``{ key = "rowid" }``; the run makes each row's UUID from its key
(the same in every run), verify passes, a rerun adds nothing, ``--changed`` sees new
and deleted rows; a key that does not tell rows apart is refused before anything is
written. SQLite and PostgreSQL targets, through the real command line."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from isles.tools.split.analyse import analyse
from isles.tools.split.plan import read_plan, write_plan
from isles.tools.split.run import namespace, read_rejects, row_key_id, uuid_of
from tests.fixtures.monolith import Stats, make_monolith
from tests.isles.test_split_changed import _ids_in
from tests.isles.test_split_run import EMPLOYEES, SERVICES, hr_plan, isles, prepare
from tests.support import Templates, make_backend

pytestmark = pytest.mark.integration


def _keyed(path: Path) -> None:
    """assignments: its id dropped, its (employee, project) pairs made its primary key
    (the duplicate pairs gone: a key is unique); attendance: its id dropped, no primary key."""
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            CREATE TABLE assignments_new (
                employee_id INTEGER NOT NULL,
                project_id INTEGER NOT NULL REFERENCES projects(id),
                role VARCHAR(100) NOT NULL,
                allocation,
                start_date DATE NOT NULL,
                end_date DATE,
                created_at DATETIME NOT NULL,
                PRIMARY KEY (employee_id, project_id)
            );
            INSERT INTO assignments_new
                SELECT employee_id, project_id, role, allocation, start_date, end_date, created_at
                FROM assignments WHERE id IN (SELECT min(id) FROM assignments GROUP BY employee_id, project_id);
            DROP TABLE assignments;
            ALTER TABLE assignments_new RENAME TO assignments;
            CREATE TABLE attendance_new (
                employee_id INTEGER NOT NULL,
                work_date DATE NOT NULL,
                check_in VARCHAR(5),
                check_out VARCHAR(5),
                status VARCHAR(20) NOT NULL,
                hours_worked REAL
            );
            INSERT INTO attendance_new
                SELECT employee_id, work_date, check_in, check_out, status, hours_worked FROM attendance ORDER BY id;
            DROP TABLE attendance;
            ALTER TABLE attendance_new RENAME TO attendance;
            """
        )


@pytest.fixture
def monolith(tmp_path: Path) -> Stats:
    stats = make_monolith(tmp_path / "monolith.sqlite", employees=EMPLOYEES, seed=7)
    _keyed(stats.path)
    return stats


def test_the_proposal_gives_keys_and_a_key_must_tell_rows_apart(
    monolith: Stats, tmp_path: Path, templates: Templates
) -> None:
    plan_file = tmp_path / "plan.toml"
    plan = hr_plan(monolith, plan_file)  # checked: no problem
    assert plan.tables["assignments"].defaults["id"] == {"key": ["employee_id", "project_id"]}
    assert plan.tables["attendance"].defaults["id"] == {"key": "rowid"}
    text = plan_file.read_text()
    assert 'id = { key = ["employee_id", "project_id"] }  # the row\'s UUID from its primary key' in text
    assert read_plan(plan_file).tables["attendance"].defaults["id"] == {"key": "rowid"}

    backend = make_backend("sqlite", tmp_path / "db")
    prepare(backend, templates)
    # a key that does not tell rows apart (an employee has several assignments): exit 2, nothing written
    plan.tables["assignments"].defaults["id"] = {"key": ["employee_id"]}
    write_plan(plan, plan_file)
    refused = isles(backend, "split", "run", "--plan", str(plan_file), str(monolith.path))
    assert refused.exit_code == 2, refused.output
    assert "tables.assignments: rows" in refused.output
    assert "have one key (employee_id)" in refused.output
    with sqlite3.connect(backend.settings.data_dir / "company.db") as db:
        assert db.execute("SELECT count(*) FROM companies").fetchone()[0] == 0
    # a key naming a column the table does not have: the check says where
    plan.tables["assignments"].defaults["id"] = {"key": ["employee_id", "nope"]}
    write_plan(plan, plan_file)
    bad = isles(backend, "split", "check", "--plan", str(plan_file), str(monolith.path))
    assert bad.exit_code == 1, bad.output
    assert "tables.assignments.defaults.id: { key = ... }: no column 'nope' in monolith table assignments" in bad.output


@pytest.mark.parametrize("backend_name", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_rows_without_an_id_load_by_their_key(
    backend_name: str, monolith: Stats, templates: Templates, tmp_path: Path
) -> None:
    backend = make_backend(backend_name, tmp_path / "db")
    prepare(backend, templates)
    try:
        plan_file = tmp_path / "plan.toml"
        plan = hr_plan(monolith, plan_file)
        ns = namespace(plan)
        argv = ["split", "run", "--plan", str(plan_file), str(monolith.path)]
        ran = isles(backend, *argv)
        assert ran.exit_code == 0, ran.output
        rejects = read_rejects(tmp_path / "rejects.csv")
        skipped = {(r.table, r.rowid) for r in rejects if r.decision == "skip"}
        with sqlite3.connect(monolith.path) as db:
            pairs = {
                (rowid, e, p) for rowid, e, p in db.execute("SELECT rowid, employee_id, project_id FROM assignments")
            }
            days = [r[0] for r in db.execute("SELECT rowid FROM attendance")]
        want = {
            uuid_of(ns, "assignments", row_key_id((e, p)))
            for rowid, e, p in pairs
            if ("assignments", rowid) not in skipped
        }
        assert len(want) > EMPLOYEES  # most loaded: the orphans are the skips
        assert _ids_in(backend, "project.assignments") == want
        assert _ids_in(backend, "presence.attendance_days") == {
            uuid_of(ns, "attendance", r) for r in days if ("attendance", r) not in skipped
        }
        assert isles(backend, "split", "verify", "--plan", str(plan_file), str(monolith.path)).exit_code == 0

        again = isles(backend, *argv)
        assert again.exit_code == 0, again.output
        last = ran.output.splitlines()[-1]  # the same rows loaded, none written again
        total = last.split(" rows loaded")[0]
        assert again.output.splitlines()[-1] == last.replace(f", {total} of them", ", 0 of them")
        assert _ids_in(backend, "project.assignments") == want

        # the cut-over: a pair added, a pair deleted
        kept = sorted((e, p) for rowid, e, p in pairs if ("assignments", rowid) not in skipped)
        gone = kept[0]
        with sqlite3.connect(monolith.path) as db:
            new = next(
                (e, p)
                for e in range(1, EMPLOYEES + 1)
                for p in range(1, monolith.rows["projects"] + 1)
                if (e, p) not in {(e2, p2) for _, e2, p2 in pairs}
            )
            db.execute(
                "INSERT INTO assignments VALUES (?, ?, 'Tester', 50, '2030-01-01', NULL, '2030-01-01 00:00:00')", new
            )
            db.execute("DELETE FROM assignments WHERE employee_id = ? AND project_id = ?", gone)
        changed = isles(backend, *argv, "--changed", "--delete-gone")
        assert changed.exit_code == 0, changed.output
        found = _ids_in(backend, "project.assignments")
        assert uuid_of(ns, "assignments", row_key_id(new)) in found
        assert uuid_of(ns, "assignments", row_key_id(gone)) not in found
        assert f"gone from the monolith: assignments 1 id(s) ({row_key_id(gone)})" in " ".join(changed.output.split())
        verified = isles(backend, "split", "verify", "--plan", str(plan_file), str(monolith.path))
        assert verified.exit_code == 0, verified.output

        # rollback finds the keyed rows by the ids the runs kept
        back = isles(backend, "split", "rollback", "--plan", str(plan_file), str(monolith.path))
        assert back.exit_code == 0, back.output
        assert _ids_in(backend, "project.assignments") == set()
        assert _ids_in(backend, "presence.attendance_days") == set()
    finally:
        if backend_name == "postgres":
            backend.drop_later(SERVICES)


def test_row_key_id_is_stable_and_tells_parts_apart() -> None:
    assert row_key_id((1, 2)) == row_key_id((1, 2))
    assert row_key_id((1, 2)) != row_key_id((2, 1))
    assert row_key_id(("a", "bc")) != row_key_id(("ab", "c"))
    assert row_key_id((1, None)) != row_key_id((1, "None"))
    assert 0 <= row_key_id((10**20, "x")) < 2**63


def test_a_text_primary_key_is_proposed_as_the_rows_key(tmp_path: Path) -> None:
    """A one-column primary key of text (a code) is no integer id to rewrite: the
    proposal gives the target's UUID as { key = [code] }, as for a key of several."""
    from hrms.system import build as build_hrms
    from isles.tools.split.plan import propose, target_of

    path = tmp_path / "codes.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE attendance (code TEXT PRIMARY KEY, employee_id INTEGER, work_date DATE, status TEXT)")
        db.execute("INSERT INTO attendance VALUES ('A-1', 1, '2030-01-01', 'present')")
    plan = propose(analyse(path), target_of(build_hrms()))
    assert plan.tables["attendance"].target == "presence.attendance_days"
    assert plan.tables["attendance"].defaults["id"] == {"key": ["code"]}
