"""A table that refers to itself (an employee's manager) whose rows name rows that come
*after* them in the monolith: a manager hired after the people who report to them, a
department head moved to someone newer. The run must write each row after the row it
names, whatever their rowids and batches, so no row is refused for it; ``verify`` reads
the rows in the same order and passes. SQLite and PostgreSQL targets, through the real
command line."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isles.storage.db import connect_waiting
from isles.tools.split.run import Mapper, namespace, read_rejects, uuid_of
from tests.fixtures.monolith import Stats, make_monolith
from tests.isles.test_split_run import EMPLOYEES, SERVICES, expected_rejects, hr_plan, isles, prepare
from tests.support import Templates, make_backend

pytestmark = pytest.mark.integration


def _later_managers(path: Path) -> dict[int, int | None]:
    """Every department's employees report to its *newest* employee (the last rowid of
    the department), who reports to nobody; and the first two employees' chain runs
    backwards: 1 -> 2 -> the newest of all. Returns employee -> manager as written."""
    with sqlite3.connect(path) as db:
        newest = dict(
            db.execute("SELECT department_id, max(id) FROM employees WHERE department_id IS NOT NULL GROUP BY 1")
        )
        for department, head in newest.items():
            db.execute(
                "UPDATE employees SET manager_id = ? WHERE department_id = ? AND id <> ?", (head, department, head)
            )
            db.execute("UPDATE employees SET manager_id = NULL WHERE id = ?", (head,))
        last = db.execute("SELECT max(id) FROM employees").fetchone()[0]
        db.execute("UPDATE employees SET manager_id = 2 WHERE id = 1")
        db.execute("UPDATE employees SET manager_id = ? WHERE id = 2", (last,))
        db.execute("UPDATE employees SET manager_id = NULL WHERE id = ?", (last,))
        found = dict(db.execute("SELECT id, manager_id FROM employees"))
    later = [e for e, m in found.items() if m is not None and m > e]
    assert len(later) >= EMPLOYEES // 2  # most rows name a later row: the case this file is about
    return found


async def _pg_managers(url: str) -> dict[uuid.UUID, uuid.UUID | None]:
    conn = await connect_waiting(url)
    try:
        return {r[0]: r[1] for r in await conn.fetch("SELECT id, manager_id FROM employees")}
    finally:
        await conn.close()


@pytest.mark.parametrize("backend_name", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_rows_naming_later_rows_of_their_table_load_after_them(
    backend_name: str, templates: Templates, tmp_path: Path
) -> None:
    monolith: Stats = make_monolith(tmp_path / "monolith.sqlite", employees=EMPLOYEES, seed=7)
    managers = _later_managers(monolith.path)
    backend = make_backend(backend_name, tmp_path / "db")
    prepare(backend, templates)
    try:
        plan_file = tmp_path / "plan.toml"
        plan = hr_plan(monolith, plan_file)
        # batches of 7: a row's manager is in a later batch of the rowid order
        ran = isles(backend, "split", "run", "--plan", str(plan_file), str(monolith.path), "--batch", "7")
        assert ran.exit_code == 0, ran.output
        rejects = read_rejects(tmp_path / "rejects.csv")
        assert [r for r in rejects if r.table == "employees" and r.decision == "skip"] == []
        got = Counter((r.table, r.column, r.decision) for r in rejects)
        assert got == expected_rejects(monolith)

        ns = namespace(plan)
        want = {
            uuid_of(ns, "employees", e): (None if m is None else uuid_of(ns, "employees", m))
            for e, m in managers.items()
        }
        if backend_name == "sqlite":
            with sqlite3.connect(backend.settings.data_dir / "employee.db") as db:
                found = {
                    uuid.UUID(r[0]): (None if r[1] is None else uuid.UUID(r[1]))
                    for r in db.execute("SELECT id, manager_id FROM employees")
                }
        else:
            url = backend.settings.database_url.format(service="employee").replace("+asyncpg", "")
            found = asyncio.run(_pg_managers(url))
        assert found == want

        verified = isles(backend, "split", "verify", "--plan", str(plan_file), str(monolith.path))
        assert verified.exit_code == 0, verified.output
        again = isles(backend, "split", "run", "--plan", str(plan_file), str(monolith.path), "--batch", "7")
        assert again.exit_code == 0, again.output
        last = ran.output.splitlines()[-1]  # the same rows loaded, none written again
        total = last.split(" rows loaded")[0]
        assert again.output.splitlines()[-1] == last.replace(f", {total} of them", ", 0 of them")
    finally:
        if backend_name == "postgres":
            backend.drop_later(SERVICES)


def test_a_cycle_of_managers_is_reported_not_lost(templates: Templates, tmp_path: Path) -> None:
    """Two employees naming each other (a cycle no order can write): the run ends, the
    rows it could not write are in the rejects, verify agrees with the run."""
    monolith = make_monolith(tmp_path / "monolith.sqlite", employees=EMPLOYEES, seed=7)
    with sqlite3.connect(monolith.path) as db:
        db.execute("UPDATE employees SET manager_id = 40 WHERE id = 3")
        db.execute("UPDATE employees SET manager_id = 3 WHERE id = 40")
    backend = make_backend("sqlite", tmp_path / "db")
    prepare(backend, templates)
    plan_file = tmp_path / "plan.toml"
    hr_plan(monolith, plan_file)
    ran = isles(backend, "split", "run", "--plan", str(plan_file), str(monolith.path), "--batch", "7")
    assert ran.exit_code == 0, ran.output
    rejects = read_rejects(tmp_path / "rejects.csv")
    with sqlite3.connect(backend.settings.data_dir / "employee.db") as db:
        loaded = db.execute("SELECT count(*) FROM employees").fetchone()[0]
    cycle = {r.rowid for r in rejects if r.table == "employees" and r.decision == "skip"}
    assert loaded + len(cycle) == EMPLOYEES
    assert cycle <= {3, 40}
    verified = isles(backend, "split", "verify", "--plan", str(plan_file), str(monolith.path))
    assert verified.exit_code == 0, verified.output


def test_changed_rows_naming_later_new_rows_load_after_them(templates: Templates, tmp_path: Path) -> None:
    """``--changed`` (the cut-over): two employees hired since the last run, the first
    reporting to the second; both load, the reference in place."""
    monolith = make_monolith(tmp_path / "monolith.sqlite", employees=EMPLOYEES, seed=7)
    backend = make_backend("sqlite", tmp_path / "db")
    prepare(backend, templates)
    plan_file = tmp_path / "plan.toml"
    plan = hr_plan(monolith, plan_file)
    argv = ("split", "run", "--plan", str(plan_file), str(monolith.path))
    assert (first := isles(backend, *argv)).exit_code == 0, first.output
    with sqlite3.connect(monolith.path) as db:
        columns = [r[1] for r in db.execute("PRAGMA table_info(employees)") if r[1] not in ("id", "manager_id")]
        copied = ", ".join(columns)
        for new, manager in ((1001, 1002), (1002, None)):
            db.execute(
                f"INSERT INTO employees (id, manager_id, {copied}) SELECT ?, ?, {copied} FROM employees WHERE id = 5",
                (new, manager),
            )
            db.execute(
                "UPDATE employees SET email = ?, employee_number = ? WHERE id = ?",
                (f"new{new}@example.com", f"N{new}", new),
            )
    ran = isles(backend, *argv, "--changed", "--batch", "1")
    assert ran.exit_code == 0, ran.output
    assert not [r for r in read_rejects(tmp_path / "rejects.csv") if r.rowid in (1001, 1002)]
    ns = namespace(plan)
    with sqlite3.connect(backend.settings.data_dir / "employee.db") as db:
        row = db.execute(
            "SELECT manager_id FROM employees WHERE id = ?", (uuid_of(ns, "employees", 1001).hex,)
        ).fetchone()
    assert row is not None
    assert uuid.UUID(row[0]) == uuid_of(ns, "employees", 1002)


class _Table:
    primary_key = ("id",)


class _Analysis:
    tables = {"t": _Table()}


class _Monolith:
    """What :meth:`Mapper._parents_first` reads of a mapper: the monolith and its keys."""

    def __init__(self, managers: list[int | None]) -> None:
        self.analysis = _Analysis()
        self.db = sqlite3.connect(":memory:")
        self.db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, m INTEGER)")
        self.db.executemany("INSERT INTO t VALUES (?, ?)", enumerate(managers, start=1))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(min_value=0, max_value=40)), min_size=1, max_size=40))
def test_the_load_order_puts_each_row_after_the_row_it_names(managers: list[int | None]) -> None:
    """Any table of managers (ids 1..n; 0 and ids past n name no row; cycles allowed):
    every row once; a row not in or under a cycle after its manager; rows already in a
    good order keep rowid order among the rows ready together."""
    fake = _Monolith(managers)
    order = Mapper._parents_first(fake, "t", ["m"])  # type: ignore[arg-type]
    n = len(managers)
    assert sorted(order) == list(range(1, n + 1))
    at = {rowid: i for i, rowid in enumerate(order)}

    def in_cycle_or_under(rowid: int) -> bool:
        seen = set()
        while (m := managers[rowid - 1]) is not None and 1 <= m <= n and m != rowid:
            if rowid in seen:
                return True
            seen.add(rowid)
            rowid = m
        return False

    for rowid, m in enumerate(managers, start=1):
        if m is not None and 1 <= m <= n and m != rowid and not in_cycle_or_under(rowid):
            assert at[m] < at[rowid], (rowid, m)
    if all(m is None or not 1 <= m <= n or m <= rowid for rowid, m in enumerate(managers, start=1)):
        assert order == list(range(1, n + 1))
