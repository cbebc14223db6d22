"""A NATS user per service (issue 16, finding 4): ``isles nats auth`` writes the
server's users from the system's declarations; with them a service publishes only its
own events and reads only the streams it consumes, through its own durable."""

from __future__ import annotations

import asyncio
import stat
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import ConsumerConfig
from typer.testing import CliRunner

from hrms.contracts.employee import EmployeeUpdated
from hrms.system import build as build_hrms
from isles.cli.main import app
from isles.core.events import Envelope
from isles.core.settings import NatsSettings
from isles.messaging.nats_bus import NatsBus
from isles.runtime.nats_auth import CONFIG_FILE, provision, users
from isles.runtime.system import event_owners
from isles.security.events import read
from tests.support import NatsServer

pytestmark = [pytest.mark.integration, pytest.mark.nats]

PREFIX = "isles"


@pytest.fixture
def auth_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "nats"
    provision(build_hrms(), PREFIX, folder)
    return folder


@pytest.fixture
def server(tmp_path: Path, auth_dir: Path) -> Iterator[NatsServer]:
    config = auth_dir / "server.conf"
    config.write_text(f"include {CONFIG_FILE}\n")
    with NatsServer(tmp_path / "store", config=config) as running:
        yield running


class Errors:
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def record(self, exc: Exception) -> None:
        self.seen.append(str(exc))


async def connect(server: NatsServer, auth_dir: Path, service: str, errors: Errors) -> Any:
    return await nats.connect(
        server.url,
        nkeys_seed=str(auth_dir / f"{service}.nk"),
        inbox_prefix=f"_INBOX_{service}",
        error_cb=errors.record,
        max_reconnect_attempts=0,
        connect_timeout=2,
    )


@pytest.fixture
async def clients(server: NatsServer, auth_dir: Path) -> AsyncIterator[dict[str, tuple[Any, Errors]]]:
    made = {}
    for service in ("employee", "project", "notification"):
        errors = Errors()
        made[service] = (await connect(server, auth_dir, service, errors), errors)
    yield made
    for nc, _ in made.values():
        await nc.close()


def test_the_permissions_follow_the_declarations() -> None:
    by_service = {u.service: u for u in users(build_hrms(), PREFIX)}
    project = by_service["project"]
    assert "isles.project.>" in project.publish
    assert not any(p.startswith("isles.employee") for p in project.publish)
    assert "$JS.API.CONSUMER.MSG.NEXT.ISLES_EMPLOYEE.project" in project.publish
    assert "$JS.API.STREAM.UPDATE.ISLES_EMPLOYEE" not in project.publish, "only the owner changes its stream"
    assert project.subscribe == ("_INBOX_project.>",)
    # notification consumes and publishes nothing of its own stream's owner
    assert "$JS.API.STREAM.UPDATE.ISLES_NOTIFICATION" not in by_service["notification"].publish


async def test_a_service_publishes_its_own_events_and_no_one_else_s(
    server: NatsServer, auth_dir: Path, clients: dict[str, tuple[Any, Errors]]
) -> None:
    employee, _ = clients["employee"]
    project, project_errors = clients["project"]
    js = employee.jetstream(timeout=3)
    await js.add_stream(name="ISLES_EMPLOYEE", subjects=["isles.employee.>"])
    await js.publish("isles.employee.employee_EmployeeUpdated", b"{}")

    # The project service's user cannot publish an employee event...
    with pytest.raises((NoRespondersError, NatsTimeout)):
        await project.jetstream(timeout=2).publish("isles.employee.employee_EmployeeUpdated", b"{}")
    await project.flush()
    await asyncio.sleep(0.2)
    assert any("permissions violation for publish" in e.lower() for e in project_errors.seen), project_errors.seen
    assert (await js.stream_info("ISLES_EMPLOYEE")).state.messages == 1
    # ... nor change the employee stream, nor read it through another service's durable ...
    pjs = project.jetstream(timeout=2)
    with pytest.raises((NoRespondersError, NatsTimeout)):
        await pjs.update_stream(name="ISLES_EMPLOYEE", subjects=["isles.>"])
    with pytest.raises((NoRespondersError, NatsTimeout)):
        await pjs.add_consumer("ISLES_EMPLOYEE", ConsumerConfig(durable_name="notification"))
    # ... nor listen to another service's replies.
    await project.subscribe("_INBOX_employee.>")
    await project.flush()
    await asyncio.sleep(0.2)
    assert any("permissions violation for subscription" in e.lower() for e in project_errors.seen), project_errors.seen
    # Through its own durable it reads what it consumes.
    await pjs.add_consumer("ISLES_EMPLOYEE", ConsumerConfig(durable_name="project"))
    sub = await pjs.pull_subscribe("isles.employee.>", durable="project", stream="ISLES_EMPLOYEE")
    (msg,) = await sub.fetch(1, timeout=3)
    await msg.ack()


