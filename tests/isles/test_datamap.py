"""The data map (``isles map``): built from the services' declarations, rendered, and
kept true in the docs by ``--check``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi import APIRouter
from sqlalchemy import Column, Integer, Table, Uuid
from typer.testing import CliRunner, Result

from hrms.system import build as build_hrms
from isles.cli.main import app
from isles.core.references import reference_column
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
    render_markdown,
    render_mermaid,
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
