"""``isles audit`` on the HR system (issue 20), on SQLite and PostgreSQL: a clean
system reports nothing; each kind of finding made on purpose — an owner row deleted
behind the platform's back, a copy rolled back, a copy's row dropped, an event
parked — is found with its ids; a change in flight is not a finding; the command's
exit codes and formats."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, insert, select, update
from typer.testing import CliRunner

from isles import ACROSS_TENANTS
from isles.cli.main import app
from isles.core.clock import utcnow
from isles.runtime.system import SystemRuntime
from isles.service.audit import AuditReport, audit, repair
from isles.storage.schema import dead_letters_table, inbox_table, outbox_table
from tests.hrms.helpers import assign, new_employee, new_project, ok
from tests.support import Backend

pytestmark = [pytest.mark.integration, pytest.mark.services("leave")]


async def _audit(hrms: SystemRuntime, settle: float = 0.0) -> AuditReport:
    return await audit(hrms.system, {n: rt.db for n, rt in hrms.services.items()}, settle=settle)


def _found(report: AuditReport) -> dict[tuple[str, str], set[str]]:
    """(declaration, kind) -> the ids found."""
    out: dict[tuple[str, str], set[str]] = {}
    for c in report.checks:
        for f in c.samples:
            out.setdefault((c.name, f.kind), set()).add(f.key)
    return out


async def _people(api: httpx.AsyncClient, hrms: SystemRuntime) -> dict[str, Any]:
    ada = await new_employee(api, "Ada", "Lovelace", position="Lead")
    bob = await new_employee(api, "Bob", "Byte", company_id=ada["company_id"], manager_id=ada["id"])
    project = await new_project(api, company_id=ada["company_id"])
    ok(await assign(api, bob, project), 201)
    ok(await api.patch(f"/api/employee/employees/{bob['id']}", json={"last_name": "Bit"}))
    await hrms.settle()
    return {"ada": ada, "bob": bob, "project": project}


async def _write(hrms: SystemRuntime, service: str, statement: Any) -> None:
    """SQL behind the platform's back (a Core statement on the session's connection)."""
    async with hrms[service].db.writing(tenant=ACROSS_TENANTS) as session:
        await (await session.connection()).execute(statement)
        await session.commit()


async def test_a_clean_system_reports_nothing_even_with_a_deleted_department(
    api: httpx.AsyncClient, hrms: SystemRuntime
) -> None:
    people = await _people(api, hrms)
    # Soft-deleted by its owner, dropped from the employee service's copy: not missing.
    body = {"company_id": people["ada"]["company_id"], "name": "Gone"}
    gone = ok(await api.post("/api/company/departments", json=body), 201)
    ok(await api.delete(f"/api/company/departments/{gone['id']}"), 204)
    await hrms.settle()
    report = await _audit(hrms)
    assert report.findings == 0, _found(report)
    assert any(c.name == "employee.department_copies <- company.departments" for c in report.checks)
    checked = {c.name: c.checked for c in report.checks}
    assert checked["project.employee_copies <- employee.employees"] >= 2
    assert checked["project.assignments.employee_id -> employee.employees"] >= 1
    services = {s.name for s in hrms.system.services}
    skipped = [c for c in report.checks if c.skipped]
    assert all(c.name.split(" -> ")[-1].split(".")[0] not in services for c in skipped), skipped
    assert checked["project.employee_copies <- employee.employees"] >= 2


async def test_each_kind_of_finding_is_found_with_its_ids(api: httpx.AsyncClient, hrms: SystemRuntime) -> None:
    people = await _people(api, hrms)
    ada, bob = uuid.UUID(people["ada"]["id"]), uuid.UUID(people["bob"]["id"])
    employees = hrms["employee"].service.metadata.tables["employees"]
    copies = hrms["project"].service.metadata.tables["employee_copies"]
    leave_users = hrms["leave"].service.metadata.tables["leave_request_users"]
    # An owner row deleted behind the platform's back: Bob (assigned, copied everywhere).
    await _write(hrms, "employee", delete(employees).where(employees.c.id == bob))
    # A copy rolled back: the project service's copy of Ada one version behind.
    await _write(hrms, "project", update(copies).where(copies.c.id == ada).values(version=copies.c.version - 1))
    # A copy's row dropped: the leave service forgets Ada.
    await _write(hrms, "leave", delete(leave_users).where(leave_users.c.id == ada))
    # An event parked.
    now = utcnow()
    await _write(
        hrms,
        "project",
        insert(dead_letters_table).values(
            id=uuid.uuid4(),
            event_id=uuid.uuid4(),
            event_type="employee.EmployeeUpdated",
            aggregate_id=str(ada),
            aggregate_version=9,
            payload="{}",
            error="boom",
            traceback="",
            attempts=5,
            first_failed_at=now,
            created_at=now,
        ),
    )

    report = await _audit(hrms, settle=0.2)
    found = _found(report)
    assert found[("project.assignments.employee_id -> employee.employees", "orphan")] == {str(bob)}
    assert found[("project.employee_copies <- employee.employees", "extra")] == {str(bob)}
    assert found[("project.employee_copies <- employee.employees", "stale")] == {str(ada)}
    assert found[("leave.leave_request_users <- employee.employees", "missing")] == {str(ada)}
    stale = next(c for c in report.checks if c.name == "project.employee_copies <- employee.employees")
    [finding] = [f for f in stale.samples if f.kind == "stale"]
    assert finding.held == finding.owner - 1  # type: ignore[operator]
    project = next(p for p in report.pipeline if p.service == "project")
    assert project.dead_letters == {"employee.EmployeeUpdated": 1}
    assert list(project.dead_letter_ages) == ["employee.EmployeeUpdated"]
    assert 0 <= project.dead_letter_ages["employee.EmployeeUpdated"] == project.oldest_dead_letter_seconds < 60
    assert report.findings >= 5


async def test_the_second_looks_wait_once_for_the_whole_audit(
    api: httpx.AsyncClient, hrms: SystemRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A newcomer's trial: after a restore, nine copies were behind on the first look,
    and the audit waited ``settle`` for each in turn (45 s on a tiny system). Now every
    check looks first, then one wait, then the second looks: the same findings."""
    from isles.service import audit as audit_module

    people = await _people(api, hrms)
    ada = uuid.UUID(people["ada"]["id"])
    copies = hrms["project"].service.metadata.tables["employee_copies"]
    leave_users = hrms["leave"].service.metadata.tables["leave_request_users"]
    await _write(hrms, "project", update(copies).where(copies.c.id == ada).values(version=copies.c.version - 1))
    await _write(hrms, "leave", delete(leave_users).where(leave_users.c.id == ada))
    waits: list[int] = []
    settle_later = audit_module.settle_later

    async def spy(later: Any, settle: float) -> None:
        waits.append(len(later))
        await settle_later(later, settle)

    monkeypatch.setattr(audit_module, "settle_later", spy)
    said: list[str] = []
    dbs = {n: rt.db for n, rt in hrms.services.items()}
    report = await audit(hrms.system, dbs, settle=0.2, progress=said.append)
    assert waits == [2], said  # one wait; both checks' second looks after it
    found = _found(report)
    assert found[("project.employee_copies <- employee.employees", "stale")] == {str(ada)}
    assert found[("leave.leave_request_users <- employee.employees", "missing")] == {str(ada)}
    assert "project.employee_copies <- employee.employees: 1 behind on the first look; looking again 0.2 s" in said[0]


