"""The console of the distributed mode (issue 22, "embedded and distributed alike"):
the proxy gateway of ``isles up --distributed`` has no runtime, so its console reads
and acts on every service's PostgreSQL database directly (as ``isles dlq`` and ``isles
sagas`` do) and asks each service process for its health, readiness and counters.

The services' databases are filled by the embedded runtime, standing in for the
service processes (which these tests need not start: the processes are answered by
an httpx mock). The gateway is the distributed mode's own (``create_proxy_gateway``)
with the console mounted as ``run_distributed`` mounts it;
tests/hrms/test_distributed.py checks the real one."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from isles import console
from isles.console.remote import POOL_OVERFLOW, POOL_SIZE, DistributedConsole
from isles.core import failpoints
from isles.http.proxy import create_proxy_gateway
from isles.messaging.bus import EmbeddedBus
from isles.ops.metrics import Metrics
from isles.runtime.system import SystemRuntime
from isles.security.events import read
from isles.security.tokens import KeyRing
from isles.storage.db import connect_waiting
from isles.storage.schema import dead_letters_table, sagas_table
from tests.isles import sagatoy, toy
from tests.isles.test_console import FAST, build
from tests.support import PG_SERVER, Backend, Templates, make_backend, operator_headers

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

SERVICES = ("source", "sink", "ledger", "shop")
URLS = {name: f"http://{name}.process:9000" for name in SERVICES}


@pytest.fixture(autouse=True)
def no_failpoints() -> Iterator[None]:
    failpoints.clear()
    yield
    failpoints.clear()


@pytest.fixture
async def made(tmp_path: Path, templates: Templates) -> AsyncIterator[tuple[Backend, uuid.UUID]]:
    """The system's PostgreSQL databases, with a dead letter in sink's and a failed
    saga (a compensation gave up) in shop's, made by the services themselves (an
    embedded runtime), which have stopped since."""
    pg = make_backend("postgres", tmp_path, **FAST)
    system = build()
    await templates.clone(system, pg)
    rt = SystemRuntime(system, pg.settings, environ={})
    sagatoy.bind(rt)
    await rt.start()
    try:
        await toy.ping(rt["source"], uuid.uuid4(), 1, mode="fail")
        await rt.settle()
        runner = rt["shop"].sagas
        assert runner is not None
        failpoints.configure({"saga.shop.PlaceOrder.credit.before": "refuse", "ledger.entries.delete": "raise"})
        saga_id = await runner.begin("shop.PlaceOrder", {"customer": "ada", "item": "book", "amount": 10})
        assert (await runner.wait(saga_id, 20)).status.value == "failed"
        failpoints.clear()
    finally:
        await rt.stop()
    try:
        yield pg, saga_id
    finally:
        pg.drop_later(SERVICES)


def processes(request: httpx.Request) -> httpx.Response:
    """The service processes as the gateway reaches them: source's answers and is
    ready (7 events published), sink's answers and is not ready, the others are down."""
    host = request.url.host.split(".")[0]
    if host == "source":
        if request.url.path == "/metrics":
            metrics = Metrics()
            metrics.relay_published.labels("source").inc(7)
            return httpx.Response(200, content=metrics.render())
        return httpx.Response(200, json={"status": "ok"})
    if host == "sink":
        if request.url.path == "/ready":
            return httpx.Response(503, json={"checks": {"database:sink": "ok", "bus": "not connected"}})
        return httpx.Response(200, json={"status": "ok"})
    raise httpx.ConnectError("connection refused", request=request)


def distributed_console(pg: Backend) -> DistributedConsole:
    """The distributed mode's console over ``pg``'s databases, the service processes
    answered by :func:`processes`."""
    return DistributedConsole(
        build(),
        pg.settings,
        URLS,
        keys=pg.settings.keys_dir or Path(),
        bus=EmbeddedBus(),
        environ={},
        client=httpx.AsyncClient(transport=httpx.MockTransport(processes)),
    )


