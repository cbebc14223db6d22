"""``isles split run --changed`` (the cut-over): after a first run, only the monolith's
rows past each table's watermark (``updated_at`` where the table has one, else rowid)
are read; new rows inserted, changed rows updated with their version bumped and their
replicas updated with it, the rest untouched; a second ``--changed`` writes nothing;
ids gone from the monolith reported; verify passes after."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hrms.system import build as build_hrms
from isles.cli.main import app
from isles.storage.db import connect_waiting
from isles.tools.split.analyse import analyse
from isles.tools.split.plan import target_of, write_plan
from isles.tools.split.run import Mapper, namespace, read_rejects, read_watermarks
from tests.fixtures.monolith import Stats, change_rows, make_monolith, track_updates
from tests.isles.test_split_run import EMPLOYEES, SERVICES, hr_plan, isles, prepare
from tests.support import Backend, Templates, make_backend

pytestmark = pytest.mark.integration

WATCHED = {  # service.table: its columns the test looks at (the first: the key)
    "employee.employees": ("id", "last_name", "version", "updated_at"),
    "tasks.task_users": ("id", "last_name", "version"),
    "project.projects": ("id", "name", "version"),
    "presence.attendance_days": ("id", "status"),
    "project.assignments": ("id", "employee_name", "employee_version"),
    "leave.leave_requests": ("id", "employee_name", "version"),
}


def snapshot(backend: Backend) -> dict[str, dict[uuid.UUID, tuple[Any, ...]]]:
    """The watched tables' rows, by id (UUIDs and stamps as text, alike on both backends)."""
    found: dict[str, dict[uuid.UUID, tuple[Any, ...]]] = {}

    def keep(table: str, rows: list[Any]) -> None:
        found[table] = {uuid.UUID(str(r[0])): tuple(_text(v) for v in r[1:]) for r in rows}

    if backend.name == "sqlite":
        for full, columns in WATCHED.items():
            service, table = full.split(".")
            with sqlite3.connect(backend.settings.data_dir / f"{service}.db") as db:
                keep(full, db.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall())
        return found

    async def read() -> None:
        for full, columns in WATCHED.items():
            service, table = full.split(".")
            conn = await connect_waiting(backend.url(service).replace("postgresql+asyncpg", "postgresql"))
            try:
                keep(full, list(await conn.fetch(f"SELECT {', '.join(columns)} FROM {table}")))
            finally:
                await conn.close()

    asyncio.run(read())
    return found


def _read_again(output: str) -> int:
    """How many rows a ``--changed`` run read where it wrote nothing (its last line)."""
    found = re.search(r"(\d+) changed rows read: 0 new, 0 updated", output)
    assert found is not None, output
    return int(found.group(1))


@pytest.fixture
def monolith(tmp_path: Path) -> Stats:
    stats = make_monolith(tmp_path / "monolith.sqlite", employees=EMPLOYEES, seed=5)
    track_updates(stats.path)  # employees: updated_at; the other tables: rowid
    return stats