async def test_a_change_in_flight_is_not_a_finding(api: httpx.AsyncClient, hrms: SystemRuntime) -> None:
    """The copy behind at the first look but caught up within ``settle`` (as a change
    being delivered does) is not reported; one still behind is."""
    people = await _people(api, hrms)
    ada = uuid.UUID(people["ada"]["id"])
    copies = hrms["project"].service.metadata.tables["employee_copies"]
    behind = update(copies).where(copies.c.id == ada).values(version=copies.c.version - 1)
    caught_up = update(copies).where(copies.c.id == ada).values(version=copies.c.version + 1)
    await _write(hrms, "project", behind)
    running = asyncio.create_task(_audit(hrms, settle=1.0))
    await asyncio.sleep(0.3)  # the first look has seen it behind ...
    await _write(hrms, "project", caught_up)  # ... and then it lands
    assert (await running).findings == 0
    await _write(hrms, "project", behind)
    assert _found(await _audit(hrms, settle=0.3))[("project.employee_copies <- employee.employees", "stale")] == {
        str(ada)
    }


async def test_no_false_findings_under_write_load(api: httpx.AsyncClient, hrms: SystemRuntime) -> None:
    people = await _people(api, hrms)
    path = f"/api/employee/employees/{people['bob']['id']}"
    stop = asyncio.Event()

    async def rename() -> int:
        n = 0
        while not stop.is_set():
            ok(await api.patch(path, json={"last_name": f"Load{n}"}))
            n += 1
        return n

    writer = asyncio.create_task(rename())
    try:
        await asyncio.sleep(0.2)
        report = await _audit(hrms, settle=1.5)
    finally:
        stop.set()
        renames = await writer
    assert renames > 3
    assert report.findings == 0, _found(report)


