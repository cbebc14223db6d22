"""``isles audit`` against a system running as processes: every core service an
``isles serve`` process on its own PostgreSQL database, over a NATS of its own
(:class:`tests.hrms.cluster.Cluster`), and the command run as an operator would, a
subprocess on those databases (``--format json``).

One cluster for the module, the tests in order: a clean system reports nothing; under
a stream of writes, changes in flight are not reported as stale or missing copies;
copies broken behind the platform's back with SQL (rolled back, dropped), an owner row
deleted and an event parked are each found with their ids; ``--repair`` has the owner
re-publish the rows, the running relays deliver them, the copies come clean (the orphan,
the extra copies and the dead letter stay: report-only) and a second repair re-sends
nothing. Last, the project service restored to an earlier backup and reconciled
(``isles reconcile``) while the others run on NATS. A test that needs the breakage
makes it itself when it runs alone (``-k``, or on another pytest-xdist worker, which
then starts a cluster of its own).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from isles.storage.db import connect_waiting
from tests.hrms.cluster import Cluster, Driver, converge
from tests.support import require_nats, require_postgres

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats, pytest.mark.asyncio(loop_scope="module")]

ROOT = Path(__file__).resolve().parents[2]

# The declarations' names, as the audit reports them.
ORPHANS = "project.assignments.employee_id -> employee.employees"
DENORMALIZED = "project.assignments {employee_name, employee_active} <- employee.employees"
PROJECT_COPIES = "project.employee_copies <- employee.employees"
COMPANY_COPIES = "company.employee_copies <- employee.employees"


@dataclass
class World:
    cluster: Cluster
    driver: Driver
    broken: dict[str, str] = field(default_factory=dict)  # what the break test did: role -> employee id


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    require_postgres()
    require_nats()
    # Small pools: PostgreSQL's 100 connections are shared with the other tests' clusters.
    small = {"ISLES_POOL_SIZE": "3", "ISLES_POOL_MAX_OVERFLOW": "3"}
    cluster = Cluster(tmp_path_factory.mktemp("auditproc"), extra_env=small)
    await cluster.start()
    try:
        driver = Driver(cluster)
        async with httpx.AsyncClient(timeout=30, headers=cluster.headers) as client:
            await driver.setup(client)
            for _ in range(len(driver.employees) * len(driver.projects)):  # every employee assigned
                await driver.new_assignment(client)
        await converge(cluster)
        yield World(cluster, driver)
    finally:
        await cluster.stop()


async def start_audit(cluster: Cluster, *args: str) -> asyncio.subprocess.Process:
    """``isles --system tests.hrms.cluster:core --database-url <template> audit --format json ARGS``
    as a process of its own (the event loop goes on meanwhile)."""
    env = {
        **os.environ,
        "ISLES_KEYS_DIR": str(cluster.keys),  # the employee's data key (a repair worked without it too)
        # A tool reads one query at a time: small pools (PostgreSQL's 100 connections are
        # shared with the other tests' clusters).
        "ISLES_POOL_SIZE": "1",
        "ISLES_POOL_MAX_OVERFLOW": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "isles.cli", "--system", "tests.hrms.cluster:core", "--database-url", cluster.template),
        *("audit", "--format", "json", *args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )


async def finish_audit(proc: asyncio.subprocess.Process, err: bytes = b"") -> tuple[int, dict[str, Any]]:
    out, rest = await proc.communicate()
    err += rest
    assert proc.returncode in (0, 1), f"audit exited {proc.returncode}:\n{out.decode()}\n{err.decode()}"
    return proc.returncode, json.loads(out)


async def run_audit(cluster: Cluster, *args: str) -> tuple[int, dict[str, Any]]:
    return await finish_audit(await start_audit(cluster, *args))


def found(body: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    """(declaration, kind) -> the ids found."""
    out: dict[tuple[str, str], set[str]] = {}
    for c in body["checks"]:
        for f in c["samples"]:
            out.setdefault((c["name"], f["kind"]), set()).add(f["key"])
    return out


def check(body: dict[str, Any], name: str) -> dict[str, Any]:
    named: list[dict[str, Any]] = [c for c in body["checks"] if c["name"] == name]
    assert len(named) == 1, name
    return named[0]


def pipeline(body: dict[str, Any], service: str) -> dict[str, Any]:
    named: list[dict[str, Any]] = [p for p in body["pipeline"] if p["service"] == service]
    assert len(named) == 1, service
    return named[0]


async def test_a_clean_system_reports_nothing(world: World) -> None:
    code, body = await run_audit(world.cluster, "--settle", "0")
    assert (code, body["findings"]) == (0, 0), found(body)
    assert check(body, PROJECT_COPIES)["checked"] >= len(world.driver.employees)
    assert check(body, DENORMALIZED)["checked"] >= len(world.driver.employees)
    assert check(body, ORPHANS)["checked"] >= len(world.driver.employees)
    assert check(body, COMPANY_COPIES)["checked"] >= len(world.driver.employees)
    assert all(p["findings"] == 0 for p in body["pipeline"])


async def test_changes_in_flight_under_write_load_are_not_findings(world: World) -> None:
    """While renames and new assignments stream in, the copies are behind now and then;
    after ``--settle 3`` only a copy still behind the owner's first-look version would
    be reported: none is."""
    cluster, driver = world.cluster, world.driver
    # --only matches the checks' names as the report shows them.
    copies = ("--only", DENORMALIZED, "--only", PROJECT_COPIES)
    # Slower handlers (50 ms a copy's update) so that copies are behind at times.
    await cluster.execute(
        "project",
        """CREATE FUNCTION slow() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(0.05); RETURN NEW; END $$
             LANGUAGE plpgsql;
           CREATE TRIGGER slow BEFORE UPDATE ON employee_copies FOR EACH ROW EXECUTE FUNCTION slow();""",
    )

    async def audit_after(delay: float) -> dict[str, Any]:
        await asyncio.sleep(delay)
        _code, body = await run_audit(cluster, "--settle", "3", *copies)
        return body

    async with httpx.AsyncClient(timeout=30, headers=cluster.headers) as client:
        # Three audits, their first looks at different moments of the stream; the stream
        # (8 s at least) goes on until they are done, so that each looks under load
        # however long its process takes to start.
        audits = asyncio.gather(*(audit_after(d) for d in (0.5, 2.0, 3.5)))
        try:
            await driver.run(client, 8.0, writers=3, renames=31)
            deadline = time.monotonic() + 30
            while not audits.done() and time.monotonic() < deadline:
                await driver.run(client, 0.5, writers=3)
            reports = list(await audits)
        finally:
            if not audits.done():
                audits.cancel()
            await cluster.execute("project", "DROP TRIGGER slow ON employee_copies; DROP FUNCTION slow();")
    assert driver.tally.renames_ok > 30, driver.tally
    assert driver.tally.refused == driver.tally.ambiguous == 0, driver.tally
    for body in reports:
        assert {c["name"] for c in body["checks"]} == {DENORMALIZED, PROJECT_COPIES}
        for c in body["checks"]:
            assert c["checked"] > 0
            assert c["counts"] == {}, (c["name"], c["samples"])
    await converge(cluster)

    # Under load, whether a first look finds a copy behind is up to timing. Here for
    # certain: the project's copies are locked against writes (readers go on), a rename
    # goes through the employee service, the audit's first look finds the copies behind,
    # the lock goes within the settle time, the consumer applies the change: no finding,
    # and the audit did wait out its settle.

    lock = await connect_waiting(cluster.dsn("project"))
    try:
        tx = lock.transaction()
        await tx.start()
        await lock.execute("LOCK TABLE employee_copies, assignments IN SHARE MODE")
        async with httpx.AsyncClient(timeout=30, headers=cluster.headers) as client:
            await driver.rename(client, driver.employees[0])
        await asyncio.sleep(1.0)  # the event reaches the project's consumer, which waits on the lock
        proc = await start_audit(cluster, "--settle", "4", *copies)
        # The lock goes once the audit says (on stderr) that its first look found copies
        # behind and it is waiting out the settle: however long its process took to start.
        assert proc.stderr is not None
        said = b""
        while b"behind on the first look" not in said:
            line = await asyncio.wait_for(proc.stderr.readline(), 90)
            assert line, f"the audit ended without finding the copies behind: {said.decode()}"
            said += line
        await tx.rollback()
        _code, body = await finish_audit(proc, said)
    finally:
        await lock.close()
    assert body["seconds"] >= 4, "the audit waited out its settle"
    for c in body["checks"]:
        assert c["counts"] == {}, (c["name"], c["samples"])
    await converge(cluster)


async def test_each_kind_of_breakage_is_found_with_its_ids(world: World) -> None:
    cluster, driver = world.cluster, world.driver
    await converge(cluster)
    rolled, stale, dropped, deleted = driver.employees[:4]
    # The writers of the load test leave them alone from now on.
    driver.employees.remove(deleted)
    # (a) copies rolled back: the assignments' denormalized version of one employee, the
    # project's copy of another.
    await cluster.execute(
        "project", f"UPDATE assignments SET employee_version = employee_version - 1 WHERE employee_id = '{rolled}'"
    )
    await cluster.execute("project", f"UPDATE employee_copies SET version = version - 1 WHERE id = '{stale}'")
    # (b) a replica row dropped, in the project's and the company's copies.
    await cluster.execute("project", f"DELETE FROM employee_copies WHERE id = '{dropped}'")
    await cluster.execute("company", f"DELETE FROM employee_copies WHERE id = '{dropped}'")
    # (c) an owner row deleted behind the platform's back (as the admin: no row security):
    # the project's assignments of that employee now point nowhere.
    await cluster.execute("employee", f"DELETE FROM employees WHERE id = '{deleted}'")
    # (d) an event parked, as the kernel parks one.
    parked = uuid.uuid4()
    await cluster.execute(
        "project",
        "INSERT INTO isles_dead_letters (id, event_id, event_type, aggregate_id, aggregate_version, payload,"
        " error, traceback, attempts, first_failed_at, created_at)"
        f" VALUES ('{uuid.uuid4()}', '{parked}', 'employee.EmployeeUpdated', '{rolled}', 99, '{{}}',"
        " 'injected', '', 5, now(), now())",
    )
    world.broken = {"rolled": rolled, "stale": stale, "dropped": dropped, "deleted": deleted}

    code, body = await run_audit(cluster, "--settle", "0.5")
    assert code == 1
    ids = found(body)
    assert ids.pop((PROJECT_COPIES, "stale")) == {stale}
    assert ids.pop((PROJECT_COPIES, "missing")) == {dropped}
    assert ids.pop((COMPANY_COPIES, "missing")) == {dropped}
    assert ids.pop((DENORMALIZED, "stale")) == {rolled}
    # The deleted employee: an orphan wherever it is referenced (the assignments, and
    # the copies' own ids), an extra row in every copy of the employees.
    assert ids.pop((ORPHANS, "orphan")) == {deleted}
    assert ids.pop((PROJECT_COPIES, "extra")) == {deleted}
    assert ids.pop((COMPANY_COPIES, "extra")) == {deleted}
    assert ids, "the other copies' references to the deleted employee"
    assert {kind for _name, kind in ids} <= {"orphan", "extra"}, ids
    assert all(keys == {deleted} for keys in ids.values()), ids
    [sample] = [f for f in check(body, PROJECT_COPIES)["samples"] if f["kind"] == "stale"]
    assert sample["held"] == sample["owner"] - 1
    assert pipeline(body, "project")["dead_letters"] == {"employee.EmployeeUpdated": 1}
    assert [p["service"] for p in body["pipeline"] if p["findings"]] == ["project"]
    assert body["findings"] == sum(c["findings"] for c in body["checks"]) + 1


async def test_a_rolled_back_denormalized_column_is_found_stale(world: World) -> None:
    if not world.broken:
        await test_each_kind_of_breakage_is_found_with_its_ids(world)
    _code, body = await run_audit(world.cluster, "--settle", "0", "--only", DENORMALIZED)
    [c] = body["checks"]
    assert c["name"] == DENORMALIZED
    assert c["checked"] >= len(world.driver.employees)
    assert found(body) == {(DENORMALIZED, "stale"): {world.broken["rolled"]}}


async def inbox_ids(cluster: Cluster) -> set[str]:
    return {str(r["event_id"]) for r in await cluster.query("project", "SELECT event_id FROM isles_inbox_events")}


async def test_repair_resends_through_the_running_relays_and_twice_sends_nothing(world: World) -> None:
    cluster = world.cluster
    if not world.broken:
        await test_each_kind_of_breakage_is_found_with_its_ids(world)
    b = world.broken
    before = await inbox_ids(cluster)
    outbox_before = {
        str(r["event_id"]) for r in await cluster.query("employee", "SELECT event_id FROM isles_outbox_events")
    }

    code, body = await run_audit(cluster, "--settle", "0", "--repair")
    assert code == 1
    repairs = {r["check"]: (r["keys"], r["resent"], r["note"]) for r in body["repairs"]}
    assert repairs == {PROJECT_COPIES: (2, 2, ""), COMPANY_COPIES: (1, 1, ""), DENORMALIZED: (1, 1, "")}
    repaired_keys = sum(r["keys"] for r in body["repairs"])

    # The employee service's relay publishes them, the project service applies them.
    deadline = time.monotonic() + 30
    while True:
        code, body = await run_audit(cluster, "--settle", "0")
        ids = found(body)
        left = {k: v for k, v in ids.items() if k[1] in ("stale", "missing")}
        if not left:
            break
        assert time.monotonic() < deadline, f"not repaired within 30 s: {left}"
        await asyncio.sleep(0.5)
    assert code == 1, "the orphan, the extra copies and the dead letter stay: report-only"
    assert ids[(ORPHANS, "orphan")] == {b["deleted"]}
    assert ids[(PROJECT_COPIES, "extra")] == {b["deleted"]}
    assert all(keys == {b["deleted"]} for keys in ids.values()), ids
    assert pipeline(body, "project")["dead_letters"] == {"employee.EmployeeUpdated": 1}

    # Through events: the re-published rows are new events of the employee's outbox,
    # each in the project's inbox.
    resent = {
        str(r["event_id"]): str(r["aggregate_id"])
        for r in await cluster.query("employee", "SELECT event_id, aggregate_id FROM isles_outbox_events")
        if str(r["event_id"]) not in outbox_before
    }
    assert set(resent.values()) == {b["stale"], b["dropped"], b["rolled"]}
    after = await inbox_ids(cluster)
    assert set(resent) <= after
    assert len(after - before) >= repaired_keys

    # Twice: nothing left to repair, nothing re-sent.
    code, body = await run_audit(cluster, "--settle", "0", "--repair")
    assert all(r["resent"] == 0 for r in body.get("repairs", [])), body["repairs"]
    assert await inbox_ids(cluster) == after


async def _caught_up(cluster: Cluster, events: set[str], timeout: float = 60.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not events <= await inbox_ids(cluster):
        assert time.monotonic() < deadline, f"the project did not take {events - await inbox_ids(cluster)}"
        await asyncio.sleep(0.25)


async def test_a_restored_service_is_reconciled_while_the_others_run_on_nats(world: World, tmp_path: Path) -> None:
    """The project's process stopped and its database restored to a backup taken before
    two renames and an assignment. The renames' deliveries to it were acknowledged on
    NATS before the restore, so no broker has them for it any more: ``isles reconcile
    project --backup`` applies them from the employee's outbox, and reports the
    assignment (the notification service applied it; the restored outbox lacks it).
    Restarted, the project takes the next rename from NATS as before; its copies of
    the renamed employees are the employee's rows."""
    from sqlalchemy.engine import make_url

    from isles.tools.backup import backup, restore
    from tests.hrms.cluster import core

    cluster, driver = world.cluster, world.driver
    url = make_url(cluster.template.replace("{service}", "project"))
    folder = (await backup(core(), {"project": url}, tmp_path / "b", services=["project"])).folder
    renamed = driver.employees[-2:]
    assigned = "SELECT event_id FROM isles_outbox_events WHERE event_type = 'project.AssignmentCreated'"
    assignments_before = {str(r["event_id"]) for r in await cluster.query("project", assigned)}
    async with httpx.AsyncClient(timeout=30, headers=cluster.headers) as client:
        for employee in renamed:
            await driver.rename(client, employee)
        for _ in range(5):  # the driver's writes give up after 5 s: on a loaded machine, again
            made = driver.tally.assignments_ok
            await driver.new_assignment(client)
            if driver.tally.assignments_ok > made:
                break
        assert driver.tally.assignments_ok > made, "no assignment made in five tries"
    # The assignment's event must have reached the notification service before the
    # project goes: one still in the project's outbox would be lost for everyone.
    deadline = time.monotonic() + 60
    while True:
        new = {str(r["event_id"]) for r in await cluster.query("project", assigned)} - assignments_before
        applied = {
            str(r["event_id"]) for r in await cluster.query("notification", "SELECT event_id FROM isles_inbox_events")
        }
        if new and new <= applied:
            break
        assert time.monotonic() < deadline, f"the notification did not take the assignment's event {new - applied}"
        await asyncio.sleep(0.25)
    after = {
        str(r["event_id"])
        for r in await cluster.query(
            "employee", "SELECT event_id FROM isles_outbox_events WHERE aggregate_id = ANY($1)", renamed
        )
    }
    await _caught_up(cluster, after)

    assert cluster["project"].terminate() == 0
    [restored] = await restore(folder, {"project": url}, services=["project"], force=True)
    assert restored.ok, restored.problems
    assert not after <= await inbox_ids(cluster), "the restored inbox lacks the renames"

    env = {
        **os.environ,
        "ISLES_KEYS_DIR": str(cluster.keys),
        "ISLES_POOL_SIZE": "1",
        "ISLES_POOL_MAX_OVERFLOW": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "isles.cli", "--system", "tests.hrms.cluster:core", "--database-url", cluster.template),
        *("reconcile", "project", "--backup", str(folder), "--format", "json"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 1, f"lost events are a finding:\n{out.decode()}\n{err.decode()}"
    body = json.loads(out)
    missed = {(m["producer"], m["event_type"]): m["events"] for m in body["missed"]}
    assert missed.get(("employee", "employee.EmployeeUpdated"), 0) >= len(renamed), missed
    assert body["applied"] == sum(missed.values())
    assert body["parked"] == body["not_applied"] == 0
    lost = {(m["peer"], m["event_type"]) for m in body["lost"]}
    assert ("notification", "project.AssignmentCreated") in lost, body["lost"]
    assert after <= await inbox_ids(cluster)

    await cluster.restart("project")
    async with httpx.AsyncClient(timeout=30, headers=cluster.headers) as client:
        await driver.rename(client, renamed[-1])
    now = {
        str(r["event_id"])
        for r in await cluster.query(
            "employee", "SELECT event_id FROM isles_outbox_events WHERE aggregate_id = ANY($1)", renamed
        )
    }
    await _caught_up(cluster, now)
    owners = await cluster.query("employee", "SELECT id, version FROM employees WHERE id = ANY($1)", renamed)
    copies = await cluster.query("project", "SELECT id, version FROM employee_copies WHERE id = ANY($1)", renamed)
    assert {(str(r["id"]), r["version"]) for r in copies} == {(str(r["id"]), r["version"]) for r in owners}
