"""The plan's ``[[relations]]`` hold whatever the monolith's values show: a relation the
analysis found by its values when the plan was made still holds after the monolith
deleted a row many others name (the cut-over), and a relation the analysis cannot see
(a column not named ``*_id``) is given by the plan. Through the real command line."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest

from isles.tools.split.analyse import analyse
from isles.tools.split.plan import check_plan, target_of, write_plan
from isles.tools.split.run import namespace, read_rejects, uuid_of
from tests.fixtures.monolith import make_monolith
from tests.isles.test_split_run import EMPLOYEES, SERVICES, build_hrms, hr_plan, isles, prepare
from tests.support import Templates, make_backend

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("backend_name", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_relation_the_values_no_longer_show_holds_by_the_plan(
    backend_name: str, templates: Templates, tmp_path: Path
) -> None:
    """After the first run, the monolith deletes the leave type most requests name (the
    requests stay: orphans now). The analysis alone would no longer see leave requests'
    relation to leave types (too few of their values are keys), and the plan's
    `leave_type_name = { via = "leave_type_id", ... }` would be refused: --changed
    could not run. The plan's relation holds: it runs."""
    monolith = make_monolith(tmp_path / "monolith.sqlite", employees=EMPLOYEES, seed=7)
    backend = make_backend(backend_name, tmp_path / "db")
    prepare(backend, templates)
    try:
        plan_file = tmp_path / "plan.toml"
        plan = hr_plan(monolith, plan_file)
        argv = ["split", "run", "--plan", str(plan_file), str(monolith.path)]
        assert (first := isles(backend, *argv)).exit_code == 0, first.output
        with sqlite3.connect(monolith.path) as db:
            kind, named, total = db.execute(
                "SELECT leave_type_id, count(*), (SELECT count(*) FROM leave_requests) FROM leave_requests "
                "GROUP BY 1 ORDER BY 2 DESC"
            ).fetchone()
            db.execute("DELETE FROM leave_types WHERE id = ?", (kind,))
        assert named / total > 0.1  # enough orphans that the values alone hide the relation
        fresh = analyse(monolith.path)
        assert fresh.relation("leave_requests", "leave_type_id") is None
        assert check_plan(plan, fresh, target_of(build_hrms())) == []  # the plan's relation, pinned
        pinned = fresh.relation("leave_requests", "leave_type_id")
        assert pinned is not None
        assert (pinned.target, pinned.orphans) == ("leave_types", named)

        ran = isles(backend, *argv, "--changed")
        assert ran.exit_code == 0, ran.output
        assert f"gone from the monolith: leave_types 1 id(s) ({kind})" in " ".join(ran.output.split())
        checked = isles(backend, "split", "check", "--plan", str(plan_file), str(monolith.path))
        assert checked.exit_code == 0, checked.output
    finally:
        if backend_name == "postgres":
            backend.drop_later(SERVICES)


def test_a_relation_the_analysis_cannot_see_comes_from_the_plan(templates: Templates, tmp_path: Path) -> None:
    """employees.boss (not a `*_id` name: the analysis does not look at it) mapped to the
    target's manager_id: with the relation in the plan, the bosses' ids become their
    UUIDs; without it, every row naming a boss is a reject."""
    monolith = make_monolith(tmp_path / "monolith.sqlite", employees=EMPLOYEES, seed=7)
    with sqlite3.connect(monolith.path) as db:
        db.execute("ALTER TABLE employees RENAME COLUMN manager_id TO boss")
        bosses = dict(db.execute("SELECT id, boss FROM employees"))
    assert any(bosses.values())
    backend = make_backend("sqlite", tmp_path / "db")
    prepare(backend, templates)
    plan_file = tmp_path / "plan.toml"
    plan = hr_plan(monolith, plan_file)
    people = plan.tables["employees"]
    assert "boss" in people.skip  # the proposal could not guess it
    people.skip.remove("boss")
    people.columns["boss"] = "manager_id"
    write_plan(plan, plan_file)
    argv = ["split", "run", "--plan", str(plan_file), str(monolith.path)]
    without = isles(backend, *argv)
    assert without.exit_code == 1, without.output  # over the threshold: every boss a reject
    assert any("no relation to a table" in r.reason for r in read_rejects(tmp_path / "rejects.csv"))

    plan.relations.append({"from": "employees.boss", "to": "employees.id"})
    write_plan(plan, plan_file)
    ran = isles(backend, *argv)
    assert ran.exit_code == 0, ran.output
    ns = namespace(plan)
    with sqlite3.connect(backend.settings.data_dir / "employee.db") as db:
        found = {uuid.UUID(i): (m and uuid.UUID(m)) for i, m in db.execute("SELECT id, manager_id FROM employees")}
    assert found == {
        uuid_of(ns, "employees", e): (uuid_of(ns, "employees", b) if b else None) for e, b in bosses.items()
    }
    verified = isles(backend, "split", "verify", "--plan", str(plan_file), str(monolith.path))
    assert verified.exit_code == 0, verified.output

    # an entry naming what is not there: bad input, one line, exit 2
    plan.relations.append({"from": "employees.nope", "to": "employees.id"})
    write_plan(plan, plan_file)
    bad = isles(backend, "split", "check", "--plan", str(plan_file), str(monolith.path))
    assert bad.exit_code == 2, bad.output
    assert "no column 'employees.nope' in the monolith" in bad.output
    # a relation to what is not the other table's id: a problem of the plan
    plan.relations[-1] = {"from": "employees.boss", "to": "employees.phone"}
    write_plan(plan, plan_file)
    wrong = isles(backend, "split", "check", "--plan", str(plan_file), str(monolith.path))
    assert wrong.exit_code == 1, wrong.output
    assert "employees.phone is not employees's integer id" in wrong.output