def _cli(backend: Backend, *args: str, system: str = "tests.hrms.cluster:core_with_leave") -> tuple[int, str]:
    where = (
        ["--database-url", backend.settings.database_url]
        if backend.settings.database_url
        else ["--data-dir", str(backend.settings.data_dir)]
    )
    result = CliRunner().invoke(app, ["audit", *args, "--system", system, *where], env={"COLUMNS": "250"})
    # JSON on stdout alone: the logs (stderr) may say the server was full meanwhile
    return result.exit_code, result.stdout if "json" in args else result.output


async def test_the_command_exit_codes_and_formats(
    api: httpx.AsyncClient, hrms: SystemRuntime, backend: Backend
) -> None:
    people = await _people(api, hrms)
    code, text = await asyncio.to_thread(_cli, backend, "--settle", "0")
    assert code == 0, text
    assert "0 finding(s)" in text
    # The whole HR system on these databases: the tasks service's are not there (and
    # the audit, read-only, makes none: it made an empty SQLite file before)
    code, text = await asyncio.to_thread(_cli, backend, "--settle", "0", system="hrms.system:build")
    assert code == 2, text
    assert "tasks: no database at " in text, text
    if backend.name == "sqlite":
        assert not (backend.settings.data_dir / "tasks.db").exists()
    leave_users = hrms["leave"].service.metadata.tables["leave_request_users"]
    ada = uuid.UUID(people["ada"]["id"])
    await _write(hrms, "leave", delete(leave_users).where(leave_users.c.id == ada))
    code, text = await asyncio.to_thread(_cli, backend, "--settle", "0", "--format", "json")
    assert code == 1, text
    body = json.loads(text)
    [check] = [c for c in body["checks"] if c["findings"]]
    assert check["name"] == "leave.leave_request_users <- employee.employees"
    assert check["samples"] == [
        {"kind": "missing", "key": str(ada), "held": None, "owner": check["samples"][0]["owner"], "detail": ""}
    ]
    code, text = await asyncio.to_thread(
        _cli, backend, "--settle", "0", "--format", "markdown", "--only", "leave_request"
    )
    assert code == 1
    assert f"`{ada}`" in text
    assert "project.employee_copies" not in text, "--only keeps the named declarations"
    # --repair: the owner re-publishes; once delivered, the audit is clean.
    code, text = await asyncio.to_thread(_cli, backend, "--settle", "0", "--repair")
    assert code == 1, text
    assert "repair leave.leave_request_users <- employee.employees: 1 row(s): 1 event(s) re-published" in text
    await hrms.settle()
    code, text = await asyncio.to_thread(_cli, backend, "--settle", "0", "--repair")
    assert code == 0, text
    assert "repair" not in text.split("\n", 1)[1]


