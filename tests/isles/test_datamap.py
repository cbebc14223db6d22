"""The data map (``isles map``): built from the services' declarations, rendered, and
kept true in the docs by ``--check``."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import APIRouter
from sqlalchemy import Column, Integer, Table, Uuid
from typer.testing import CliRunner, Result

from hrms.system import build as build_hrms
from isles.cli.main import app
from isles.core.references import reference_column
from isles.sagas.definition import Saga, Step, StepContext
from isles.service.datamap import (
    BEGIN,
    END,
    AggregateInfo,
    ColumnInfo,
    ConsumedInfo,
    CopyInfo,
    DataMap,
    ProjectionInfo,
    ServiceMap,
    TableInfo,
    build_map,
    flows,
    render_erd,
    render_markdown,
    render_mermaid,
    render_text,
)
from isles.service.declaration import Service, System
from isles.storage.schema import new_metadata
from shop.system import build as build_shop
from tests.isles import estoy, toy

DOCS = Path(__file__).resolve().parents[2] / "docs"
HRMS = ["--system", "hrms.system:build"]
SHOP = ["--system", "shop.system:build"]


def isles(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


# --- the model ----------------------------------------------------------------------


def test_the_toy_system_maps_exactly() -> None:
    source = ServiceMap(
        name="source",
        description="",
        tables=(
            TableInfo(
                "counters",
                "owned",
                ("id",),
                (
                    ColumnInfo("id", "Uuid", False, True),
                    ColumnInfo("n", "Integer", False),
                    ColumnInfo("version", "Integer", False),
                ),
            ),
        ),
        references=(),
        copies=(),
        aggregates=(),
        publishes=("toy.Pinged",),
        consumes=(),
        sagas=(),
    )
    sink = ServiceMap(
        name="sink",
        description="",
        tables=(
            TableInfo(
                "applied",
                "owned",
                ("seq",),
                (
                    ColumnInfo("seq", "Integer", False, True),
                    ColumnInfo("event_id", "String", False),
                    ColumnInfo("aggregate_id", "String", False),
                    ColumnInfo("version", "Integer", False),
                    ColumnInfo("n", "Integer", False),
                ),
            ),
        ),
        references=(),
        copies=(),
        aggregates=(),
        publishes=(),
        consumes=(ConsumedInfo("toy.Pinged", "source", ("record",)),),
        sagas=(),
    )
    assert build_map(toy.build()) == DataMap("toy", (source, sink), ())


def test_an_event_sourced_service_owns_its_events_and_its_projection() -> None:
    bank = build_map(estoy.build()).service("bank")
    assert [(t.name, t.kind, t.source) for t in bank.tables] == [
        ("accounts", "projection", "accounts"),
        ("event_store", "events", None),
    ]
    assert bank.aggregates == (
        AggregateInfo(
            "account",
            ("bank.Opened", "bank.Deposited", "bank.Withdrawn"),
            (ProjectionInfo("accounts", ("accounts",)),),
            ("bank.Opened", "bank.Deposited", "bank.Withdrawn"),
        ),
    )
    assert bank.publishes == ("bank.Opened", "bank.Deposited", "bank.Withdrawn")
    assert [t.name for t in bank.owned] == ["accounts"], "the projection is its data; the event store is apart"
    assert bank.table("accounts").primary_key == ("id",)


def test_the_hr_map_names_the_owner_of_employees_and_everyone_who_copies_it() -> None:
    m = build_map(build_hrms())
    employee = m.service("employee")
    employees = employee.table("employees")
    assert (employees.kind, employees.primary_key) == ("owned", ("id",))
    assert {"company_id", "user_id", "department_id"} <= {c.name for c in employees.columns}
    assert next(c for c in employees.columns if c.name == "company_id").reference == "company.companies"

    use = m.tables()["employee.employees"]
    assert use.owner == "employee"
    copies = {(service, c.kind, c.table) for service, c in use.copied_by}
    assert copies == {
        ("company", "table", "employee_copies"),
        ("project", "table", "employee_copies"),
        ("project", "columns", "assignments"),
        ("notification", "table", "notification_employees"),
        ("tasks", "table", "task_users"),
        ("leave", "table", "leave_request_users"),
        ("document", "table", "document_users"),
        ("presence", "table", "checkin_user_infos"),
        ("contract", "table", "contract_employees"),
    }
    # The project service's denormalized columns, as declared in its handlers.
    assert dict(use.copied_by)["project"] in m.service("project").copies
    assert (
        CopyInfo(
            "columns",
            "assignments",
            "employee.employees",
            "employee_id",
            ("employee_name", "employee_active"),
            ("employee.EmployeeCreated", "employee.EmployeeUpdated", "employee.EmployeeDeactivated"),
        )
        in m.service("project").copies
    )
    # Presence declares two replicas of one table (kept by different events): one copy.
    (checkins,) = m.service("presence").copies
    assert checkins.events == (
        "employee.EmployeeCreated",
        "employee.EmployeeUpdated",
        "employee.EmployeeDeactivated",
    )
    assert "manager_id" in checkins.columns
    assert "project.assignments.employee_id" in use.referenced_by
    assert "employee.employees.company_id" in m.tables()["company.companies"].referenced_by
    assert "auth.users.company_id" in m.tables()["company.companies"].referenced_by


def test_copies_are_not_owned_data() -> None:
    m = build_map(build_hrms())
    company = m.service("company")
    copy = company.table("employee_copies")
    assert (copy.kind, copy.source) == ("copy", "employee.employees")
    assert "employee_copies" not in [t.name for t in company.owned]
    assert "company.employee_copies" not in m.tables()
    assert not any(t.name.startswith("isles_") for s in m.services for t in s.tables), "kernel tables are left out"
    assert m.dangling == (), "every reference and copy of the HR system points at a table some service owns"


def test_events_consumed_name_their_publisher_and_what_is_done() -> None:
    m = build_map(build_hrms())
    company = m.service("company")
    created = next(c for c in company.consumes if c.event == "employee.EmployeeCreated")
    assert created.publisher == "employee"
    assert created.handlers == ("copy: replica employee_copies of employee.employees", "headcount and teams")
    assert "employee.EmployeeCreated" in m.service("employee").publishes
    (saga,) = m.service("employee").sagas
    assert saga.name == "employee.CreateEmployee"
    assert saga.steps[0] == "check_company"
    # a type several services publish names them all, and each is a flow of events
    ended = next(c for c in m.service("analytics").consumes if c.event == "isles.SagaFinished")
    assert ended.publisher == "employee, project"
    edges = flows(m, events=True)
    for publisher in ("employee", "project"):
        assert "isles.SagaFinished" in edges[(publisher, "analytics", "events")]


def test_a_reference_to_a_table_no_service_owns_is_dangling() -> None:
    md = new_metadata()
    Table("things", md, Column("id", Uuid, primary_key=True), reference_column("ghost_ref", "ghost.spirits"))
    Table("counts", md, Column("id", Integer, primary_key=True))
    lonely = Service(name="lonely", metadata=md, router=APIRouter(), migrations=None)
    m = build_map(System(name="haunted", services=[lonely]))
    assert m.dangling == ("lonely.things.ghost_ref -> ghost.spirits",)
    assert m.service("lonely").references[0].target == "ghost.spirits"
    chart = render_mermaid(m)
    assert 'ghost["ghost<br/>(not in this system)"]' in chart
    assert 'lonely -->|"refers to spirits"| ghost' in chart
    assert "`lonely.things.ghost_ref -> ghost.spirits`" in render_markdown(m)


# --- renderings and the command -------------------------------------------------------


def test_json_output_round_trips() -> None:
    for spec, system in ((HRMS, build_hrms()), (["--system", "tests.isles.estoy:build"], estoy.build())):
        result = isles(*spec, "map", "--format", "json")
        assert result.exit_code == 0, result.output
        assert DataMap.from_dict(json.loads(result.stdout)) == build_map(system)


def test_markdown_and_mermaid_show_copies_and_references() -> None:
    result = isles(*HRMS, "map", "--format", "markdown")
    assert result.exit_code == 0, result.output
    page = result.stdout
    assert "## Who keeps copies of what" in page
    assert (
        "| `employee.employees` | project | columns of `assignments` (by `employee_id`) "
        "| `employee_name`, `employee_active` |" in page
    )
    assert "## Service `employee`" in page
    assert "| its data; `employee_name`, `employee_active` copied from `employee.employees` |" in page
    assert "| `employees.company_id` | `company.companies` | no |" in page
    mermaid = isles(*HRMS, "map", "--format", "mermaid").stdout
    assert mermaid.startswith("flowchart LR\n")
    assert '  project -.->|"copies employees"| employee' in mermaid
    assert '  project -->|"refers to companies"| company' in mermaid
    text = isles(*HRMS, "map").stdout
    assert "  copies     employee.employees -> employee_copies" in text


@pytest.mark.parametrize(
    ("page", "system"), [("data-map.md", HRMS), ("shop.md", SHOP)], ids=["hrms data-map.md", "shop shop.md"]
)
def test_the_committed_pages_are_up_to_date(page: str, system: list[str]) -> None:
    """Regenerated from the declarations now: a declaration changed without
    regenerating its page fails here (`isles map --output docs/<page>` fixes it)."""
    result = isles(*system, "map", "--check", str(DOCS / page))
    assert result.exit_code == 0, result.output
    text = (DOCS / page).read_text()
    assert text.index(BEGIN) > 0, "the page has hand-written text above the block"


def test_check_fails_on_an_edited_block_and_without_markers(tmp_path: Path) -> None:
    page = tmp_path / "map.md"
    page.write_text((DOCS / "data-map.md").read_text().replace("| `employee.employees` | tasks |", "| x | tasks |"))
    result = isles(*HRMS, "map", "--check", str(page))
    assert result.exit_code == 1, result.output
    assert "stale" in result.stderr
    assert f"isles map --format markdown --output {page}" in result.stderr
    assert "-| x | tasks |" in result.stdout, "a diff"
    assert "+| `employee.employees` | tasks |" in result.stdout

    page.write_text("# A page without the markers\n")
    result = isles(*HRMS, "map", "--check", str(page))
    assert result.exit_code == 2
    assert "<!-- isles map begin -->" in result.stderr


def test_output_replaces_only_the_block(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(f"# Hand-written title\n\nIntro.\n\n{BEGIN}\nold map\n{END}\n\n## Afterwards\n\nMore words.\n")
    result = isles(*SHOP, "map", "--output", str(page))
    assert result.exit_code == 0, result.output
    text = page.read_text()
    assert text.startswith(f"# Hand-written title\n\nIntro.\n\n{BEGIN}\n<!-- Generated by `isles map`")
    assert text.endswith(f"{END}\n\n## Afterwards\n\nMore words.\n")
    assert "old map" not in text
    assert render_markdown(build_map(build_shop())) in text
    assert isles(*SHOP, "map", "--check", str(page)).exit_code == 0
    assert isles(*HRMS, "map", "--check", str(page)).exit_code == 1, "the HR system's map is another"
    # Again: nothing changes.
    assert isles(*SHOP, "map", "--output", str(page)).exit_code == 0
    assert page.read_text() == text


def test_output_to_a_new_file_and_a_page_without_markers(tmp_path: Path) -> None:
    new = tmp_path / "new.md"
    assert isles(*SHOP, "map", "--output", str(new)).exit_code == 0
    assert new.read_text().startswith(BEGIN + "\n")
    assert new.read_text().endswith(END + "\n")
    assert isles(*SHOP, "map", "--check", str(new)).exit_code == 0

    plain = tmp_path / "plain.md"
    plain.write_text("# Mine\n")
    result = isles(*SHOP, "map", "--output", str(plain))
    assert result.exit_code == 2
    assert "without the markers" in result.stderr
    assert plain.read_text() == "# Mine\n", "a page without markers is not overwritten"

    chart = tmp_path / "map.json"
    assert isles(*SHOP, "map", "--format", "json", "--output", str(chart)).exit_code == 0
    assert DataMap.from_dict(json.loads(chart.read_text())) == build_map(build_shop())


# --- sagas across services --------------------------------------------------------------


async def _noop(ctx: StepContext) -> None:
    return None


def test_a_local_step_names_no_service() -> None:
    with pytest.raises(ValueError, match="a local step"):
        Step("write", _noop, local=True, service="auth")
    assert Step("write", _noop, local=True).service is None
    assert Step("ask", _noop, service="auth").service == "auth"


@pytest.mark.parametrize("build", [build_hrms, build_shop], ids=["hrms", "shop"])
def test_every_remote_step_of_every_saga_names_its_service(build: Callable[[], System]) -> None:
    system = build()
    steps = [(g.name, st) for s in system.services for g in s.sagas for st in g.steps]
    assert steps, "the system has sagas"
    assert [f"{saga}.{st.name}" for saga, st in steps if not st.local and st.service is None] == []
    assert build_map(system).undeclared_steps == ()


def test_the_services_a_saga_spans_are_in_every_rendering() -> None:
    m = build_map(build_hrms())
    (saga,) = m.service("employee").sagas
    assert saga.spans == ("employee", "company", "auth")
    assert saga.step_services == ("company", "auth", "employee", "auth", "employee")
    steps = "check_company (company) → create_user (auth) → create_employee → activate_user (auth) → activate"
    assert saga.step_labels() == steps.split(" → ")

    data = json.loads(isles(*HRMS, "map", "--format", "json").stdout)
    (raw,) = next(s for s in data["services"] if s["name"] == "employee")["sagas"]
    assert raw["spans"] == ["employee", "company", "auth"]
    assert raw["step_services"][:2] == ["company", "auth"]

    page = render_markdown(m)
    assert "## Sagas across services" in page
    assert f"| `employee.CreateEmployee` | employee | employee, company, auth | {steps} |" in page
    assert f"- `employee.CreateEmployee`: {steps}; spans employee, company, auth" in page
    assert "| `project.CreateAssignment` | project | project, employee | validate (employee) → " in page

    chart = render_mermaid(m)
    assert '  employee ==>|"saga employee.CreateEmployee"| auth' in chart
    assert '  project ==>|"saga project.CreateAssignment"| employee' in chart
    assert chart.count("employee ==>") == 2, "one edge per (orchestrator, service)"

    text = isles(*HRMS, "map").stdout
    assert (
        "  saga       employee.CreateEmployee: check_company (company) > create_user (auth) > create_employee" in text
    )
    assert "             spans employee, company, auth\n" in text


def test_a_sagas_edges_merge_and_reach_outside_the_system() -> None:
    chart = render_mermaid(build_map(build_shop()))
    assert '  order ==>|"saga order.PlaceOrder, order.CancelOrder"| product' in chart
    assert 'payments["payments<br/>(not in this system)"]' in chart
    assert '  order ==>|"saga order.PlaceOrder, order.CancelOrder"| payments' in chart


def test_a_remote_step_that_does_not_say_whom_it_calls_is_warned_about() -> None:
    md = new_metadata()
    Table("things", md, Column("id", Uuid, primary_key=True))
    saga = Saga(
        "vague.Do",
        (Step("ask", _noop), Step("write", _noop, local=True), Step("tell", _noop, service="other")),
    )
    vague = Service(name="vague", metadata=md, router=APIRouter(), migrations=None, sagas=(saga,))
    m = build_map(System(name="vague", services=[vague]))
    assert m.undeclared_steps == ("vague.Do.ask",)
    (info,) = m.service("vague").sagas
    assert info.spans == ("vague", "other")
    assert info.step_labels() == ["ask (?)", "write", "tell (other)"]
    assert "warning: saga steps that call another service without saying which" in render_text(m)
    assert "  vague.Do.ask\n" in render_text(m)
    assert "- `vague.Do.ask`" in render_markdown(m)
    assert DataMap.from_dict(json.loads(m.to_json())) == m


def test_json_written_before_sagas_spans_and_foreign_keys_still_reads() -> None:
    m = build_map(build_hrms())
    old = json.loads(m.to_json())
    old.pop("undeclared_steps")
    for s in old["services"]:
        for g in s["sagas"]:
            del g["spans"], g["step_services"]
        for t in s["tables"]:
            for c in t["columns"]:
                del c["foreign_key"]
    read = DataMap.from_dict(old)
    (saga,) = read.service("employee").sagas
    assert (saga.spans, saga.step_services) == ((), ())
    assert saga.step_labels() == list(saga.steps), "steps shown bare"
    assert read.undeclared_steps == ()
    assert all(c.foreign_key is None for s in read.services for t in s.tables for c in t.columns)
    assert "- `employee.CreateEmployee`: check_company → create_user → create_employee" in render_markdown(read)


# --- an ERD per service -----------------------------------------------------------------

_ERD_LINE = re.compile(
    r"^(erDiagram"
    r"|  [A-Za-z_][A-Za-z0-9_]* \{"
    r'|    [A-Za-z_][A-Za-z0-9_]* [A-Za-z_][A-Za-z0-9_]*( PK| FK)?( "[^"]*")?'
    r"|  \}"
    r'|  [A-Za-z_][A-Za-z0-9_]* (\|\||\|o|\}o)(--|\.\.)(o\{|\|\||o\|) [A-Za-z_][A-Za-z0-9_]* : "[^"]+")$'
)


def _plausible_erd(erd: str) -> None:
    lines = erd.rstrip("\n").split("\n")
    assert lines[0] == "erDiagram"
    assert [line for line in lines if not _ERD_LINE.match(line)] == []


def test_the_erd_of_a_service_draws_its_tables_keys_and_references() -> None:
    m = build_map(build_hrms())
    erd = render_erd(m, "company")
    _plausible_erd(erd)
    for t in m.service("company").tables:
        assert f"  {t.name} {{\n" in erd
    assert "    Uuid id PK\n" in erd
    assert "    Uuid company_id FK\n" in erd
    assert '    Uuid manager_id "ref employee.employees"\n' in erd
    # Real foreign keys between its own tables (optional when the column is nullable).
    assert '  companies ||--o{ departments : "company_id"\n' in erd
    assert '  departments |o--o{ teams : "department_id"\n' in erd
    # References to another service's table: a dotted relationship to an entity of its own.
    assert '  teams }o..o| employee__employees : "ref lead_id"\n' in erd
    assert '  employee_copies }o..o| auth__users : "ref user_id"\n' in erd
    assert "employee__employees {" not in erd, "another service's table has no attributes here"
    assert "isles_" not in erd
    departments = next(c for c in m.service("company").table("departments").columns if c.name == "company_id")
    assert departments.foreign_key == "companies.id"
    for system in (build_hrms(), build_shop(), estoy.build()):
        sm = build_map(system)
        for s in sm.services:
            _plausible_erd(render_erd(sm, s.name))


def test_the_markdown_has_an_erd_in_each_service_section() -> None:
    m = build_map(build_hrms())
    page = render_markdown(m)
    section = page[page.index("## Service `company`") : page.index("## Service `employee`")]
    assert "```mermaid\n" + render_erd(m, "company") + "```" in section
    assert page.count("```mermaid\nerDiagram\n") == len(m.services)


def test_the_command_draws_one_services_erd(tmp_path: Path) -> None:
    result = isles(*HRMS, "map", "--format", "erd", "--service", "company")
    assert result.exit_code == 0, result.output
    assert result.stdout == render_erd(build_map(build_hrms()), "company")
    out = tmp_path / "order.mmd"
    assert isles(*SHOP, "map", "--format", "erd", "--service", "order", "--output", str(out)).exit_code == 0
    assert out.read_text() == render_erd(build_map(build_shop()), "order")

    result = isles(*HRMS, "map", "--format", "erd")
    assert result.exit_code == 2
    assert "--service" in result.stderr
    result = isles(*HRMS, "map", "--service", "company")
    assert result.exit_code == 2, "--service goes with --format erd"
    result = isles(*HRMS, "map", "--format", "erd", "--service", "nope")
    assert result.exit_code == 2
    assert "no service 'nope'" in result.stderr
    assert "one of auth, company, employee" in result.stderr
    assert "--format erd --service" in isles("map", "--help").stdout


def test_a_references_orphan_policy_and_liveness_are_on_the_map() -> None:
    m = build_map(build_hrms())
    [ref] = [r for r in m.service("employee").references if (r.table, r.column) == ("employees", "department_id")]
    assert (ref.on_orphan, ref.live) == ("nullify", "deleted_at")
    plain = [r for r in m.service("project").references if (r.table, r.column) == ("assignments", "employee_id")]
    assert [(r.on_orphan, r.live) for r in plain] == [("report", None)]
    page = render_markdown(m)
    assert (
        "| `employees.department_id` | `company.departments` | yes | missing, or `deleted_at` says gone | nullify |"
        in page
    )
    assert (
        "employees.department_id -> company.departments (nullable) (live: deleted_at) (orphans: nullify)"
        in render_text(m)
    )
    assert DataMap.from_dict(json.loads(m.to_json())) == m