@pytest.fixture
async def gateway(made: tuple[Backend, uuid.UUID]) -> AsyncIterator[tuple[httpx.AsyncClient, DistributedConsole]]:
    """The distributed mode's gateway with its console, over the databases of ``made``."""
    pg, _ = made
    remote = distributed_console(pg)
    app = create_proxy_gateway("consoletoy", URLS)
    assert console.install(app, remote, sample_every=3600)
    await remote.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
            yield client, remote
    finally:
        await remote.close()
        await app.state.client.aclose()


def operator(made: tuple[Backend, uuid.UUID]) -> dict[str, str]:
    keys = made[0].settings.keys_dir
    assert keys is not None
    return operator_headers(keys)


async def sign_in(client: httpx.AsyncClient, made: tuple[Backend, uuid.UUID]) -> str:
    """Sign in with the operator's token; the session's CSRF token."""
    token = operator(made)["Authorization"].removeprefix("Bearer ")
    answer = await client.post("/console/login", data={"token": token})
    assert answer.status_code == 303, answer.text
    found = re.search(r'name="csrf" value="([^"]+)"', (await client.get("/console/")).text)
    assert found
    return found.group(1)


def actions(made: tuple[Backend, uuid.UUID]) -> list[dict[str, object]]:
    log = Path(made[0].settings.security_log_target())
    return [e for e in read(log) if e["event"] == "console.action"]


async def test_the_overview_lists_every_service_with_what_its_process_says(
    gateway: tuple[httpx.AsyncClient, DistributedConsole], made: tuple[Backend, uuid.UUID]
) -> None:
    client, remote = gateway
    page = await client.get("/console/", headers=operator(made))
    assert page.status_code == 200
    assert "Services of the system, each in a process of its own" in page.text
    for name in SERVICES:
        assert f'data-service="{name}"' in page.text
    data = (await client.get("/console/overview.json", headers=operator(made))).json()
    found = {s["name"]: s for s in data["services"]}
    assert list(found) == list(SERVICES), "every service of the system, not of one process"
    assert (found["source"]["healthy"], found["source"]["ready"]) == (True, True)
    assert found["sink"]["healthy"]
    assert not found["sink"]["ready"]
    assert "not ready: bus: not connected" in found["sink"]["health"]
    assert not found["ledger"]["healthy"]
    assert "unreachable: ConnectError" in found["ledger"]["health"]
    # Read from the services' databases, whether their processes answer or not.
    assert found["sink"]["dead_letters"] == 1
    assert found["shop"]["sagas"] == {"failed": 1}
    assert found["source"]["backlog"] == 0
    assert found["sink"]["lag"] == 0, "a consumer's lag, from the bus"
    assert found["source"]["lag"] is None, "source consumes nothing"
    assert (await remote.probe("source")).published == 7, "the counters of the process's /metrics"
    assert found["source"]["published_rate"] == 0.0, "a rate from the second sample on"
    assert found["ledger"]["published_rate"] is None, "no rate where the process did not say"
    assert (await remote.readiness())["process:sink"] == "answered 503"