async def _events_of(hrms: SystemRuntime, service: str, table: Any, aggregate_id: uuid.UUID) -> list[Any]:
    q = select(table.c.event_id, table.c.aggregate_version)
    q = q.where(table.c.aggregate_id == str(aggregate_id))
    async with hrms[service].db.read_session(tenant=ACROSS_TENANTS) as session:
        return [tuple(r) for r in (await session.execute(q)).all()]


async def test_repair_goes_through_events_and_twice_changes_nothing(
    api: httpx.AsyncClient, hrms: SystemRuntime
) -> None:
    people = await _people(api, hrms)
    ada = uuid.UUID(people["ada"]["id"])
    copies = hrms["project"].service.metadata.tables["employee_copies"]
    leave_users = hrms["leave"].service.metadata.tables["leave_request_users"]
    await _write(hrms, "project", update(copies).where(copies.c.id == ada).values(version=copies.c.version - 1))
    await _write(hrms, "leave", delete(leave_users).where(leave_users.c.id == ada))
    dbs = {n: rt.db for n, rt in hrms.services.items()}
    published = await _events_of(hrms, "employee", outbox_table, ada)

    report = await _audit(hrms)
    dry = await repair(hrms.system, dbs, report, dry_run=True)
    assert sorted((r.check, r.keys, r.resent, r.note) for r in dry) == [
        ("leave.leave_request_users <- employee.employees", 1, 0, "dry run"),
        ("project.employee_copies <- employee.employees", 1, 0, "dry run"),
    ]
    assert await _events_of(hrms, "employee", outbox_table, ada) == published, "a dry run writes nothing"

    done = await repair(hrms.system, dbs, report)
    assert sorted((r.check, r.resent) for r in done) == [
        ("leave.leave_request_users <- employee.employees", 1),
        ("project.employee_copies <- employee.employees", 1),
    ]
    await hrms.settle()
    assert (await _audit(hrms)).findings == 0
    # Through events: two more EmployeeUpdated of Ada at her current version (no bump),
    # each applied by the project and leave services' inboxes.
    resent = [e for e in await _events_of(hrms, "employee", outbox_table, ada) if e not in published]
    current = max(v for _id, v in published)
    assert [v for _id, v in resent] == [current, current]
    for service in ("project", "leave"):
        inbox = {event_id for event_id, _v in await _events_of(hrms, service, inbox_table, ada)}
        assert {event_id for event_id, _v in resent} <= inbox, service

    # Twice: nothing left to repair, nothing sent.
    again = await _audit(hrms)
    assert await repair(hrms.system, dbs, again) == []
    assert len(await _events_of(hrms, "employee", outbox_table, ada)) == len(published) + 2


