"""``isles split plan`` / ``check``: the example monolith (tests/fixtures/monolith.py) and
its dirt counted exactly, the analysis of a real SQLite file (relations declared and
inferred, anomalies), the proposed plan for the HR system, the checks, and the CLI."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from hrms.system import build as build_hrms
from isles.cli.main import app
from isles.tools.split import SplitError
from isles.tools.split.analyse import Analysis, analyse
from isles.tools.split.plan import (
    Plan,
    TablePlan,
    Target,
    TargetColumn,
    TargetTable,
    check_plan,
    propose,
    read_plan,
    render_plan,
    target_of,
    write_plan,
)
from tests.fixtures.monolith import BAD_DATES, TABLES, Stats, make_monolith

pytestmark = pytest.mark.integration

EMPLOYEES = 50
HRMS = ["--system", "hrms.system:build"]


@pytest.fixture(scope="module")
def monolith(tmp_path_factory: pytest.TempPathFactory) -> Stats:
    return make_monolith(tmp_path_factory.mktemp("split") / "monolith.sqlite", employees=EMPLOYEES, seed=7)


@pytest.fixture(scope="module")
def analysis(monolith: Stats) -> Analysis:
    return analyse(monolith.path)


@pytest.fixture(scope="module")
def target() -> Target:
    return target_of(build_hrms())


def one(db: sqlite3.Connection, sql: str) -> int:
    return int(db.execute(sql).fetchone()[0])


def isles(*args: str) -> Result:
    return CliRunner().invoke(app, [*args, *HRMS], env={"COLUMNS": "200"})


# --- the generator ------------------------------------------------------------------------


def test_the_monolith_has_its_rows_and_exactly_its_dirt(monolith: Stats) -> None:
    db = sqlite3.connect(monolith.path)
    assert set(monolith.rows) == set(TABLES)
    for table, rows in monolith.rows.items():
        assert one(db, f"SELECT count(*) FROM {table}") == rows, table
    assert monolith.rows["employees"] == monolith.rows["users"] == EMPLOYEES
    assert monolith.rows["assignments"] == EMPLOYEES * 3 // 2
    assert monolith.orphan_assignments == 1  # max(1, 50 // 50)
    assert one(db, "SELECT count(*) FROM assignments WHERE employee_id NOT IN (SELECT id FROM employees)") == 1
    assert (monolith.text_numbers, monolith.text_na) == (1, 1)
    assert one(db, "SELECT count(*) FROM assignments WHERE typeof(allocation) = 'text' AND allocation = '12'") == 1
    assert one(db, "SELECT count(*) FROM assignments WHERE allocation = 'n/a'") == 1
    assert one(db, "SELECT count(*) FROM assignments WHERE typeof(allocation) NOT IN ('integer', 'text')") == 0
    assert monolith.bad_dates == {BAD_DATES[0]: 1, BAD_DATES[1]: 1}
    for bad, count in monolith.bad_dates.items():
        assert one(db, f"SELECT count(*) FROM employees WHERE hire_date = '{bad}'") == count
    assert monolith.empty_strings == {"employees.phone": 2, "leave_requests.reason": 2}
    for place, count in monolith.empty_strings.items():
        table, column = place.split(".")
        assert one(db, f"SELECT count(*) FROM {table} WHERE {column} = ''") == count
    assert monolith.duplicate_emails == 1
    for table in ("users", "employees"):
        assert one(db, f"SELECT count(*) - count(DISTINCT lower(email)) FROM {table}") == 1
        assert one(db, f"SELECT count(*) - count(DISTINCT email) FROM {table}") == 0  # only case differs
    db.close()


def test_the_same_seed_makes_the_same_monolith(tmp_path: Path) -> None:
    def dump(path: Path) -> list[str]:
        with sqlite3.connect(path) as db:
            return list(db.iterdump())

    a = make_monolith(tmp_path / "a.sqlite", employees=20, seed=3)
    b = make_monolith(tmp_path / "b.sqlite", employees=20, seed=3)
    c = make_monolith(tmp_path / "c.sqlite", employees=20, seed=4)
    assert a.rows == b.rows
    assert dump(a.path) == dump(b.path)
    assert dump(a.path) != dump(c.path)


# --- the analysis ----------------------------------------------------------------------------


def test_analysis_finds_declared_and_inferred_relations(analysis: Analysis, monolith: Stats) -> None:
    declared = {(r.table, r.column, r.target) for r in analysis.relations if r.declared}
    inferred = {(r.table, r.column, r.target) for r in analysis.relations if not r.declared}
    assert declared == {
        ("departments", "company_id", "companies"),
        ("users", "company_id", "companies"),
        ("employees", "company_id", "companies"),
        ("employees", "department_id", "departments"),
        ("projects", "company_id", "companies"),
        ("assignments", "project_id", "projects"),
        ("leave_types", "company_id", "companies"),
        ("leave_requests", "employee_id", "employees"),
        ("leave_balances", "employee_id", "employees"),
        ("leave_balances", "leave_type_id", "leave_types"),
    }
    assert inferred == {
        ("departments", "manager_id", "employees"),  # a role name: people
        ("employees", "user_id", "users"),
        ("employees", "manager_id", "employees"),
        ("assignments", "employee_id", "employees"),
        ("leave_requests", "leave_type_id", "leave_types"),
        ("leave_requests", "approver_id", "employees"),
        ("attendance", "employee_id", "employees"),
    }
    orphaned = analysis.relation("assignments", "employee_id")
    assert orphaned is not None
    total = monolith.rows["assignments"]
    assert (orphaned.values, orphaned.orphans) == (total, monolith.orphan_assignments)
    assert orphaned.overlap == round(100 * (total - monolith.orphan_assignments) / total, 2) < 100
    with sqlite3.connect(monolith.path) as db:
        for rowid in orphaned.orphan_samples:
            assert (
                one(
                    db,
                    "SELECT count(*) FROM employees WHERE id = "
                    f"(SELECT employee_id FROM assignments WHERE rowid = {rowid})",
                )
                == 0
            )
    assert all(r.overlap == 100.0 for r in analysis.relations if r is not orphaned)


def test_analysis_counts_each_anomaly_exactly(analysis: Analysis, monolith: Stats) -> None:
    found = {(a.table, a.column, a.kind): a.count for a in analysis.anomalies}
    assert found == {
        ("assignments", "allocation", "text_in_number"): monolith.text_in_integer,
        ("employees", "hire_date", "bad_date"): sum(monolith.bad_dates.values()),
        ("employees", "phone", "empty_string"): monolith.empty_strings["employees.phone"],
        ("leave_requests", "reason", "empty_string"): monolith.empty_strings["leave_requests.reason"],
        ("users", "email", "duplicate_ci"): monolith.duplicate_emails,
        ("employees", "email", "duplicate_ci"): monolith.duplicate_emails,
    }
    allocation = analysis.anomaly("assignments", "allocation", "text_in_number")
    assert allocation is not None
    assert allocation.detail == f"{monolith.text_numbers} of them look like numbers"
    # the typeless legacy column is known by its values
    assert analysis.tables["assignments"].column("allocation").kind == "integer"  # type: ignore[union-attr]
    with sqlite3.connect(monolith.path) as db:
        for a in analysis.anomalies:
            assert 0 < len(a.samples) <= min(5, a.count)
            if a.kind == "bad_date":
                got = {
                    db.execute(f"SELECT {a.column} FROM {a.table} WHERE rowid = {r}").fetchone()[0] for r in a.samples
                }
                assert got <= set(BAD_DATES)
    assert analysis.total_rows == monolith.total_rows


def test_analysis_reads_only(tmp_path: Path) -> None:
    stats = make_monolith(tmp_path / "m.sqlite", employees=20)
    before = hashlib.sha256(stats.path.read_bytes()).hexdigest()
    analyse(stats.path)
    assert hashlib.sha256(stats.path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.sqlite"]  # no journal, no wal left


def test_a_file_that_is_not_sqlite_is_named(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("name,email\nada,ada@example.com\n")
    with pytest.raises(SplitError, match=r"notes\.txt: not a SQLite database"):
        analyse(text)
    with pytest.raises(SplitError, match=r"missing\.sqlite: no such file"):
        analyse(tmp_path / "missing.sqlite")
    with pytest.raises(SplitError, match=r": a folder, not a SQLite file$"):
        analyse(tmp_path)
    empty = tmp_path / "empty.sqlite"
    sqlite3.connect(empty).execute("PRAGMA user_version = 1").connection.close()
    with pytest.raises(SplitError, match=r"empty\.sqlite: a SQLite database without tables"):
        analyse(empty)


# --- the plan ------------------------------------------------------------------------------------

TODOS = [
    "tables.leave_balances.defaults.entries",
    "tables.leave_requests.defaults.employee_name",
    "tables.projects.defaults.client",  # client_name has NULLs; client is NOT NULL
    "tables.projects.defaults.capacity",
]


def fill_todos(plan: Plan) -> None:
    plan.tables["leave_balances"].defaults["entries"] = 1
    plan.tables["leave_requests"].defaults["employee_name"] = {"via": "employee_id", "column": "last_name"}
    projects = plan.tables["projects"]
    projects.defaults["client"] = "(no client)"
    projects.skip.remove("max_members")  # a rename the proposal could not guess
    projects.columns["max_members"] = "capacity"
    projects.defaults["capacity"] = 10  # now the value for max_members' NULLs


def test_the_proposed_plan_maps_the_hr_system_and_leaves_todos(
    analysis: Analysis, target: Target, tmp_path: Path
) -> None:
    plan = propose(analysis, target)
    assert {n: t.target for n, t in plan.tables.items()} == {
        "assignments": "project.assignments",
        "attendance": "presence.attendance_days",
        "companies": "company.companies",
        "departments": "company.departments",
        "employees": "employee.employees",
        "leave_balances": "leave.leave_balances",
        "leave_requests": "leave.leave_requests",
        "leave_types": "leave.leave_types",
        "projects": "project.projects",
        "users": "auth.users",
    }
    employees = plan.tables["employees"]
    assert employees.columns["employee_number"] == "employee_id"  # a known rename
    assert employees.columns["job_title"] == "position"
    # a newcomer's trial: status was skipped, and the inactive employees loaded active;
    # a word column beside an unfilled flag named after one of its words fills the flag
    assert employees.skip == []
    assert employees.columns["status"] == "is_active"
    assert employees.values["status"] == {"active": True, "inactive": False}
    assert plan.tables["attendance"].columns["work_date"] == "day"
    # filled through relations and copies the target declares
    assert plan.tables["assignments"].defaults["company_id"] == {"via": "project_id", "column": "company_id"}
    assert plan.tables["assignments"].defaults["employee_name"] == {"copy": "employee.employees"}
    # the version of the copied columns is the owner's (the trial's audit after a
    # cut-over: "stale (copy v1, owner v2)" where the plan had to give a constant)
    assert plan.tables["assignments"].defaults["employee_version"] == {"copy": "employee.employees"}
    assert plan.tables["leave_requests"].defaults["leave_type_name"] == {"via": "leave_type_id", "column": "name"}
    crossing = {r["from"] for r in plan.relations if r["crosses_services"]}
    assert "assignments.employee_id" in crossing
    assert "employees.manager_id" not in crossing
    assert {"table": "tasks.task_users", "source": "employee.employees", "from": "employees"} in plan.replicas
    assert plan.todos == TODOS

    path = tmp_path / "plan.toml"
    write_plan(plan, path)
    # a newcomer's trial: the quickstart's first run stopped at employees (5% dirt over
    # the proposed 1%) without a word beforehand; the proposal says it where it is set
    text = path.read_text()
    assert "\nthreshold = 0.01  # " in text
    assert re.search(r"\n# the analysis found up to \d+\.\d% of a table's rows with findings \(\w+\)", text)
    back = read_plan(path)
    problems = check_plan(back, analysis, target)
    assert [p.where for p in problems] == TODOS
    lines = path.read_text().splitlines()
    for p in problems:
        assert p.line is not None, p
        assert '"TODO"' in lines[p.line - 1], p

    fill_todos(back)
    write_plan(back, path)
    assert check_plan(read_plan(path), analysis, target) == []

    nulls = analysis.tables["projects"].column("client_name")
    assert nulls is not None
    assert nulls.nulls == 1  # project 5 of 5 has no client
    del back.tables["projects"].defaults["client"]
    assert [(p.where, p.message) for p in check_plan(back, analysis, target)] == [
        (
            "tables.projects.columns.client_name",
            "1 NULL(s) in projects.client_name, and project.projects.client is NOT NULL without a default: "
            "give one for them in [tables.projects.defaults]",
        )
    ]


def test_check_names_each_wrong_place(analysis: Analysis, target: Target, tmp_path: Path) -> None:
    plan = propose(analysis, target)
    fill_todos(plan)
    plan.orphans = "maybe"
    employees = plan.tables["employees"]
    del employees.columns["job_title"]
    employees.columns["job_titel"] = "position"  # a typo: no such monolith column
    employees.skip.append("job_title")
    employees.columns["last_name"] = "first_name"  # mapped twice
    del employees.columns["hire_date"]  # NOT NULL, no default: uncovered
    employees.skip.append("hire_date")
    employees.columns["email"] = "contract_version"  # text -> Integer
    plan.tables["users"].columns["password_hash"] = "password"  # no such target column
    plan.tables["payroll"] = plan.tables.pop("attendance")  # unknown monolith table
    plan.tables["payroll"].source = "payroll"
    plan.tables["leave_types"].target = "leave.leave_kinds"  # unknown target table
    # a newcomer's trial: a typo in [[replicas]] passed check, and the run said the
    # service's database had no such table ("run isles migrate upgrade first")
    copies = {r["table"]: r for r in plan.replicas}
    copies["tasks.task_users"]["table"] = "tasks.task_user"
    copies["project.employee_copies"]["source"] = "employee.employee"
    copies["company.employee_copies"]["from"] = "staff"
    path = tmp_path / "plan.toml"
    write_plan(plan, path)
    problems = {(p.where, p.message) for p in check_plan(read_plan(path), analysis, target)}
    index = {name: n for n, name in enumerate(copies)}
    known = ", ".join(sorted(copy for copy, _ in target.replicas))
    assert problems == {
        ("rejects.orphans", "'maybe': one of skip, keep, null"),
        ("tables.employees.columns.job_titel", "no column 'job_titel' in monolith table employees"),
        ("tables.employees.columns.last_name", "employee.employees.first_name is mapped twice (also from first_name)"),
        (
            "tables.employees.columns.email",
            "employees.email (VARCHAR(255)) -> employee.employees.contract_version: "
            "text -> Integer: values would have to be parsed",
        ),
        (
            "tables.employees.defaults",
            "employee.employees.hire_date (NOT NULL, no default) is neither mapped nor defaulted",
        ),
        (
            "tables.employees.defaults",
            "employee.employees.email (NOT NULL, no default) is neither mapped nor defaulted",
        ),
        (
            "tables.employees.defaults",
            "employee.employees.last_name (NOT NULL, no default) is neither mapped nor defaulted",
        ),
        ("tables.users.columns.password_hash", "'password': no column of that name in auth.users"),
        ("tables.users.defaults", "auth.users.password_hash (NOT NULL, no default) is neither mapped nor defaulted"),
        ("tables.payroll", "no table 'payroll' in the monolith"),
        ("tables.attendance", 'monolith table attendance is not in the plan (map it, or target = "")'),
        ("tables.leave_types.target", "'leave.leave_kinds': no such service table in system hrms"),
        (
            f"replicas[{index['tasks.task_users']}].table",
            "'tasks.task_user': not a copy table of system hrms (" + known + ")",
        ),
        (
            f"replicas[{index['project.employee_copies']}].source",
            "'employee.employee': project.employee_copies copies employee.employees",
        ),
        (
            f"replicas[{index['company.employee_copies']}].from",
            "'staff': no monolith table of the plan is mapped to employee.employees by that name",
        ),
    }
    unknown = {p.where for p in check_plan(read_plan(path), analysis, target) if p.unknown}
    assert unknown == {
        "tables.employees.columns.job_titel",
        "tables.users.columns.password_hash",
        "tables.payroll",
        "tables.leave_types.target",
        f"replicas[{index['tasks.task_users']}].table",
    }
    lines = path.read_text().splitlines()
    typo = next(p for p in check_plan(read_plan(path), analysis, target) if p.where.endswith("job_titel"))
    assert typo.line is not None
    assert lines[typo.line - 1].startswith("job_titel = ")


def test_check_types_and_defaults_against_a_small_target(analysis: Analysis) -> None:
    def col(name: str, type_: str, **kw: object) -> TargetColumn:
        return TargetColumn(
            name,
            type_,
            kw.get("nullable", False),
            kw.get("pk", False),
            kw.get("default", False),  # type: ignore[arg-type]
            kw.get("ref"),
            None,
            kw.get("copy"),
        )  # type: ignore[arg-type]

    small = Target(
        "small",
        {
            "hr.people": TargetTable(
                "hr",
                "people",
                {
                    "id": col("id", "Uuid", pk=True, default=True),
                    "boss": col("boss", "Uuid", nullable=True),  # a Uuid that is no reference
                    "joined": col("joined", "Date"),
                    "name": col("name", "String"),
                    "flag": col("flag", "Boolean", default=True),
                    "company_ref": col("company_ref", "Uuid", ref="org.companies"),
                    "dept_name": col("dept_name", "String", copy="org.departments"),
                },
            )
        },
        (),
    )
    plan = Plan(monolith="m.sqlite", system="small")
    columns = {c.name for c in analysis.tables["employees"].columns}
    mapped = {"id": "id", "manager_id": "boss", "salary": "joined", "first_name": "name"}
    plan.tables["employees"] = TablePlan(
        "employees",
        "hr.people",
        mapped,
        sorted(columns - set(mapped)),
        {
            "company_ref": {"via": "department_id", "column": "company_id"},
            "flag": "yes",
            "dept_name": {"copy": "org.teams"},
        },
    )
    for other in analysis.tables:
        if other != "employees":
            plan.tables[other] = TablePlan(other, "")
    got = {(p.where, p.message) for p in check_plan(plan, analysis, small)}
    assert got == {
        (
            "tables.employees.columns.manager_id",
            "employees.manager_id (INTEGER) -> hr.people.boss: int -> UUID only for an id or a reference column",
        ),
        ("tables.employees.columns.salary", "employees.salary (REAL) -> hr.people.joined: real -> Date"),
        ("tables.employees.defaults.flag", "'yes' is not true or false"),
        ("tables.employees.defaults.dept_name", "{ copy = ... }: the column copies org.departments, not org.teams"),
    }
    assert 'company_ref = { via = "department_id", column = "company_id" }' in render_plan(plan)


# --- the command line ---------------------------------------------------------------------------


def test_cli_plan_and_check_round_trip(monolith: Stats, analysis: Analysis, tmp_path: Path) -> None:
    path = tmp_path / "plan.toml"
    made = isles("split", "plan", str(monolith.path), "--output", str(path))
    assert made.exit_code == 0, made.output
    assert "relations: 17 (10 declared, 7 inferred" in made.output
    assert "assignments.employee_id -> employees: " in made.output
    assert "1 orphan(s)" in made.output
    assert f"{len(TODOS)} TODO(s) to decide" in made.output

    again = isles("split", "plan", str(monolith.path), "--output", str(path))
    assert again.exit_code == 2
    assert "exists" in again.output

    checked = isles("split", "check", "--plan", str(path), str(monolith.path))
    assert checked.exit_code == 1
    listed = [line for line in checked.stdout.splitlines() if line.strip()]
    assert [line.split(": ")[1] for line in listed] == TODOS
    assert all(line.startswith(f"{path}:") for line in listed)

    plan = read_plan(path)
    fill_todos(plan)
    write_plan(plan, path)
    fine = isles("split", "check", "--plan", str(path), str(monolith.path))
    assert fine.exit_code == 0, fine.output
    assert "fine (10 tables" in fine.output

    del plan.tables["projects"].defaults["client"]
    write_plan(plan, path)
    nulls = isles("split", "check", "--plan", str(path), str(monolith.path))
    assert nulls.exit_code == 1
    assert "give one for them in [tables.projects.defaults]" in nulls.stdout  # printed as written


def test_cli_bad_input_is_one_line_and_exit_2(monolith: Stats, tmp_path: Path) -> None:
    text = tmp_path / "export.csv"
    text.write_text("id,name\n1,Ada\n")
    for args in (
        ("split", "plan", str(text), "--output", str(tmp_path / "p.toml")),
        ("split", "check", "--plan", str(tmp_path / "nope.toml"), str(monolith.path)),
    ):
        result = isles(*args)
        assert result.exit_code == 2, result.output
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1, lines
    assert str(text) in isles("split", "plan", str(text), "-o", str(tmp_path / "p.toml")).output
    assert not (tmp_path / "p.toml").exists()

    wrong = tmp_path / "wrong.toml"
    wrong.write_text('[tables.employees]\ntarget = "employee.employees"\nskip = "status"\n')
    result = isles("split", "check", "--plan", str(wrong), str(monolith.path))
    assert result.exit_code == 2
    assert [line for line in result.output.splitlines() if line.strip()] == [
        f"error: {wrong}: not a split plan: tables.employees.skip is not a list of column names"
    ]

    broken = tmp_path / "broken.toml"
    broken.write_text('[tables.employees]\ntarget = "employee.employees"\ntarget = "again"\n')
    result = isles("split", "check", "--plan", str(broken), str(monolith.path))
    assert result.exit_code == 2
    assert [line for line in result.output.splitlines() if line.strip()] == [
        f"error: {broken}: not a TOML plan: Cannot overwrite a value (at line 3, column 17)"
    ]


def test_analysis_of_a_hand_made_file(tmp_path: Path) -> None:
    path = tmp_path / "small.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE nodes (id INTEGER PRIMARY KEY, parent_id INTEGER, code_id TEXT, born DATE, size INTEGER,
                            owner_id INTEGER REFERENCES owners(id));
        INSERT INTO nodes VALUES (1, NULL, 'x', '2024-02-29', 1, 7), (2, 1, 'y', '2024-02-30', '', 8),
                                 (3, 1, 'z', '2023-02-29', 'big', NULL), (4, 2, 'w', '2024-01-01 10:00:00', 4, 9),
                                 (5, 1, 'v', '2023-02-30 10:00:00', 5, NULL),
                                 (6, 1, 'u', '2024-02-29T23:59:59', 6, NULL),
                                 (7, 1, 't', '2022-02-29 12:00:00+02:00', 7, NULL),
                                 (8, 1, 's', '2022-03-01 00:30:00+02:00', 8, NULL);
        """
    )
    db.commit()
    db.close()
    result = analyse(path)
    parent = result.relation("nodes", "parent_id")
    assert parent is not None
    assert (parent.target, parent.declared, parent.values, parent.overlap) == ("nodes", False, 7, 100.0)
    assert result.relation("nodes", "code_id") is None  # values found nowhere
    owner = result.relation("nodes", "owner_id")  # declared, to a table that is not there
    assert owner is not None
    assert (owner.declared, owner.values, owner.orphans, owner.orphan_samples) == (True, 3, 3, (1, 2, 4))
    found = {(a.column, a.kind): (a.count, a.samples) for a in result.anomalies}
    assert found == {
        # no 30 February, no 29 February in 2023, nor with a time (a newcomer's trial: they
        # were missed, SQLite's date functions moving them to March)
        ("born", "bad_date"): (4, (2, 3, 5, 7)),
        ("size", "empty_string"): (1, (2,)),
        ("size", "text_in_number"): (1, (3,)),
    }