@pytest.mark.parametrize("backend_name", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_changed_rows_only_with_their_version_bumped(
    backend_name: str, monolith: Stats, templates: Templates, tmp_path: Path
) -> None:
    backend = make_backend(backend_name, tmp_path / "db")
    prepare(backend, templates)
    try:
        plan_file = tmp_path / "plan.toml"
        plan = hr_plan(monolith, plan_file)
        ns = namespace(plan)
        argv = ["split", "run", "--plan", str(plan_file), str(monolith.path)]

        # --changed needs a run before it
        refused = isles(backend, *argv, "--changed")
        assert refused.exit_code == 2, refused.output
        assert "run isles split run without --changed first" in refused.output

        first = isles(backend, *argv)
        assert first.exit_code == 0, first.output
        # the same plan and id mapping against other databases: refused (a newcomer's
        # trial ran --changed against another system's databases without a word)
        elsewhere = make_backend(backend_name, tmp_path / "elsewhere")
        for other in (["--changed"], []):
            wrong = isles(elsewhere, *argv, *other)
            assert wrong.exit_code == 2, wrong.output
            assert "the runs of this id mapping wrote " in wrong.output
        wrong = isles(elsewhere, "split", "rollback", "--plan", str(plan_file), str(monolith.path))
        assert wrong.exit_code == 2, wrong.output
        assert "the runs of this id mapping wrote " in wrong.output
        marks = read_watermarks(plan_file.with_suffix(".ids.sqlite"))
        assert marks["employees"][0] == "updated_at"
        assert marks["projects"] == ("rowid", monolith.rows["projects"])
        loaded = snapshot(backend)
        rejects = (tmp_path / "rejects.csv").read_bytes()

        nothing = isles(backend, *argv, "--changed")
        assert nothing.exit_code == 0, nothing.output
        # only the rows the run skipped are read again (each a reject again): none written
        skipped = {(r.table, r.rowid) for r in read_rejects(tmp_path / "rejects.csv") if r.decision == "skip"}
        assert skipped
        assert _read_again(nothing.output) == len(skipped), nothing.output
        assert snapshot(backend) == loaded

        changes = change_rows(monolith.path, renamed=(3, 8), touched=(12,), new_projects=2)
        ran = isles(backend, *argv, "--changed")
        assert ran.exit_code == 0, ran.output
        after = snapshot(backend)

        people, copies = after["employee.employees"], after["tasks.task_users"]
        for i in range(1, EMPLOYEES + 1):
            key = _id(ns, "employees", i)
            was = loaded["employee.employees"][key]
            if i in (3, 8):  # renamed: the name, the stamp, version 2; the copy alike
                assert people[key][0] == was[0] + "-Moved"
                assert people[key][1:] == ("2", "2030-01-01 12:00:00")
                assert copies[key] == (was[0] + "-Moved", "2")
            elif i == 12:  # only updated_at: it is mapped, so it changed: version 2
                assert people[key] == (was[0], "2", "2030-01-01 12:00:00")
                assert copies[key] == (loaded["tasks.task_users"][key][0], "2")
            else:
                assert people[key] == was, i
                assert copies[key] == loaded["tasks.task_users"][key], i
        projects = after["project.projects"]
        assert set(projects) - set(loaded["project.projects"]) == {_id(ns, "projects", p) for p in changes.new_projects}
        for p in changes.new_projects:
            assert projects[_id(ns, "projects", p)] == (f"Project {p}", "1")
        assert after["presence.attendance_days"] == loaded["presence.attendance_days"]
        # the copies other tables keep of a changed employee: the name, the new version
        with sqlite3.connect(monolith.path) as db:
            names = {i: f"{f} {last}" for i, f, last in db.execute("SELECT id, first_name, last_name FROM employees")}
            whose = {
                (table, _id(ns, table, i)): who
                for table in ("assignments", "leave_requests")
                for i, who in db.execute(f"SELECT id, employee_id FROM {table}")
            }
        refreshed = 0
        for table, full in (("assignments", "project.assignments"), ("leave_requests", "leave.leave_requests")):
            for key, was in loaded[full].items():
                now = after[full][key]
                if whose[table, key] not in (3, 8, 12):
                    assert now == was, (table, whose[table, key])
                    continue
                refreshed += now != was
                if table == "assignments":  # employee_version: the owner's, now 2
                    assert was[1] == "1"
                    assert now == (names[whose[table, key]], "2")
                elif now != was:  # the employee's last name (the plan's via): a new version of the request
                    assert now == (names[whose[table, key]].split(" ")[1], str(int(was[1]) + 1))
        assert refreshed >= 2  # the example's seed: some rows keep a copy of employees 3 and 8
        assert f"2 new, {3 + refreshed} updated" in ran.output
        assert (tmp_path / "rejects.csv").read_bytes() == rejects  # the changed rows have none

        again = isles(backend, *argv, "--changed")
        assert again.exit_code == 0, again.output
        assert _read_again(again.output) == len(skipped), again.output
        assert snapshot(backend) == after

        verified = isles(backend, "split", "verify", "--plan", str(plan_file), str(monolith.path))
        assert verified.exit_code == 0, verified.output

        # a row deleted in the monolith: reported, its target row left
        change_rows(monolith.path, deleted_attendance=(5,))
        gone = isles(backend, *argv, "--changed")
        assert gone.exit_code == 0, gone.output
        assert "gone from the monolith: attendance 1 id(s) (5)" in gone.output
        assert _id(ns, "attendance", 5) in snapshot(backend)["presence.attendance_days"]
    finally:
        backend.drop_later(SERVICES)


def _text(value: Any) -> str:
    """A value as text; a timestamp to the second, as both backends give it."""
    text = str(value)
    return text[:19] if re.match(r"\d{4}-\d\d-\d\d[ T]\d\d:", text) else text


def _id(ns: uuid.UUID, table: str, key: int) -> uuid.UUID:
    return uuid.uuid5(ns, f"{table}:{key}")


def test_changed_has_help_with_an_example() -> None:
    result = CliRunner().invoke(app, ["split", "run", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "Example: isles split run --plan plan.toml monolith.sqlite --changed" in result.stdout
    assert "--changed" in result.stdout


def test_changed_order_puts_owners_before_their_copies(monolith: Stats, tmp_path: Path) -> None:
    """--changed loads an owner before the tables that copy its columns (their copies
    take its new version), keeping the foreign keys' parents first."""
    plan = hr_plan(monolith, tmp_path / "plan.toml")
    with sqlite3.connect(monolith.path) as db:
        db.row_factory = sqlite3.Row
        mapper = Mapper(plan, analyse(monolith.path), target_of(build_hrms()), build_hrms(), db)
        usual, order = list(mapper.maps), mapper.changed_order()
        assert sorted(order) == sorted(usual)
        for name, tm in mapper.maps.items():
            for _, _, owner in mapper.copies_of(tm):
                assert order.index(owner) < order.index(name), (owner, name)
        assert "employees" in {o for _, _, o in mapper.copies_of(mapper.maps["assignments"])}
        for child, parent in (("employees", "users"), ("departments", "companies")):
            if usual.index(parent) < usual.index(child):
                assert order.index(parent) < order.index(child)


def _rows(backend: Backend, service: str, sql: str) -> list[tuple[Any, ...]]:
    """A query's rows in a service's database (UUIDs as text), on either backend."""
    if backend.name == "sqlite":
        with sqlite3.connect(backend.settings.data_dir / f"{service}.db") as db:
            return [tuple(r) for r in db.execute(sql)]

    async def read() -> list[tuple[Any, ...]]:
        conn = await connect_waiting(backend.url(service).replace("postgresql+asyncpg", "postgresql"))
        try:
            return [tuple(str(v) if isinstance(v, uuid.UUID) else v for v in r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()

    return asyncio.run(read())


def _key(backend: Backend, key: uuid.UUID) -> str:
    """A UUID as the backend's database writes it (SQLite: 32 hex digits)."""
    return key.hex if backend.name == "sqlite" else str(key)


def _ids_in(backend: Backend, full: str, key: str = "id") -> set[uuid.UUID]:
    service, table = full.split(".")
    return {uuid.UUID(str(r[0])) for r in _rows(backend, service, f"SELECT {key} FROM {table}")}


@pytest.mark.parametrize("backend_name", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_delete_gone_deletes_the_rows_gone_from_the_monolith_and_their_copies(
    backend_name: str, monolith: Stats, templates: Templates, tmp_path: Path
) -> None:
    """The cut-over with deletes: an employee deleted in the monolith with all their
    rows, an attendance row, and a leave type whose requests are still there. The
    first two are deleted from the target with their copies (the employee's last
    version kept in its history); the leave type is refused by the database (its
    requests name it by a foreign key): a reject, the row stays, reported again, until
    its requests are gone too. Then verify passes."""
    backend = make_backend(backend_name, tmp_path / "db")
    prepare(backend, templates)
    try:
        plan_file = tmp_path / "plan.toml"
        plan = hr_plan(monolith, plan_file)
        ns = namespace(plan)
        argv = ["split", "run", "--plan", str(plan_file), str(monolith.path)]
        alone = isles(backend, *argv, "--delete-gone")
        assert alone.exit_code == 2
        assert "give it with --changed" in alone.output
        assert (first := isles(backend, *argv)).exit_code == 0, first.output

        with sqlite3.connect(monolith.path) as db:
            who = db.execute(
                "SELECT max(id) FROM employees WHERE id NOT IN (SELECT manager_id FROM employees "
                "WHERE manager_id IS NOT NULL) AND id NOT IN (SELECT manager_id FROM departments "
                "WHERE manager_id IS NOT NULL)"
            ).fetchone()[0]
            # a leave type of few requests (with many, the analysis would no longer see the relation)
            kind = db.execute("SELECT leave_type_id FROM leave_requests GROUP BY 1 ORDER BY count(*), 1").fetchone()[0]
            their = {
                t: [r[0] for r in db.execute(f"SELECT id FROM {t} WHERE employee_id = ?", (who,))]
                for t in ("assignments", "attendance", "leave_requests", "leave_balances")
            }
            for t in their:
                db.execute(f"DELETE FROM {t} WHERE employee_id = ?", (who,))
            db.execute("DELETE FROM employees WHERE id = ?", (who,))
            db.execute("DELETE FROM attendance WHERE id = 5")
            db.execute("DELETE FROM leave_types WHERE id = ?", (kind,))
        person = _id(ns, "employees", who)
        assert person in _ids_in(backend, "tasks.task_users")

        ran = isles(backend, *argv, "--changed", "--delete-gone")
        assert ran.exit_code == 0, ran.output
        out = " ".join(ran.output.split())
        assert f"gone from the monolith: employees 1 id(s) ({who}); their rows in employee.employees deleted" in out
        assert f"gone from the monolith: leave_types 1 id(s) ({kind})" in out
        assert f"1 left ({kind}): still named by a row of the service" in out
        # not "deleted (0 row(s) there)" first, for a row that stayed
        assert f"their rows in leave.leave_types 1 left ({kind})" in out
        assert person not in _ids_in(backend, "employee.employees")
        for copy in ("tasks.task_users", "project.employee_copies", "notification.notification_employees"):
            assert person not in _ids_in(backend, copy), copy
        assert _id(ns, "attendance", 5) not in _ids_in(backend, "presence.attendance_days")
        for t, ids in their.items():
            table = {"attendance": "presence.attendance_days", "assignments": "project.assignments"}.get(
                t, f"leave.{t}"
            )
            assert not {_id(ns, t, i) for i in ids} & _ids_in(backend, table), t
        assert _id(ns, "leave_types", kind) in _ids_in(backend, "leave.leave_types")
        history = _rows(
            backend,
            "employee",
            f"SELECT operation, changed_by FROM employees_history WHERE id = '{_key(backend, person)}'",
        )
        assert history == [("delete", "operator:isles-split")]
        rejects = read_rejects(tmp_path / "rejects.csv")
        refused = [r for r in rejects if r.table == "leave_types"]
        assert [(r.rowid, r.decision) for r in refused] == [(kind, "keep")]
        assert refused[0].reason.startswith("gone from the monolith, not deleted")

        # again: the employee is forgotten (not reported), the leave type reported again
        again = isles(backend, *argv, "--changed", "--delete-gone")
        assert again.exit_code == 0, again.output
        assert "employees 1 id(s)" not in again.output
        assert f"leave_types 1 id(s) ({kind})" in " ".join(again.output.split())
        assert len([r for r in read_rejects(tmp_path / "rejects.csv") if r.table == "leave_types"]) == 1

        # its requests and balances gone too: now it goes, children first in one run
        with sqlite3.connect(monolith.path) as db:
            for t in ("leave_requests", "leave_balances"):
                db.execute(f"DELETE FROM {t} WHERE leave_type_id = ?", (kind,))
        last = isles(backend, *argv, "--changed", "--delete-gone")
        assert last.exit_code == 0, last.output
        assert _id(ns, "leave_types", kind) not in _ids_in(backend, "leave.leave_types")
        assert not [r for r in read_rejects(tmp_path / "rejects.csv") if r.table == "leave_types"]
        verified = isles(backend, "split", "verify", "--plan", str(plan_file), str(monolith.path))
        assert verified.exit_code == 0, verified.output

        # a rollback leaves the history as it was before the runs: the deleted
        # employee's last version (a newcomer's trial found it left behind) goes too
        undone = isles(backend, "split", "rollback", "--plan", str(plan_file), str(monolith.path))
        assert undone.exit_code == 0, undone.output
        assert _rows(backend, "employee", "SELECT count(*) FROM employees_history") == [(0,)]
        assert _rows(backend, "employee", "SELECT count(*) FROM employees") == [(0,)]
    finally:
        backend.drop_later(SERVICES)


@pytest.mark.parametrize("backend_name", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_delete_gone_leaves_a_row_live_rows_still_name_whatever_on_delete_says(
    backend_name: str, monolith: Stats, templates: Templates, tmp_path: Path
) -> None:
    """A manager deleted in the monolith while the people who report to them stay. The
    target's manager_id is ON DELETE SET NULL: deleting the manager would change those
    live rows behind their backs (no version, no history). The manager stays, a reject
    says why; the reports keep their manager."""
    backend = make_backend(backend_name, tmp_path / "db")
    prepare(backend, templates)
    try:
        plan_file = tmp_path / "plan.toml"
        plan = hr_plan(monolith, plan_file)
        ns = namespace(plan)
        argv = ["split", "run", "--plan", str(plan_file), str(monolith.path)]
        assert (first := isles(backend, *argv)).exit_code == 0, first.output
        with sqlite3.connect(monolith.path) as db:
            boss, reports = db.execute(
                "SELECT manager_id, count(*) FROM employees WHERE manager_id IS NOT NULL GROUP BY 1 ORDER BY 2 DESC"
            ).fetchone()
            db.execute("DELETE FROM employees WHERE id = ?", (boss,))
        assert reports > 1
        before = _rows(
            backend, "employee", "SELECT id, manager_id, version FROM employees WHERE manager_id IS NOT NULL"
        )
        ran = isles(backend, *argv, "--changed", "--delete-gone")
        assert ran.exit_code == 0, ran.output
        assert _id(ns, "employees", boss) in _ids_in(backend, "employee.employees")
        after = _rows(backend, "employee", "SELECT id, manager_id, version FROM employees WHERE manager_id IS NOT NULL")
        assert sorted(after) == sorted(before)
        [why] = [r for r in read_rejects(tmp_path / "rejects.csv") if r.table == "employees" and r.rowid == boss]
        assert why.decision == "keep"
        assert "employees.manager_id of row" in why.reason
        assert "still names it" in why.reason
        # again: the same one finding, not two
        assert isles(backend, *argv, "--changed", "--delete-gone").exit_code == 0
        assert (
            len([r for r in read_rejects(tmp_path / "rejects.csv") if r.rowid == boss and r.table == "employees"]) == 1
        )
    finally:
        backend.drop_later(SERVICES)


@pytest.mark.parametrize("backend_name", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_table_whose_watermark_column_changed_since_the_last_run_is_read_whole_once(
    backend_name: str, templates: Templates, tmp_path: Path
) -> None:
    """A newcomer's trial: the first run's watermark of employees was a rowid (no
    ``updated_at`` then); the monolith gained one, a row was renamed, the plan mapped
    the column; ``--changed`` read 0 employees (rowid past the mark: none) and took
    the new ``updated_at`` mark, so the rename was never loaded. A mark of another
    column says nothing of which rows changed: the table is read whole, once."""
    stats = make_monolith(tmp_path / "monolith.sqlite", employees=EMPLOYEES, seed=5)
    backend = make_backend(backend_name, tmp_path / "db")
    prepare(backend, templates)
    try:
        plan_file = tmp_path / "plan.toml"
        plan = hr_plan(stats, plan_file)
        argv = ["split", "run", "--plan", str(plan_file), str(stats.path)]
        first = isles(backend, *argv)
        assert first.exit_code == 0, first.output
        assert read_watermarks(plan_file.with_suffix(".ids.sqlite"))["employees"][0] == "rowid"
        loaded = snapshot(backend)

        track_updates(stats.path)
        change_rows(stats.path, renamed=(3,))
        plan.tables["employees"].columns["updated_at"] = "updated_at"
        write_plan(plan, plan_file)
        ran = isles(backend, *argv, "--changed")
        assert ran.exit_code == 0, ran.output
        assert read_watermarks(plan_file.with_suffix(".ids.sqlite"))["employees"][0] == "updated_at"
        people = snapshot(backend)["employee.employees"]
        renamed = _id(namespace(plan), "employees", 3)
        assert people[renamed][0] == loaded["employee.employees"][renamed][0] + "-Moved"
        assert people[renamed][1] == "2"

        again = isles(backend, *argv, "--changed")
        assert again.exit_code == 0, again.output
        skipped = {(r.table, r.rowid) for r in read_rejects(tmp_path / "rejects.csv") if r.decision == "skip"}
        assert _read_again(again.output) == len(skipped), again.output
    finally:
        backend.drop_later(SERVICES)
