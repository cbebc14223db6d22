"""``isles reconcile`` (issue 21): the project service restored to a backup taken
before a rename, a hire and an assignment; reconcile gives it, from the employee
service's outbox, every event its restored inbox lacks (applied through its own
consumer, idempotently: a second run applies nothing) and reports the assignment it
published since, which the notification service applied and its outbox no longer
holds. The audit finds the copies stale before, and clean after. SQLite and
PostgreSQL; the command's text, JSON and exit codes."""

from __future__ import annotations

import asyncio
import json
import shlex
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from isles.cli.main import app
from isles.runtime.system import SystemRuntime
from isles.service.audit import audit, repair
from isles.storage.db import ServiceDatabase
from isles.storage.schema import inbox_table, outbox_table
from isles.tools.backup import backup, restore
from isles.tools.reconcile import consumed, reconcile
from tests.hrms.helpers import assign, new_employee, new_project, ok
from tests.support import PG_SERVER, Backend, drop_in_background

pytestmark = pytest.mark.integration


async def _ids(db: ServiceDatabase, column: Any, *where: Any) -> set[str]:
    async with db.reading() as conn:
        return {str(v) for v in (await conn.execute(select(column).where(*where))).scalars()}


def _copy_findings(report: Any) -> dict[tuple[str, str], int]:
    return {(c.name, k): n for c in report.checks if c.kind != "reference" for k, n in c.counts.items()}


async def _restore_project(hrms: SystemRuntime, backend: Backend, folder: Path) -> SystemRuntime:
    """The system stopped, the project's database put back as the backup has it, and a
    runtime over the same databases (not started: nothing consumes meanwhile)."""
    await hrms.stop()
    [result] = await restore(folder, {"project": hrms["project"].db.url}, services=["project"], force=True)
    assert result.ok, result.problems
    return SystemRuntime(hrms.system, backend.settings, environ={})


async def test_a_restored_service_gets_what_it_missed_and_hears_what_it_lost(
    api: httpx.AsyncClient, hrms: SystemRuntime, backend: Backend, tmp_path: Path
) -> None:
    ada = await new_employee(api, "Ada", "Lovelace")
    company = ada["company_id"]
    bob = await new_employee(api, "Bob", "Byte", company_id=company)
    project = await new_project(api, company_id=company)
    ok(await assign(api, bob, project), 201)
    await hrms.settle()
    manifest = await backup(hrms.system, {"project": hrms["project"].db}, tmp_path / "b", services=["project"])

    # After the backup: a rename and a hire (the employee's events the project copies),
    # and an assignment (the project's event the notification service applies).
    ok(await api.patch(f"/api/employee/employees/{ada['id']}", json={"last_name": "Byron"}))
    carl = await new_employee(api, "Carl", "Gauss", company_id=company)
    assigned = ok(await assign(api, carl, project), 201)
    await hrms.settle()
    employee_events = consumed(hrms.system, "project")["employee"]
    emitted = await _ids(hrms["employee"].db, outbox_table.c.event_id, outbox_table.c.event_type.in_(employee_events))
    notified = await _ids(hrms["notification"].db, inbox_table.c.event_id, inbox_table.c.source == "/isles/project")

    rt = await _restore_project(hrms, backend, manifest.folder)
    try:
        dbs = {n: s.db for n, s in rt.services.items()}
        held = await _ids(dbs["project"], inbox_table.c.event_id)
        behind = emitted - held
        assert behind, "the restored project's inbox lacks the events after the backup"
        before = _copy_findings(await audit(rt.system, dbs, settle=0))
        assert before, "the restored copies are behind their owner"
        assert set(before.values())
        assert all(k in ("stale", "missing") for _n, k in before)

        # A dry run counts and applies nothing.
        dry = await reconcile(rt.system, dbs, "project")
        assert dry.dry_run
        assert sum(dry.missed.values()) == len(behind)
        assert await _ids(dbs["project"], inbox_table.c.event_id) == held

        report = await reconcile(rt.system, dbs, "project", consumer=rt["project"].consumer)
        assert sum(report.missed.values()) == len(behind)
        assert report.applied == len(behind)
        assert report.parked == report.not_applied == 0
        assert {p for p, _t in report.missed} == {"employee"}
        # Every event the employee still holds is in the project's inbox now.
        assert emitted <= await _ids(dbs["project"], inbox_table.c.event_id)
        # The project's own event after the backup: applied by the notification service,
        # gone from the restored outbox: lost, with its aggregate.
        outbox = await _ids(dbs["project"], outbox_table.c.event_id)
        lost = notified - outbox
        assert lost, "the notification service applied the project's assignment"
        assert sum(report.lost.values()) >= len(lost)
        assert report.lost[("notification", "project.AssignmentCreated")] >= 1
        assert str(assigned["id"]) in report.lost_aggregates["project.AssignmentCreated"]
        assert {e.event_id for e in report.lost_samples} >= lost
        assert report.findings  # lost state is for people to look at
        # The copies are whole again.
        after = await audit(rt.system, dbs, settle=0)
        assert _copy_findings(after) == {}
        assert sum(c.checked for c in after.checks) > 0

        # Idempotent: nothing missed the second time, the loss still said.
        again = await reconcile(rt.system, dbs, "project", consumer=rt["project"].consumer)
        assert sum(again.missed.values()) == again.applied == 0
        assert again.lost == report.lost
        # Inside a running system: its consumer is used and left running.
        await rt.start()
        live = await reconcile(rt.system, dbs, "project", consumer=rt["project"].consumer)
        assert sum(live.missed.values()) == 0
        assert rt["project"].consumer is not None
        assert rt["project"].consumer.running, "a running consumer is left running"
    finally:
        await rt.stop()