async def test_a_person_left_in_a_deleted_department_is_found_and_moved_out(
    api: httpx.AsyncClient, hrms: SystemRuntime
) -> None:
    """``employees.department_id`` declares ``live="deleted_at"`` and the policy
    nullify: a person the DepartmentDeleted event missed (put back behind the
    platform's back) is an orphan of kind ``inactive``; the repair moves them out — a
    new version, its history row by the operator, EmployeeUpdated through the outbox —
    and the copies follow."""
    ada = await new_employee(api, "Ada", "Lovelace", position="Lead")
    company = ada["company_id"]
    rd = ok(await api.post("/api/company/departments", json={"company_id": company, "name": "R&D"}), 201)
    ada = ok(await api.patch(f"/api/employee/employees/{ada['id']}", json={"department_id": rd["id"]}))
    ok(await api.delete(f"/api/company/departments/{rd['id']}"), 204)
    await hrms.settle()
    assert ok(await api.get(f"/api/employee/employees/{ada['id']}"))["department_id"] is None
    assert (await _audit(hrms)).findings == 0, "the event moved her out: clean"

    employees = hrms["employee"].service.metadata.tables["employees"]
    ada_id, rd_id = uuid.UUID(ada["id"]), uuid.UUID(rd["id"])
    await _write(hrms, "employee", update(employees).where(employees.c.id == ada_id).values(department_id=rd_id))
    name = "employee.employees.department_id -> company.departments"
    report = await _audit(hrms)
    [check] = [c for c in report.checks if c.name == name]
    assert [(f.kind, f.key, f.detail) for f in check.samples] == [("inactive", str(rd_id), "deleted")]
    assert check.policy == "nullify"
    version = ok(await api.get(f"/api/employee/employees/{ada['id']}"))["version"]
    published = await _events_of(hrms, "employee", outbox_table, ada_id)

    dbs = {n: rt.db for n, rt in hrms.services.items()}
    [done] = [r for r in await repair(hrms.system, dbs, report) if r.check == name]
    assert (done.changed, done.resent) == (1, 1)
    await hrms.settle()
    now = ok(await api.get(f"/api/employee/employees/{ada['id']}"))
    assert (now["department_id"], now["version"]) == (None, version + 1)
    sent = [e for e in await _events_of(hrms, "employee", outbox_table, ada_id) if e not in published]
    assert [v for _id, v in sent] == [version + 1], "its new state went out at its new version"
    history = ok(await api.get(f"/api/employee/employees/{ada['id']}/history"))["items"]
    assert any(h.get("changed_by") == "operator:isles-audit" for h in history), history
    after = await _audit(hrms)
    assert after.findings == 0, [(c.name, c.samples) for c in after.checks if c.findings]
    assert await repair(hrms.system, dbs, after) == []


async def test_values_that_differ_at_the_same_version_are_found_and_repaired(
    api: httpx.AsyncClient, hrms: SystemRuntime
) -> None:
    """A copy at its owner's version but holding other values (written behind the
    platform's back) is invisible to the versions; ``values=True`` compares every row
    (the owner's Resend event projected as the copy projects it) and finds it; the
    repair re-publishes as a repair, which a copy at that version takes too. A
    denormalized column behind its owner's version is stale."""
    people = await _people(api, hrms)
    ada, bob = uuid.UUID(people["ada"]["id"]), uuid.UUID(people["bob"]["id"])
    dbs = {n: rt.db for n, rt in hrms.services.items()}
    clean = await audit(hrms.system, dbs, values=True)
    assert clean.findings == 0, [(c.name, c.samples) for c in clean.checks if c.findings]
    compared = [c for c in clean.checks if c.kind != "reference" and not c.note and not c.skipped]
    assert {c.name for c in compared} >= {
        "project.employee_copies <- employee.employees",
        "project.assignments {employee_name, employee_active} <- employee.employees",
    }

    copies = hrms["project"].service.metadata.tables["employee_copies"]
    assignments = hrms["project"].service.metadata.tables["assignments"]
    await _write(hrms, "project", update(copies).where(copies.c.id == ada).values(full_name="Not Ada"))
    await _write(
        hrms, "project", update(assignments).where(assignments.c.employee_id == bob).values(employee_name="Nobody")
    )
    assert (await _audit(hrms)).findings == 0, "the versions agree: only the values tell"
    report = await audit(hrms.system, dbs, values=True)
    found = _found(report)
    denormalized = "project.assignments {employee_name, employee_active} <- employee.employees"
    assert found[("project.employee_copies <- employee.employees", "differs")] == {str(ada)}
    assert found[(denormalized, "differs")] == {str(bob)}
    [differs] = [f for c in report.checks for f in c.samples if f.key == str(ada) and f.kind == "differs"]
    assert differs.detail == "full_name: copy 'Not Ada', owner 'Ada Lovelace'"
    assert report.findings == 2

    published = await _events_of(hrms, "employee", outbox_table, ada)
    done = await repair(hrms.system, dbs, report)
    assert sorted((r.check, r.resent) for r in done) == [
        (denormalized, 1),
        ("project.employee_copies <- employee.employees", 1),
    ]
    await hrms.settle()
    after = await audit(hrms.system, dbs, values=True)
    assert after.findings == 0, [(c.name, c.samples) for c in after.checks if c.findings]
    async with hrms["project"].db.read_session(tenant=ACROSS_TENANTS) as session:
        assert await session.scalar(select(copies.c.full_name).where(copies.c.id == ada)) == "Ada Lovelace"
        names = set(
            (await session.scalars(select(assignments.c.employee_name).where(assignments.c.employee_id == bob))).all()
        )
    assert names == {"Bob Bit"}
    resent = [e for e in await _events_of(hrms, "employee", outbox_table, ada) if e not in published]
    inbox = {event_id for event_id, _v in await _events_of(hrms, "project", inbox_table, ada)}
    assert resent
    assert {event_id for event_id, _v in resent} <= inbox, "mended through the project's inbox"
    assert await repair(hrms.system, dbs, after) == []

    # A denormalized column behind its owner's version: stale (and mended alike).
    await _write(
        hrms,
        "project",
        update(assignments)
        .where(assignments.c.employee_id == bob)
        .values(employee_version=assignments.c.employee_version - 1),
    )
    stale = await _audit(hrms, settle=0.2)
    assert _found(stale) == {(denormalized, "stale"): {str(bob)}}
    await repair(hrms.system, dbs, stale)
    await hrms.settle()
    assert (await _audit(hrms)).findings == 0