def test_cli_a_plan_naming_what_is_not_there_is_bad_input(monolith: Stats, analysis: Analysis, tmp_path: Path) -> None:
    plan = propose(analysis, target_of(build_hrms()))
    fill_todos(plan)
    employees = plan.tables["employees"]
    employees.columns["job_titel"] = employees.columns.pop("job_title")
    employees.skip.append("job_title")
    path = tmp_path / "plan.toml"
    write_plan(plan, path)
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if text.startswith("job_titel ="))
    result = isles("split", "check", "--plan", str(path), str(monolith.path))
    assert result.exit_code == 2
    assert [text for text in result.output.splitlines() if text.strip()] == [
        f"error: {path}:{line}: tables.employees.columns.job_titel: no column 'job_titel' in monolith table employees"
    ]


@pytest.mark.parametrize("command", ["plan", "check"])
def test_split_commands_have_help_with_an_example(command: str) -> None:
    result = CliRunner().invoke(app, ["split", command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert f"Example: isles split {command} " in result.stdout
    assert "--system MODULE:FUNCTION" in result.stdout  # the shared options, named


def test_check_refuses_an_event_sourced_services_projection(tmp_path: Path) -> None:
    """A trial splitting a shop monolith into the shop system: its orders went into the
    order service's projection tables without events, so the API read them and a cancel
    (which loads the order from its events) answered 404. ``check`` says so now."""
    from shop.system import build as build_shop

    path = tmp_path / "shop.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL)")
        db.executemany("INSERT INTO orders (total) VALUES (?)", [(9.5,), (12.0,)])
    db.close()
    target = target_of(build_shop())
    assert target.projections["order.orders"].startswith("the order service's event store")
    analysis = analyse(path)
    plan = propose(analysis, target)
    # not proposed (a second trial): a TODO saying why, for the user to decide
    assert plan.tables["orders"].target == "TODO"
    assert "is a projection of the order service's event store" in plan.notes["tables.orders.target"]
    plan.tables["orders"].target = "order.orders"  # named by hand all the same
    plan.tables["orders"].columns = {"id": "id", "total": "total_amount"}
    # its version (NOT NULL, no default) is the run's to write (1), not a problem: the
    # trial's plan asked for it, though docs/split.md says the run writes it
    assert target.tables["order.orders"].columns["version"].required
    assert not [p for p in check_plan(plan, analysis, target) if ".version" in p.message]
    found = [p for p in check_plan(plan, analysis, target) if p.where == "tables.orders.target"]
    assert found, check_plan(plan, analysis, target)
    assert "order.orders is a projection of the order service's event store" in found[0].message
    plan.tables["orders"].target = ""
    assert not [p for p in check_plan(plan, analysis, target) if "projection" in p.message]


def test_check_refuses_a_read_model_kept_from_archived_events(tmp_path: Path) -> None:
    """The HR system's analytics tables are read models rebuilt from the event archive:
    a run's rows would go at the next rebuild, with no event behind them. A second shop
    trial's review: the proposal had matched an attendance table to
    analytics.attendance_marks (equal scores, more columns of the same name)."""
    path = tmp_path / "hr.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE attendance_marks (id INTEGER PRIMARY KEY, day TEXT)")
        db.execute("INSERT INTO attendance_marks (day) VALUES ('2024-01-02')")
    db.close()
    target = target_of(build_hrms())
    assert target.projections["analytics.attendance_marks"] == (
        "the analytics service's event archive (read model attendance)"
    )
    analysis = analyse(path)
    plan = propose(analysis, target)
    assert plan.tables["attendance_marks"].target == "TODO"
    assert "read model attendance" in plan.notes["tables.attendance_marks.target"]
    plan.tables["attendance_marks"].target = "analytics.attendance_marks"
    found = [p for p in check_plan(plan, analysis, target) if p.where == "tables.attendance_marks.target"]
    assert found
    assert "is a projection of the analytics service's event archive (read model attendance)" in found[0].message