async def test_the_command_reconciles_and_says_so(
    api: httpx.AsyncClient, hrms: SystemRuntime, backend: Backend, tmp_path: Path
) -> None:
    ada = await new_employee(api, "Ada", "Lovelace")
    await hrms.settle()
    manifest = await backup(hrms.system, {"project": hrms["project"].db}, tmp_path / "b", services=["project"])
    ok(await api.patch(f"/api/employee/employees/{ada['id']}", json={"last_name": "Byron"}))
    await hrms.settle()
    await hrms.stop()  # the command restores over its databases
    where = (
        ["--database-url", backend.settings.database_url]
        if backend.settings.database_url
        else ["--data-dir", str(backend.settings.data_dir)]
    )

    def run(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(app, ["--system", "tests.hrms.cluster:core", *where, *args], env={"COLUMNS": "200"})
        return result.exit_code, result.output + repr(result.exception), result.stdout

    code, output, _ = await asyncio.to_thread(run, "restore", str(manifest.folder), "-s", "project", "--force")
    assert code == 0, output
    # the options this restore was given (a newcomer's trial pasted the hint, and it
    # reconciled the default data folder: an empty database made, "no such table")
    given = shlex.join(["--system", "tests.hrms.cluster:core", *where])
    assert f"next: isles reconcile project --backup {manifest.folder} {given}" in output, output
    code, output, stdout = await asyncio.to_thread(run, "reconcile", "project", "--dry-run", "--format", "json")
    assert code == 0, output
    body = json.loads(stdout)
    assert body["dry_run"] is True
    assert {(m["producer"], m["event_type"]) for m in body["missed"]} == {("employee", "employee.EmployeeUpdated")}
    code, output, stdout = await asyncio.to_thread(
        run, "reconcile", "project", "--backup", str(manifest.folder), "--dry-run", "--format", "json"
    )
    assert code == 0, output
    assert json.loads(stdout)["since"] == manifest["project"].started_at  # the snapshot's time
    code, output, _ = await asyncio.to_thread(run, "reconcile", "project")
    assert code == 0, output
    assert "employee employee.EmployeeUpdated: 1" in output
    assert "applied 1, parked 0" in output
    code, output, _ = await asyncio.to_thread(run, "reconcile", "project")
    assert code == 0, output
    assert "missed: none" in output, output
    # Bad input: an unknown service, a time that is not one.
    code, output, _ = await asyncio.to_thread(run, "reconcile", "nosuch")
    assert code == 2, output
    assert "no service 'nosuch'" in output, output
    code, output, _ = await asyncio.to_thread(run, "reconcile", "project", "--since", "yesterday")
    assert code == 2, output
    assert "--since: 'yesterday' is not an ISO 8601 time" in output, output
    code, output, _ = await asyncio.to_thread(run, "reconcile", "project", "--backup", str(tmp_path))
    assert code == 2, output
    assert f"{tmp_path / 'manifest.json'}: missing (not a finished backup folder)" in output, output
    code, output, _ = await asyncio.to_thread(run, "restore", str(manifest.folder), "--verify", "--force")
    assert code == 2, output
    assert "--verify restores into scratch databases: give one" in output, output

    # Restored into new databases without its peers (a newcomer's trial: the hint said
    # to reconcile there, which failed on the peers' missing databases): the hint says
    # to restore them too, with the options given.
    if backend.settings.database_url:
        elsewhere = ["--database-url", f"{PG_SERVER}/isles_t_{uuid.uuid4().hex[:12]}_{{service}}"]
    else:
        elsewhere = ["--data-dir", str(tmp_path / "elsewhere")]
    argv = ["--system", "tests.hrms.cluster:core", *elsewhere, "restore", str(manifest.folder), "-s", "project"]
    try:
        alone = await asyncio.to_thread(CliRunner().invoke, app, argv, env={"COLUMNS": "250"})
        assert alone.exit_code == 0, alone.output
        said = alone.output.replace("\n", "")
        assert "next: auth, company, employee, notification have no database here" in said, alone.output
        # the backup holds the project service only: no restore of the others is offered
        assert "this backup holds none of auth, company, employee, notification" in said, alone.output
        assert "isles restore" not in said
        assert "next: isles reconcile" not in said
    finally:
        if backend.settings.database_url:
            drop_in_background(elsewhere[1].replace("{service}", "project"))


async def test_an_owner_restored_behind_its_copies_is_reported_and_its_copies_found_ahead_then_repaired(
    api: httpx.AsyncClient, hrms: SystemRuntime, backend: Backend, tmp_path: Path
) -> None:
    """The employee service (an owner) restored to a backup taken before a rename: the
    peers' copies hold the rename (a version the owner no longer has). Reconcile
    reports the rename as lost; the audit finds those copies ``ahead``; the repair
    brings the owner's row up to their version and re-publishes its state, which the
    copies take, and so the owner's next change too."""
    ada = await new_employee(api, "Ada", "Lovelace")
    bob = await new_employee(api, "Bob", "Byte", company_id=ada["company_id"])
    ok(await assign(api, bob, await new_project(api, company_id=ada["company_id"])), 201)
    await hrms.settle()
    manifest = await backup(hrms.system, {"employee": hrms["employee"].db}, tmp_path / "b", services=["employee"])
    ok(await api.patch(f"/api/employee/employees/{bob['id']}", json={"last_name": "Renamed"}))
    await hrms.settle()

    await hrms.stop()
    [result] = await restore(manifest.folder, {"employee": hrms["employee"].db.url}, services=["employee"], force=True)
    assert result.ok, result.problems
    rt = SystemRuntime(hrms.system, backend.settings, environ={})
    try:
        dbs = {n: s.db for n, s in rt.services.items()}
        report = await reconcile(rt.system, dbs, "employee")
        assert report.lost[("project", "employee.EmployeeUpdated")] >= 1
        assert report.lost_aggregates["employee.EmployeeUpdated"] == {bob["id"]}

        found = await audit(rt.system, dbs, settle=0)
        ahead = {(c.name, f.key) for c in found.checks for f in c.samples if f.kind == "ahead"}
        assert ("project.employee_copies <- employee.employees", bob["id"]) in ahead, ahead
        assert {k for _n, k in ahead} == {bob["id"]}
        assert all(k == "ahead" for _n, k in _copy_findings(found)), _copy_findings(found)

        await rt.start()
        repairs = await repair(rt.system, dbs, found)
        assert any("brought up to their copies' version" in r.note for r in repairs), repairs
        await rt.settle()
        assert _copy_findings(await audit(rt.system, dbs, settle=0)) == {}
        async with rt.client() as again:
            ok(await again.patch(f"/api/employee/employees/{bob['id']}", json={"last_name": "Later"}))
        await rt.settle()
        copies = rt["project"].service.metadata.tables["employee_copies"]
        async with dbs["project"].reading() as conn:
            names = (await conn.execute(select(copies.c.full_name).where(copies.c.id == uuid.UUID(bob["id"])))).all()
        assert [r[0] for r in names] == ["Bob Later"]
    finally:
        await rt.stop()


def test_reconcile_of_a_database_that_is_not_there_is_one_line_and_creates_none(tmp_path: Path) -> None:
    empty = tmp_path / "nothing-here"
    result = CliRunner().invoke(
        app, ["--system", "tests.hrms.cluster:core", "--data-dir", str(empty), "reconcile", "project"]
    )
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "no database at" in lines[0]
    assert "--data-dir" in lines[0]
    assert not empty.exists() or not list(empty.iterdir()), "nothing was created"