async def test_without_a_key_nothing_connects(server: NatsServer) -> None:
    from nats.aio.client import Client

    client = Client()
    try:
        with pytest.raises(Exception, match=r"(?i)authorization"):
            await client.connect(server.url, max_reconnect_attempts=0, connect_timeout=2, allow_reconnect=False)
    finally:
        await client.close()  # nats-py leaves the refused connection's stream open otherwise


async def test_the_buses_of_two_services_carry_events_under_their_users(server: NatsServer, auth_dir: Path) -> None:
    owners = event_owners(build_hrms())

    def settings(service: str) -> NatsSettings:
        return NatsSettings(
            url=server.url,
            prefix=PREFIX,
            nkey_seed_file=auth_dir / f"{service}.nk",
            inbox_prefix=f"_INBOX_{service}",
            ack_wait=2.0,
        )

    got: list[Envelope] = []

    class Project:
        name = "project"

        def deliver(self, envelope: Envelope, delivery: int = 1) -> asyncio.Future[None]:
            got.append(envelope)
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done

    employee = NatsBus(settings("employee"), owners, max_deliveries=3, name="employee")
    employee.publishes_for("employee")
    project = NatsBus(settings("project"), owners, max_deliveries=3, name="project")
    project.subscribe(Project(), ["employee.EmployeeUpdated"])
    await employee.start()
    await project.start()
    try:
        await employee.wait_ready(10)
        await project.wait_ready(10)
        genuine = updated()
        await employee.publish(genuine)
        forged = updated()
        posing = NatsBus(settings("project"), owners, max_deliveries=3, name="project-posing")
        await posing.start()
        try:
            await posing.wait_ready(10)
            with pytest.raises(Exception):  # noqa: B017, PT011 - refused by the server, however nats-py words it
                await posing.publish(forged)
        finally:
            await posing.stop()
        async with asyncio.timeout(10):
            while not got:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        assert [e.id for e in got] == [genuine.id]
    finally:
        await project.stop()
        await employee.stop()


def updated() -> Envelope:
    event = EmployeeUpdated(
        id=uuid.uuid4(), first_name="Ada", last_name="L", email="ada@example.com", is_active=True, changes=[]
    )
    return Envelope.new(
        event, source="/isles/employee", aggregate_type="employee", aggregate_id=str(event.id), aggregate_version=1
    )


def test_the_command_keeps_seeds_and_rotates_on_demand(tmp_path: Path) -> None:
    folder = tmp_path / "nats"
    runner = CliRunner()
    args = ["--system", "hrms.system:build", "nats", "auth", "--dir", str(folder)]
    first = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert first.exit_code == 0, first.output
    seed = (folder / "employee.nk").read_text()
    assert stat.S_IMODE((folder / "employee.nk").stat().st_mode) == 0o600
    assert seed.startswith("SU"), "a user seed"
    conf = (folder / CONFIG_FILE).read_text()
    assert seed.strip() not in conf, "the server's file holds no seed"
    assert conf.count("nkey: U") == len(users(build_hrms(), PREFIX)), "only public keys"
    assert (folder / "employee.nats.env").read_text().splitlines() == [
        f"ISLES_NATS_NKEY_SEED_FILE={(folder / 'employee.nk').resolve()}",
        "ISLES_NATS_INBOX_PREFIX=_INBOX_employee",
    ]
    again = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert again.exit_code == 0, again.output
    assert (folder / "employee.nk").read_text() == seed
    security_log = tmp_path / "security.jsonl"
    rotated = runner.invoke(
        app,
        [*args, "--rotate", "--service", "employee"],
        env={"COLUMNS": "200", "ISLES_SECURITY_LOG": str(security_log)},
    )
    assert rotated.exit_code == 0, rotated.output
    assert (folder / "employee.nk").read_text() != seed
    (event,) = read(security_log)
    assert (event["event"], event["services"], event["service"]) == ("nats.keys_rotated", ["employee"], "cli")
    assert (folder / "employee.nk").read_text().strip() not in security_log.read_text()
    refused = runner.invoke(app, [*args, "--service", "employee"], env={"COLUMNS": "200"})
    assert refused.exit_code == 2
    assert "--rotate" in refused.output