async def test_a_dead_letter_is_followed_and_retried_from_the_distributed_console(
    gateway: tuple[httpx.AsyncClient, DistributedConsole],
    made: tuple[Backend, uuid.UUID],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, remote = gateway
    csrf = await sign_in(client, made)
    listing = await client.get("/console/dead-letters/")
    assert "boom on n=1" in listing.text
    (letter,) = re.findall(r'name="letter" value="(sink:[^"]+)"', listing.text)
    shown = await client.get(f"/console/dead-letters/sink/{letter.split(':')[1]}")
    assert "RuntimeError: boom on n=1" in shown.text
    # Followed from source's outbox to sink's inbox: two processes' databases.
    async with remote.services["sink"].db.read_session() as s:
        event_id = (await s.execute(select(dead_letters_table.c.event_id))).scalar_one()
    followed = await client.get("/console/events/", params={"event": str(event_id)})
    assert "written to the outbox of" in followed.text
    assert "parked as a dead letter by <strong>sink</strong>" in followed.text

    asked = await client.post("/console/dead-letters/confirm", data={"csrf": csrf, "action": "retry", "letter": letter})
    assert "Retry 1 dead letter(s)?" in asked.text
    act = {"csrf": csrf, "action": "retry", "confirmed": "yes", "letter": letter}
    assert "failed again" in (await client.post("/console/dead-letters/act", data=act)).text
    monkeypatch.setenv("TOY_HEALED", "1")  # its cause fixed
    done = await client.post("/console/dead-letters/act", data=act)
    assert ">applied<" in done.text
    assert [a.n for a in await toy.applied(remote.services["sink"])] == [1], "applied in sink's database"
    assert 'id="no-letters"' in (await client.get("/console/dead-letters/")).text
    assert (
        "applied by <strong>sink</strong>"
        in (await client.get("/console/events/", params={"event": str(event_id)})).text
    )
    assert [(e["action"], e["outcome"]) for e in actions(made)] == [("dlq.retry", "failed"), ("dlq.retry", "applied")]


async def test_a_failed_saga_is_shown_and_retried_and_the_map_and_audit_work(
    gateway: tuple[httpx.AsyncClient, DistributedConsole], made: tuple[Backend, uuid.UUID]
) -> None:
    client, remote = gateway
    _pg, saga_id = made
    csrf = await sign_in(client, made)
    listing = await client.get("/console/sagas/", params={"status": "failed"})
    assert str(saga_id) in listing.text
    page = await client.get(f"/console/sagas/shop/{saga_id}")
    assert "compensation gave up" in page.text
    done = await client.post(f"/console/sagas/shop/{saga_id}/retry", data={"csrf": csrf})
    assert "It was failed; compensation resumes." in done.text
    async with remote.services["shop"].db.read_session() as s:
        status = (await s.execute(select(sagas_table.c.status).where(sagas_table.c.id == saga_id))).scalar_one()
    assert status == "compensating", "handed back to the shop's process, which drives it"
    assert "flowchart LR" in (await client.get("/console/map/")).text
    ran = await client.post("/console/audit/", data={"csrf": csrf, "settle": "0"})
    assert "finding(s)" in ran.text
    assert [e["action"] for e in actions(made)] == ["saga.retry", "audit.run"]


async def test_a_company_admin_is_refused(
    gateway: tuple[httpx.AsyncClient, DistributedConsole], made: tuple[Backend, uuid.UUID]
) -> None:
    client, _remote = gateway
    keys = made[0].settings.keys_dir
    assert keys is not None
    admin = (
        KeyRing.load(keys, signers=["source"])
        .signer("source", ttl=600)
        .issue(subject=str(uuid.uuid4()), tenant=uuid.uuid4(), roles=["admin", "hr"])
    )
    answer = await client.get("/console/overview.json", headers={"Authorization": f"Bearer {admin}"})
    assert answer.status_code == 403
    assert answer.json()["reason"] == "not_operator"
    page = await client.post("/console/login", data={"token": admin})
    assert page.status_code == 403
    assert "sink" not in page.text, "the refusal shows nothing of the system"
    assert (await client.get("/console/login")).status_code == 200


async def connections(pg: Backend) -> int:
    """Connections to the test's databases, from anyone."""
    admin = make_url(PG_SERVER).set(drivername="postgresql", database="postgres")
    conn = await connect_waiting(admin.render_as_string(hide_password=False))
    try:
        n = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = ANY($1::text[])",
            [pg.url(s).rsplit("/", 1)[1] for s in SERVICES],
        )
    finally:
        await conn.close()
    return int(n)


async def test_its_pools_are_small_and_closed_when_the_gateway_stops(made: tuple[Backend, uuid.UUID]) -> None:
    pg, _ = made
    remote = distributed_console(pg)
    app = create_proxy_gateway("consoletoy", URLS)
    console.install(app, remote)
    await remote.start()
    try:
        for rt in remote.services.values():
            assert (rt.db.pool.size, rt.db.pool.max_overflow) == (POOL_SIZE, POOL_OVERFLOW)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
            assert (await client.get("/console/", headers=operator(made))).status_code == 200  # the sampler starts
        assert await connections(pg) >= len(SERVICES), "the overview read every database"
    finally:
        await remote.close()
        await app.state.client.aclose()
    for _ in range(40):  # a closed connection's backend leaves pg_stat_activity a moment later
        if await connections(pg) == 0:
            break
        await asyncio.sleep(0.05)
    assert await connections(pg) == 0, "every engine disposed, the sampler stopped first"
