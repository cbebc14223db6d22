"""Fault tests in production shape: real `isles serve` processes, real PostgreSQL, a
real NATS JetStream server, a steady stream of writes — and things killed under it.

After each fault, the databases are compared row by row: every event the employee
service committed is applied by the project service exactly once (its inbox holds
each id once), every assignment carries its employee's current name and version,
and the dead-letter table holds only what was meant to fail.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.hrms.cluster import Cluster, Driver, Verdict, converge
from tests.support import require_nats, require_postgres

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]

STREAM_SECONDS = 6.0


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    require_postgres()
    require_nats()
    c = Cluster(tmp_path)
    await c.start()
    try:
        yield c
    finally:
        await c.stop()


def assert_exactly_once(v: Verdict, *, parked: set[str] | None = None) -> None:
    dead = {str(d["event_id"]) for d in v.dead}
    assert dead == (parked or set()), f"unexpected dead letters: {[dict(d) for d in v.dead]}"
    assert v.applied | dead == v.published, "every committed event reached the project service"
    assert v.applied <= v.published, "nothing applied that was not committed"
    assert not v.stale, f"stale names: {v.stale[:5]}"
    assert not v.versions_behind, f"versions behind: {v.versions_behind[:5]}"


async def stream_with_fault(cluster: Cluster, fault: object, renames: int = 0) -> tuple[Driver, Verdict]:
    driver = Driver(cluster)
    async with httpx.AsyncClient(timeout=30, headers=cluster.headers) as client:
        await driver.setup(client)
        await asyncio.gather(driver.run(client, STREAM_SECONDS, renames=renames), fault)  # type: ignore[arg-type]
    v = await converge(cluster)
    return driver, v


async def test_kill_9_of_the_consuming_service_mid_stream(cluster: Cluster) -> None:
    # Slow handlers (20 ms per replica update) so that many events are in hand at the kill.
    await cluster.execute(
        "project",
        """CREATE FUNCTION slow() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(0.02); RETURN NEW; END $$
             LANGUAGE plpgsql;
           CREATE TRIGGER slow BEFORE UPDATE ON employee_copies FOR EACH ROW EXECUTE FUNCTION slow();""",
    )

    async def fault() -> None:
        await asyncio.sleep(2)
        cluster["project"].kill()  # mid-handler, mid-ack, relay mid-batch
        await asyncio.sleep(1)
        await cluster.restart("project")

    driver, v = await stream_with_fault(cluster, fault(), renames=51)  # the stream goes on until 51
    assert_exactly_once(v)
    assert driver.tally.renames_ok > 50
    assert driver.tally.refused > 0, "the kill was felt by the writers"
    assert driver.tally.assignments_ok <= v.assignments <= driver.tally.assignments_ok + driver.tally.ambiguous


async def test_kill_9_of_the_publishing_service_mid_stream(cluster: Cluster) -> None:
    async def fault() -> None:
        await asyncio.sleep(2)
        cluster["employee"].kill()  # commits in the outbox, some claimed, some published but not marked
        await asyncio.sleep(1)
        await cluster.restart("employee")

    driver, v = await stream_with_fault(cluster, fault())
    assert_exactly_once(v)
    assert driver.tally.refused > 0
    assert len(v.published) >= driver.tally.renames_ok + 8


async def test_nats_killed_and_restarted_mid_stream(cluster: Cluster) -> None:
    seen: dict[str, int] = {}

    async def fault() -> None:
        await asyncio.sleep(2)
        cluster.nats.kill()
        await asyncio.sleep(1)  # the services go on taking writes: they wait in the outboxes
        async with httpx.AsyncClient(timeout=30, headers=cluster.headers) as client:
            seen["ready"] = (await client.get(f"{cluster['project'].url}/ready")).status_code
            seen["health"] = (await client.get(f"{cluster['project'].url}/health")).status_code
        await asyncio.sleep(1)
        cluster.nats.start()

    driver, v = await stream_with_fault(cluster, fault())
    assert_exactly_once(v)
    assert driver.tally.refused == 0, "the APIs took writes while the bus was down"
    assert seen == {"ready": 503, "health": 200}, "not ready without the bus, but alive"
    assert len(v.published) >= driver.tally.renames_ok + 8


async def test_handler_failing_for_a_while_recovers_and_only_the_poisoned_events_are_parked(
    cluster: Cluster,
) -> None:
    driver = Driver(cluster)
    async with httpx.AsyncClient(timeout=30, headers=cluster.headers) as client:
        await driver.setup(client)
        poisoned = driver.employees[0]
        driver.employees.remove(poisoned)  # the stream leaves it alone
        await converge(cluster)
        # A fault meant to stay: every change to this employee's copy fails.
        await cluster.execute(
            "project",
            f"""CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN
                  RAISE EXCEPTION 'injected: employee copy % is poisoned', NEW.id; END $$ LANGUAGE plpgsql;
                CREATE TRIGGER poison BEFORE UPDATE ON employee_copies FOR EACH ROW
                  WHEN (NEW.id = '{poisoned}') EXECUTE FUNCTION poison();""",
        )
        await driver.rename(client, poisoned)

        async def transient() -> None:
            await asyncio.sleep(1.5)
            # A fault that passes: every replica update fails for 3 s.
            await cluster.execute(
                "project",
                """CREATE FUNCTION outage() RETURNS trigger AS $$ BEGIN
                     RAISE EXCEPTION 'injected: replica store unavailable'; END $$ LANGUAGE plpgsql;
                   CREATE TRIGGER outage BEFORE UPDATE ON employee_copies FOR EACH ROW EXECUTE FUNCTION outage();""",
            )
            await asyncio.sleep(3)
            await cluster.query("project", "DROP TRIGGER outage ON employee_copies")

        await asyncio.gather(driver.run(client, STREAM_SECONDS), transient())
    v = await converge(cluster, timeout=90, ignore={poisoned})
    parked = {str(d["event_id"]) for d in v.dead}
    assert parked, "the poisoned employee's rename was parked"
    assert {str(d["aggregate_id"]) for d in v.dead} == {poisoned}, "only what was meant to fail"
    assert all("poisoned" in d["error"] for d in v.dead)
    assert_exactly_once(v, parked=parked)
    async with httpx.AsyncClient(timeout=30, headers=cluster.headers) as client:
        metrics = (await client.get(f"{cluster['project'].url}/metrics")).text
    failures = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("isles_handler_failures_total{")
    )
    assert failures > len(parked), "the transient outage made handlers fail and retry"

    # The operator heals the fault and retries the parked events.
    await cluster.query("project", "DROP TRIGGER poison ON employee_copies")
    retry = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "isles.cli", "dlq", "retry", "--service", "project", "--all", "--database-url", cluster.template),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await retry.communicate()
    assert retry.returncode == 0, output.decode()
    assert f"{len(parked)} applied, 0 failed again" in output.decode()
    v = await converge(cluster)
    assert_exactly_once(v)


async def test_sigterm_mid_stream_is_graceful_and_loses_nothing(cluster: Cluster) -> None:
    codes: list[int] = []

    async def fault() -> None:
        await asyncio.sleep(2)
        codes.append(await asyncio.to_thread(cluster["project"].terminate))
        await cluster.restart("project")

    _, v = await stream_with_fault(cluster, fault())
    assert codes == [0], "SIGTERM ends the service with exit code 0"
    assert_exactly_once(v)


async def test_the_orchestrator_killed_mid_saga_finishes_it_across_processes_after_a_restart(
    tmp_path: Path,
) -> None:
    """The employee process dies right after the auth service created the user (its
    answer not yet written); the client's retry after the restart gets the hire, made
    once in each database, and the event reaches the company and project processes."""
    require_postgres()
    require_nats()
    point = "saga.employee.CreateEmployee.create_user.after"
    cluster = Cluster(tmp_path, service_env={"employee": {"ISLES_FAILPOINTS": f"{point}=kill"}})
    await cluster.start()
    try:
        async with httpx.AsyncClient(timeout=30, headers=cluster.headers) as client:
            r = await client.post(f"{cluster['company'].url}/api/company/companies", json={"name": "Across"})
            company = r.json()["id"]
            body = {
                "employee_number": "X-1",
                "company_id": company,
                "first_name": "Mae",
                "last_name": "Jemison",
                "email": "mae@example.com",
                "hire_date": "2024-02-01",
            }
            hire = f"{cluster['employee'].url}/api/employee/employees"
            key = {"Idempotency-Key": "hire-mae"}
            with pytest.raises(httpx.TransportError):
                await client.post(hire, json=body, headers=key)
            process = cluster["employee"].proc
            assert process is not None
            assert await asyncio.to_thread(process.wait, 30) == -9, "killed at the failpoint"
            del cluster["employee"].env["ISLES_FAILPOINTS"]
            await cluster.restart("employee")
            r = await client.post(hire, json=body, headers=key)
            assert r.status_code == 201, r.text
            employee = r.json()
        users = await cluster.query("auth", "SELECT id FROM users WHERE email = 'mae@example.com'")
        assert [str(u["id"]) for u in users] == [employee["user_id"]]
        saga = await cluster.query("employee", "SELECT status FROM isles_sagas")
        assert [s["status"] for s in saga] == ["completed"]
        steps = await cluster.query("employee", "SELECT name, attempts FROM isles_saga_steps ORDER BY position")
        assert {s["name"]: s["attempts"] for s in steps}["create_user"] == 2, "its answer was lost once"
        for _ in range(100):
            counts = await cluster.query("company", "SELECT headcount FROM companies")
            if counts[0]["headcount"]:
                break
            await asyncio.sleep(0.1)
        assert [c["headcount"] for c in counts] == [1], "counted once, from EmployeeCreated"
        for _ in range(100):
            copies = await cluster.query("project", "SELECT full_name FROM employee_copies")
            if copies:
                break
            await asyncio.sleep(0.1)
        assert [c["full_name"] for c in copies] == ["Mae Jemison"], "EmployeeCreated went out once, over NATS"
    finally:
        await cluster.stop()