async def test_consumer_lag_and_the_failed_processing_rate_from_the_kernel_tables(
    api: httpx.AsyncClient, hrms: SystemRuntime
) -> None:
    """The pipeline part reads, per consuming service, the events its publishers
    published in the window that its inbox does not hold (consumer lag), and the part of
    what it took that it parked (failed-processing rate)."""
    await _people(api, hrms)
    report = await _audit(hrms)
    project = next(p for p in report.pipeline if p.service == "project")
    assert project.consumer_lag == {}
    assert project.consumed_in_window > 0
    assert project.failure_rate == 0.0

    # An event the employee service published half a minute ago that no consumer took.
    now = utcnow()
    await _write(
        hrms,
        "employee",
        insert(outbox_table).values(
            event_id=uuid.uuid4(),
            event_type="employee.EmployeeUpdated",
            aggregate_type="employee",
            aggregate_id=str(uuid.uuid4()),
            aggregate_version=1,
            tenant_id="",
            payload="{}",
            created_at=now - timedelta(seconds=31),
            published_at=now - timedelta(seconds=30),
        ),
    )
    # And one the project service parked.
    await _write(
        hrms,
        "project",
        insert(dead_letters_table).values(
            id=uuid.uuid4(),
            event_id=uuid.uuid4(),
            event_type="employee.EmployeeUpdated",
            aggregate_id=str(uuid.uuid4()),
            aggregate_version=2,
            payload="{}",
            error="boom",
            traceback="",
            attempts=5,
            first_failed_at=now,
            created_at=now,
        ),
    )
    report = await _audit(hrms)
    by = {p.service: p for p in report.pipeline}
    for consumer in ("project", "leave", "notification"):
        assert by[consumer].consumer_lag == {"employee": 1}, consumer
        assert by[consumer].consumer_lag_seconds >= 29
    assert by["employee"].consumer_lag == {}, "it does not handle its own EmployeeUpdated"
    assert by["project"].failed_in_window == 1
    assert by["project"].failure_rate == 1 / by["project"].consumed_in_window
    body = report.to_json()
    [p] = [p for p in body["pipeline"] if p["service"] == "project"]
    assert p["consumer_lag"] == {"employee": 1}
    assert p["failure_rate"] > 0
