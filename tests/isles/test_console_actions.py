"""The console's actions over HTTP, on SQLite and PostgreSQL (issue 22): dead letters
retried and dropped after a confirmation step (the same operations as ``isles dlq``),
a parked saga retried, events followed by id and by aggregate; each action a security
event."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from isles.core import failpoints
from isles.core.clock import utcnow
from isles.runtime.system import SystemRuntime
from isles.security.events import read
from isles.storage.schema import dead_letters_table, inbox_table, outbox_table, sagas_table
from tests.isles import sagatoy, toy
from tests.isles.test_console import FAST, build
from tests.support import Backend, make_backend

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def no_failpoints() -> Iterator[None]:
    failpoints.clear()
    yield
    failpoints.clear()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fast_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return make_backend(request.param, tmp_path, **FAST)


@pytest.fixture
async def runtime(fast_backend: Backend) -> AsyncIterator[SystemRuntime]:
    rt = SystemRuntime(build(), fast_backend.settings, environ={})
    sagatoy.bind(rt)
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop()
        fast_backend.drop_later(rt.services)


@pytest.fixture
async def console(runtime: SystemRuntime) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    async with runtime.client(None) as client:
        answer = await client.post("/console/login", data={"token": runtime.operator_token()})
        assert answer.status_code == 303
        page = await client.get("/console/")
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found
        yield client, found.group(1)


async def park(rt: SystemRuntime, *numbers: int) -> list[str]:
    for n in numbers:  # one after the other: their letters' created_at in this order
        await toy.ping(rt["source"], uuid.uuid4(), n, mode="fail")
        await rt.settle()
    await rt.settle()
    async with rt["sink"].db.read_session() as s:
        rows = (await s.execute(select(dead_letters_table.c.id).order_by(dead_letters_table.c.created_at))).all()
    return [f"sink:{r.id}" for r in rows]


def actions(rt: SystemRuntime) -> list[dict[str, object]]:
    return [e for e in read(Path(rt.settings.security_log_target())) if e["event"] == "console.action"]


async def test_dead_letters_are_retried_after_a_confirmation(
    runtime: SystemRuntime, console: tuple[httpx.AsyncClient, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, csrf = console
    picked = await park(runtime, 1, 2)
    listing = await client.get("/console/dead-letters/", params={"service": "sink", "event_type": "toy.Pinged"})
    assert listing.text.count('name="letter"') == 2
    assert "boom on n=1" in listing.text
    none = await client.get("/console/dead-letters/", params={"event_type": "no.Such"})
    assert 'id="no-letters"' in none.text
    one = picked[0].split(":")[1]
    shown = await client.get(f"/console/dead-letters/sink/{one}")
    assert "Traceback" in shown.text
    assert "RuntimeError: boom on n=1" in shown.text

    asked = await client.post("/console/dead-letters/confirm", data={"csrf": csrf, "action": "retry", "letter": picked})
    assert "Retry 2 dead letter(s)?" in asked.text
    assert len(await park(runtime)) == 2, "nothing done yet"
    unconfirmed = await client.post(
        "/console/dead-letters/act", data={"csrf": csrf, "action": "retry", "letter": picked}
    )
    assert unconfirmed.status_code == 400, "an action needs its confirmation step"
    no_csrf = await client.post(
        "/console/dead-letters/act", data={"action": "retry", "confirmed": "yes", "letter": picked}
    )
    assert no_csrf.status_code == 403

    # The first fails again (its cause is not fixed): it stays, with its new error.
    still = await client.post(
        "/console/dead-letters/act", data={"csrf": csrf, "action": "retry", "confirmed": "yes", "letter": picked[:1]}
    )
    assert "failed again" in still.text
    monkeypatch.setenv("TOY_HEALED", "1")
    done = await client.post(
        "/console/dead-letters/act", data={"csrf": csrf, "action": "retry", "confirmed": "yes", "letter": picked}
    )
    assert done.text.count(">applied<") == 2
    assert sorted(a.n for a in await toy.applied(runtime["sink"])) == [1, 2]
    assert "no-letters" in (await client.get("/console/dead-letters/")).text
    again = await client.post(
        "/console/dead-letters/act", data={"csrf": csrf, "action": "retry", "confirmed": "yes", "letter": picked[:1]}
    )
    assert ">gone<" in again.text
    logged = [(e["action"], e["outcome"]) for e in actions(runtime)]
    assert logged == [
        ("dlq.retry", "failed"),
        ("dlq.retry", "applied"),
        ("dlq.retry", "applied"),
        ("dlq.retry", "gone"),
    ]
    assert all(e["actor"] == "operator" for e in actions(runtime))


async def test_a_dead_letter_is_dropped_and_its_event_stays_marked(
    runtime: SystemRuntime, console: tuple[httpx.AsyncClient, str]
) -> None:
    client, csrf = console
    (picked,) = await park(runtime, 3)
    done = await client.post(
        "/console/dead-letters/act", data={"csrf": csrf, "action": "drop", "confirmed": "yes", "letter": [picked]}
    )
    assert ">dropped<" in done.text
    async with runtime["sink"].db.read_session() as s:
        assert (await s.execute(select(dead_letters_table))).all() == []
        assert [r.status for r in (await s.execute(select(inbox_table))).all()] == ["dropped"]
    bad = await client.post(
        "/console/dead-letters/act", data={"csrf": csrf, "action": "drop", "confirmed": "yes", "letter": ["nosuch:1"]}
    )
    assert bad.status_code == 400
    assert [(e["action"], e["service"]) for e in actions(runtime)] == [("dlq.drop", "sink")]


async def test_a_parked_saga_is_retried_from_its_page(
    runtime: SystemRuntime, console: tuple[httpx.AsyncClient, str]
) -> None:
    client, csrf = console
    runner = runtime["shop"].sagas
    assert runner is not None
    failpoints.configure({"saga.shop.PlaceOrder.credit.before": "refuse", "ledger.entries.delete": "raise"})
    saga_id = await runner.begin("shop.PlaceOrder", {"customer": "ada", "item": "book", "amount": 10})
    parked = await runner.wait(saga_id, 20)
    assert parked.status.value == "failed"
    failpoints.clear()
    listing = await client.get("/console/sagas/", params={"status": "failed", "saga_type": "shop.PlaceOrder"})
    assert str(saga_id) in listing.text
    assert str(saga_id) not in (await client.get("/console/sagas/", params={"status": "completed"})).text
    assert str(saga_id) not in (await client.get("/console/sagas/", params={"age": "old"})).text
    assert str(saga_id) in (await client.get("/console/sagas/", params={"age": "1h"})).text
    assert (await client.get("/console/sagas/", params={"status": "bogus"})).status_code == 400
    page = await client.get(f"/console/sagas/shop/{saga_id}")
    assert "compensation gave up" in page.text
    assert 'id="retry"' in page.text
    confirm = await client.get(f"/console/sagas/shop/{saga_id}/retry")
    assert "goes back to compensating" in confirm.text
    assert (await client.post(f"/console/sagas/shop/{saga_id}/retry", data={})).status_code == 403
    done = await client.post(f"/console/sagas/shop/{saga_id}/retry", data={"csrf": csrf})
    assert "It was failed; compensation resumes." in done.text
    for _ in range(200):
        state = await runner.store.load(saga_id)
        if state is not None and state.status.value == "compensated":
            break
        await asyncio.sleep(0.05)
    assert state is not None
    assert state.status.value == "compensated"
    assert 'data-what="compensated" data-step="debit"' in (await client.get(f"/console/sagas/shop/{saga_id}")).text
    assert [(e["action"], e["outcome"]) for e in actions(runtime)] == [("saga.retry", "compensation resumes")]
    assert (await client.get(f"/console/sagas/shop/{uuid.uuid4()}")).status_code == 404
    # The age filter is in the query: a saga started two days ago is "older than a day".
    async with runtime["shop"].db.writing() as session, session.begin():
        await session.execute(
            update(sagas_table).where(sagas_table.c.id == saga_id).values(created_at=utcnow() - timedelta(days=2))
        )
    assert str(saga_id) in (await client.get("/console/sagas/", params={"age": "old"})).text
    assert str(saga_id) not in (await client.get("/console/sagas/", params={"age": "24h"})).text


async def test_events_are_followed_by_id_and_by_aggregate(
    runtime: SystemRuntime, console: tuple[httpx.AsyncClient, str]
) -> None:
    client, _csrf = console
    counter = uuid.uuid4()
    await toy.ping(runtime["source"], counter, 1)
    await toy.ping(runtime["source"], counter, 2, mode="fail")
    await runtime.settle()
    async with runtime["source"].db.read_session() as s:
        q = select(outbox_table.c.event_id).where(outbox_table.c.aggregate_id == str(counter))
        first, second = [str(i) for i in (await s.execute(q.order_by(outbox_table.c.id))).scalars()]
    trace = await client.get("/console/events/", params={"event": first})
    assert "written to the outbox of" in trace.text
    assert "applied by <strong>sink</strong>" in trace.text
    parked = await client.get("/console/events/", params={"event": second})
    assert "parked as a dead letter by <strong>sink</strong>" in parked.text
    assert ": dead-lettered</h2>" in parked.text
    by_aggregate = await client.get("/console/events/", params={"aggregate": str(counter)})
    assert by_aggregate.text.index("counter v1") < by_aggregate.text.index("counter v2")
    assert "2 event(s) of aggregate" in by_aggregate.text
    assert "not an event id" in (await client.get("/console/events/", params={"event": "nope"})).text
    assert "no outbox or inbox" in (await client.get("/console/events/", params={"event": str(uuid.uuid4())})).text


async def test_the_map_and_the_audit(runtime: SystemRuntime, console: tuple[httpx.AsyncClient, str]) -> None:
    client, csrf = console
    page = await client.get("/console/map/")
    assert "flowchart LR" in page.text
    assert page.text.count("<rect") >= 4
    assert "Not run since" in (await client.get("/console/audit/")).text
    assert (await client.post("/console/audit/", data={"settle": "0"})).status_code == 403
    ran = await client.post("/console/audit/", data={"csrf": csrf, "settle": "0"})
    assert "finding(s)" in ran.text
    assert [e["action"] for e in actions(runtime)] == ["audit.run"]


async def test_a_saga_waiting_for_a_deferred_step_says_so(
    runtime: SystemRuntime, console: tuple[httpx.AsyncClient, str]
) -> None:
    client, _csrf = console
    runner = runtime["shop"].sagas
    assert runner is not None
    saga_id = await runner.begin("shop.PlaceBigOrder", {"customer": "ada", "item": "piano", "amount": 900})
    state = await runner.wait(saga_id, 20)
    assert state.step("approve").status.value == "waiting"
    page = await client.get(f"/console/sagas/shop/{saga_id}")
    assert 'data-what="waiting" data-step="approve"' in page.text
    assert "Waiting until" in page.text
    assert 'id="retry"' in page.text, "an in-flight saga may be handed to a running service at once"
