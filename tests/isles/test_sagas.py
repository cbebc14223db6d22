"""Sagas on the toy shop and ledger, on SQLite and PostgreSQL: steps written before and
after, retries with one idempotency key, compensations in reverse order, parking and
an operator's retry, timeouts, deferred steps answered by an event, a callback or
nobody, and resumption after a restart."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from isles.core import failpoints
from isles.core.settings import IslesSettings
from isles.http.saga_routes import CALLBACK_TOKEN_HEADER
from isles.runtime.system import SystemRuntime
from isles.sagas import SagaState, SagaStatus, SagaStore, StepStatus
from isles.storage.schema import saga_steps_table
from tests.isles import sagatoy
from tests.support import Backend, make_backend

pytestmark = pytest.mark.integration

SAGA_FAST = {
    "saga_poll_interval": 0.1,
    "saga_retry_base_delay": 0.01,
    "saga_retry_max_delay": 0.05,
    "saga_compensation_max_delay": 0.05,
    "saga_lease_seconds": 2.0,
    "client_retries": 0,
    "client_backoff": 0.01,
}
ORDER = {"customer": "ada", "item": "book", "amount": 10}


@pytest.fixture(autouse=True)
def no_failpoints() -> Iterator[None]:
    failpoints.clear()
    yield
    failpoints.clear()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def toy_backend(request: pytest.FixtureRequest, tmp_path: Any) -> Backend:
    return make_backend(request.param, tmp_path, **SAGA_FAST)


async def started(backend: Backend, settings: IslesSettings | None = None, **build: Any) -> SystemRuntime:
    runtime = SystemRuntime(sagatoy.build(**build), settings or backend.settings, environ={})
    sagatoy.bind(runtime)
    await runtime.start()
    return runtime


@pytest.fixture
async def toy(toy_backend: Backend) -> AsyncIterator[SystemRuntime]:
    runtime = await started(toy_backend)
    try:
        yield runtime
    finally:
        await runtime.stop()
        toy_backend.drop_later(["ledger", "shop"])


async def place(toy: SystemRuntime, order: dict[str, Any] = ORDER, saga: str = "shop.PlaceOrder") -> SagaState:
    runner = toy["shop"].sagas
    assert runner is not None
    saga_id = await runner.begin(saga, order)
    return await runner.wait(saga_id, 20)


async def until(
    runtime: SystemRuntime,
    saga_id: uuid.UUID,
    done: Callable[[SagaState], bool],
    timeout: float = 30.0,  # noqa: ASYNC109
) -> SagaState:
    """The saga's state once ``done(state)`` holds (polled; a bound, not a timing). 30 s:
    a clean-clone run found a compensation's step 9 s without a write under the whole
    suite (the four workers share the server's connections; a service whose idle ones
    were closed waits for a new one while the server is full)."""
    runner = runtime["shop"].sagas
    assert runner is not None
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        state = await runner.store.load(saga_id)
        assert state is not None
        if done(state):
            return state
        assert asyncio.get_running_loop().time() < deadline, f"saga never got there: {state.as_dict()}"
        await asyncio.sleep(0.01)


async def booked(runtime: SystemRuntime, entries: dict[str, int]) -> None:
    """Wait until the ledger holds ``entries`` (a bound, not a timing)."""
    deadline = asyncio.get_running_loop().time() + 10
    while await sagatoy.entries(runtime["ledger"]) != entries:
        assert asyncio.get_running_loop().time() < deadline, f"never booked: {entries}"
        await asyncio.sleep(0.01)


def statuses(state: SagaState) -> dict[str, str]:
    return {s.name: s.status.value for s in state.steps}


async def test_saga_completes_with_every_step_written(toy: SystemRuntime) -> None:
    state = await place(toy)
    assert state.status is SagaStatus.COMPLETED
    assert statuses(state) == dict.fromkeys(["debit", "record", "credit", "confirm"], "completed")
    assert [s.attempts for s in state.steps] == [1, 1, 1, 1]
    assert state.results["confirm"]["status"] == "confirmed"
    assert all(s.started_at and s.finished_at and s.started_at <= s.finished_at for s in state.steps)
    assert state.finished_at is not None
    assert await sagatoy.entries(toy["ledger"]) == {"ada": -10, "shop": 10}
    assert await sagatoy.orders(toy["shop"]) == [("book", "confirmed")]


async def test_a_step_is_marked_running_before_its_action_and_completed_after(toy: SystemRuntime) -> None:
    failpoints.configure({"saga.shop.PlaceOrder.credit.after": "sleep:0.5"})
    runner = toy["shop"].sagas
    assert runner is not None
    saga_id = await runner.begin("shop.PlaceOrder", ORDER)
    await booked(toy, {"ada": -10, "shop": 10})  # its completion is held back by the failpoint
    mid = await runner.store.load(saga_id)
    assert mid is not None
    assert statuses(mid) == {"debit": "completed", "record": "completed", "credit": "running", "confirm": "pending"}
    assert mid.step("credit").attempts == 1, "marked running before it acted, not yet written as done"
    done = await runner.wait(saga_id, 20)
    assert done.status is SagaStatus.COMPLETED


async def test_a_refusal_compensates_the_completed_steps_in_reverse_order(toy: SystemRuntime) -> None:
    failpoints.configure({"saga.shop.PlaceOrder.credit.before": "refuse"})
    state = await place(toy)
    assert state.status is SagaStatus.COMPENSATED
    assert statuses(state) == {
        "debit": "compensated",
        "record": "compensated",
        "credit": "failed",
        "confirm": "pending",
    }
    record, debit = state.step("record"), state.step("debit")
    assert record.compensated_at is not None
    assert debit.compensated_at is not None
    assert record.compensated_at <= debit.compensated_at, "the later step is undone first"
    assert state.step("credit").attempts == 1, "a refusal is not retried"
    assert state.error is not None
    assert state.error["status"] == 422
    assert await sagatoy.entries(toy["ledger"]) == {}
    assert await sagatoy.orders(toy["shop"]) == []


async def test_a_local_refusal_names_its_field_and_leaves_nothing(toy: SystemRuntime) -> None:
    state = await place(toy, {**ORDER, "item": "forbidden"})
    assert state.status is SagaStatus.COMPENSATED
    assert state.error is not None
    assert [e["field"] for e in state.error["errors"]] == ["item"]
    assert statuses(state)["debit"] == "compensated"
    assert await sagatoy.entry_count(toy["ledger"]) == 0


async def test_a_lost_answer_is_retried_with_the_same_key_and_applied_once(toy: SystemRuntime) -> None:
    # The ledger books the debit; the answer is lost on the way back, twice.
    failpoints.configure({"saga.shop.PlaceOrder.debit.after": "raise:2"})
    state = await place(toy)
    assert state.status is SagaStatus.COMPLETED
    assert state.step("debit").attempts == 3
    assert await sagatoy.entry_count(toy["ledger"]) == 2, "one debit and one credit, each once"
    assert await sagatoy.entries(toy["ledger"]) == {"ada": -10, "shop": 10}


async def test_a_step_without_a_definite_answer_is_compensated_too(toy: SystemRuntime) -> None:
    failpoints.configure({"saga.shop.PlaceOrder.debit.after": "raise"})
    state = await place(toy)
    assert state.status is SagaStatus.COMPENSATED
    assert state.step("debit").attempts == 3
    assert state.step("debit").status is StepStatus.COMPENSATED, "its outcome was unknown: undone as well"
    assert state.error is not None
    assert state.error["status"] == 503
    assert await sagatoy.entry_count(toy["ledger"]) == 0


async def test_a_step_that_does_not_answer_in_time_fails_and_is_undone(toy_backend: Backend) -> None:
    failpoints.configure({"ledger.entries.post": "sleep:1"})
    runtime = await started(toy_backend, timeout=0.2)
    try:
        state = await place(runtime)
        assert state.status is SagaStatus.COMPENSATED
        assert state.error is not None
        assert state.error["type"] == "urn:isles:problem:saga-step-timeout"
        assert "had no answer within 0.2s" in state.error["detail"], "the step's own bound ran out"
        assert state.step("debit").attempts == 3
        await asyncio.sleep(1.2)  # anything still on its way has arrived
        assert await sagatoy.entry_count(runtime["ledger"]) == 0
    finally:
        await runtime.stop()
        toy_backend.drop_later(["ledger", "shop"])


async def test_a_compensation_that_keeps_failing_parks_the_saga_until_an_operator_retries(
    toy: SystemRuntime,
) -> None:
    failpoints.configure({"saga.shop.PlaceOrder.credit.before": "refuse", "ledger.entries.delete": "raise"})
    state = await place(toy)
    assert state.status is SagaStatus.FAILED
    debit = state.step("debit")
    assert debit.status is StepStatus.PARKED
    assert debit.compensation_attempts == 3
    assert debit.compensation_error
    assert "ServiceUnavailable" in debit.compensation_error
    assert state.step("record").status is StepStatus.COMPENSATED
    assert await sagatoy.entries(toy["ledger"]) == {"ada": -10}, "the debit stays until the retry"

    failpoints.clear()
    runner = toy["shop"].sagas
    assert runner is not None
    _before, action = await runner.store.reopen(state.id)
    assert action == "compensation resumes"
    runner.kick()
    after = await until(toy, state.id, lambda st: st.status is SagaStatus.COMPENSATED)
    assert after.step("debit").status is StepStatus.COMPENSATED
    assert await sagatoy.entry_count(toy["ledger"]) == 0


async def _approval(toy: SystemRuntime) -> Any:
    async with toy["ledger"].db.read_session() as session:
        from sqlalchemy import select

        return (await session.scalars(select(sagatoy.Approval))).one()


async def test_a_deferred_step_is_answered_by_an_event(toy: SystemRuntime) -> None:
    waiting = await place(toy, saga="shop.PlaceBigOrder")
    assert waiting.status is SagaStatus.RUNNING
    assert waiting.step("approve").status is StepStatus.WAITING
    assert waiting.wake_at is not None, "it waits with a deadline"
    approval = await _approval(toy)
    async with toy.client() as api:
        r = await api.post(f"/api/ledger/approvals/{approval.id}/decide", params={"approved": True})
        assert r.status_code == 200
    await toy.settle()
    runner = toy["shop"].sagas
    assert runner is not None
    done = await runner.wait(waiting.id, 20)
    assert done.status is SagaStatus.COMPLETED
    assert done.step("approve").result == {"approved": True}
    assert await sagatoy.entries(toy["ledger"]) == {"ada": -10, "shop": 10}


async def test_a_refused_deferred_step_compensates(toy: SystemRuntime) -> None:
    waiting = await place(toy, saga="shop.PlaceBigOrder")
    approval = await _approval(toy)
    async with toy.client() as api:
        await api.post(f"/api/ledger/approvals/{approval.id}/decide", params={"approved": False})
    await toy.settle()
    runner = toy["shop"].sagas
    assert runner is not None
    done = await runner.wait(waiting.id, 20)
    assert done.status is SagaStatus.COMPENSATED
    assert statuses(done)["approve"] == "failed"
    assert await sagatoy.entry_count(toy["ledger"]) == 0
    assert await sagatoy.orders(toy["shop"]) == []


async def test_a_deferred_step_is_answered_by_a_callback_with_its_token(toy: SystemRuntime) -> None:
    waiting = await place(toy, saga="shop.PlaceBigOrder")
    approval = await _approval(toy)
    url = f"/api/shop{approval.callback}"
    body = {"outcome": "completed", "result": {"by": "manager"}}
    async with toy.client() as api:
        forged = await api.post(url, json=body, headers={CALLBACK_TOKEN_HEADER: "x" * 32})
        assert forged.status_code == 403
        assert forged.headers["content-type"] == "application/problem+json"
        missing = await api.post(url, json=body)
        assert missing.status_code == 422
        assert missing.json()["errors"][0]["field"] == CALLBACK_TOKEN_HEADER
        r = await api.post(url, json=body, headers={CALLBACK_TOKEN_HEADER: approval.token})
        assert r.status_code == 200, r.text
        # Issue 16, finding 6: the participant learns that its answer was taken, not the saga.
        assert r.json() == {"saga_id": str(waiting.id), "step": "approve", "outcome": "completed"}
        again = await api.post(url, json=body, headers={CALLBACK_TOKEN_HEADER: approval.token})
        assert again.status_code == 409, "answered once"
    # The orchestrator keeps the token's SHA-256, never the token.
    async with toy["shop"].db.reading() as conn:
        stored = (
            await conn.execute(
                select(saga_steps_table.c.callback_token).where(
                    saga_steps_table.c.saga_id == waiting.id, saga_steps_table.c.name == "approve"
                )
            )
        ).scalar_one()
    assert stored == hashlib.sha256(approval.token.encode()).hexdigest()
    runner = toy["shop"].sagas
    assert runner is not None
    done = await runner.wait(waiting.id, 20)
    assert done.status is SagaStatus.COMPLETED
    assert done.step("approve").result == {"by": "manager"}


async def test_a_deferred_request_whose_answer_is_lost_is_sent_again_as_the_same_request(
    toy: SystemRuntime,
) -> None:
    failpoints.configure({"saga.shop.PlaceBigOrder.approve.after": "raise:1"})
    waiting = await place(toy, saga="shop.PlaceBigOrder")
    assert waiting.step("approve").status is StepStatus.WAITING
    assert waiting.step("approve").attempts == 2
    approval = await _approval(toy)  # one request filed, though it was sent twice
    async with toy.client() as api:
        odd = await api.post(
            f"/api/shop{approval.callback}",
            json={"outcome": "completed"},
            headers={CALLBACK_TOKEN_HEADER: ("t\u00e9" * 8).encode("latin-1")},
        )
        assert odd.status_code == 403, "a token that cannot match is refused, not a crash"
        r = await api.post(
            f"/api/shop{approval.callback}",
            json={"outcome": "completed"},
            headers={CALLBACK_TOKEN_HEADER: approval.token},
        )
        assert r.status_code == 200, r.text
        assert "callback_token" not in r.text
    runner = toy["shop"].sagas
    assert runner is not None
    done = await runner.wait(waiting.id, 20)
    assert done.status is SagaStatus.COMPLETED


async def test_a_deferred_step_nobody_answers_times_out_at_its_deadline(toy_backend: Backend) -> None:
    runtime = await started(toy_backend, deadline=0.5)
    try:
        waiting = await place(runtime, saga="shop.PlaceBigOrder")
        assert waiting.step("approve").status is StepStatus.WAITING
        done = await until(runtime, waiting.id, lambda st: not st.status.in_flight)
        assert done.status is SagaStatus.COMPENSATED
        assert done.error is not None
        assert done.error["type"] == "urn:isles:problem:saga-step-timeout"
        assert await sagatoy.entry_count(runtime["ledger"]) == 0
    finally:
        await runtime.stop()
        toy_backend.drop_later(["ledger", "shop"])


async def test_a_saga_under_way_at_stop_is_resumed_by_the_next_start(toy_backend: Backend) -> None:
    failpoints.configure({"saga.shop.PlaceOrder.credit.after": "sleep:30"})
    first = await started(toy_backend)
    runner = first["shop"].sagas
    assert runner is not None
    saga_id = await runner.begin("shop.PlaceOrder", ORDER)
    await until(first, saga_id, lambda st: st.step("credit").status is StepStatus.RUNNING)
    await booked(first, {"ada": -10, "shop": 10})
    await first.stop()  # the credit was booked; its completion was never written
    failpoints.clear()
    second = await started(toy_backend)
    try:
        runner = second["shop"].sagas
        assert runner is not None
        done = await runner.wait(saga_id, 20)
        assert done.status is SagaStatus.COMPLETED
        assert done.step("credit").attempts == 2
        assert await sagatoy.entry_count(second["ledger"]) == 2, "the credit was not booked twice"
    finally:
        await second.stop()
        toy_backend.drop_later(["ledger", "shop"])


async def test_a_saga_is_driven_by_one_process_at_a_time(toy: SystemRuntime) -> None:
    runner = toy["shop"].sagas
    assert runner is not None
    failpoints.configure({"saga.shop.PlaceOrder.debit.before": "sleep:0.5"})
    saga_id = await runner.begin("shop.PlaceOrder", ORDER)
    other = SagaStore(runner.db, owner="another-process", lease=timedelta(seconds=2))
    assert not await other.acquire(saga_id), "leased to the first process"
    state = await runner.wait(saga_id, 20)
    assert state.status is SagaStatus.COMPLETED
    assert not await other.acquire(saga_id), "finished sagas are driven by nobody"


async def test_sagas_are_listed_and_shown_over_http_and_counted_in_metrics(toy: SystemRuntime) -> None:
    ok = await place(toy)
    failpoints.configure({"saga.shop.PlaceOrder.confirm.before": "refuse"})
    undone = await place(toy)
    async with toy.client() as api:
        page = (await api.get("/api/shop/sagas")).json()
        assert page["total"] == 2
        assert {s["status"] for s in page["items"]} == {"completed", "compensated"}
        only = (await api.get("/api/shop/sagas", params={"status": "compensated"})).json()
        assert [s["id"] for s in only["items"]] == [str(undone.id)]
        one = (await api.get(f"/api/shop/sagas/{ok.id}")).json()
        assert [s["name"] for s in one["steps"]] == ["debit", "record", "credit", "confirm"]
        missing = await api.get(f"/api/shop/sagas/{uuid.uuid4()}")
        assert missing.status_code == 404
        assert (await api.get("/api/ledger/sagas")).status_code == 404, "the ledger orchestrates nothing"
        bad = await api.get("/api/shop/sagas", params={"status": "nope"})
        assert bad.status_code == 422
        metrics = (await api.get("/metrics")).text
    assert 'isles_sagas_started_total{saga="shop.PlaceOrder",service="shop"} 2.0' in metrics
    assert 'isles_sagas_finished_total{outcome="completed",saga="shop.PlaceOrder",service="shop"} 1.0' in metrics
    assert 'isles_sagas_finished_total{outcome="compensated",saga="shop.PlaceOrder",service="shop"} 1.0' in metrics
    assert 'isles_saga_duration_seconds_count{outcome="completed",saga="shop.PlaceOrder",service="shop"} 1.0' in metrics
    assert (
        'isles_saga_compensations_total{outcome="compensated",saga="shop.PlaceOrder",service="shop",step="debit"} 1.0'
        in metrics
    )
    assert 'isles_sagas{saga="shop.PlaceOrder",service="shop",status="compensated"} 1.0' in metrics
    assert 'isles_client_requests_total{method="POST",outcome="ok",service="shop",target="ledger"}' in metrics


async def test_operator_retry_over_http(toy: SystemRuntime) -> None:
    failpoints.configure({"saga.shop.PlaceOrder.credit.before": "refuse", "ledger.entries.delete": "raise"})
    parked = await place(toy)
    assert parked.status is SagaStatus.FAILED
    failpoints.clear()
    async with toy.client() as api:
        r = await api.post(f"/api/shop/sagas/{parked.id}/retry")
        assert r.status_code == 200
        assert r.json()["action"] == "compensation resumes"
        for _ in range(200):
            state = (await api.get(f"/api/shop/sagas/{parked.id}")).json()
            if state["status"] == "compensated":
                break
            await asyncio.sleep(0.05)
        assert state["status"] == "compensated"
        again = await api.post(f"/api/shop/sagas/{parked.id}/retry")
        assert again.json()["action"] == "finished: nothing to retry"


def test_callback_tokens_are_derived_from_the_service_key_and_stored_as_digests() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from isles.sagas.callbacks import CallbackTokens, digest, matches

    key = Ed25519PrivateKey.generate()
    saga_id = uuid.uuid4()
    one, same = CallbackTokens.from_key(key), CallbackTokens.from_key(key)
    token = one.token(saga_id, "approve")
    assert token == same.token(saga_id, "approve"), "every process of the service makes the same token"
    assert token != one.token(saga_id, "ship")
    assert token != CallbackTokens.from_key(Ed25519PrivateKey.generate()).token(saga_id, "approve")
    stored = digest(token)
    assert one.shown(saga_id, "approve", stored) == token
    assert matches(stored, token)
    assert not matches(stored, stored), "the digest itself is no token"
    assert not matches(stored, "t\u00e9" * 8)
    # A token an earlier version kept in plain text still answers its saga in flight.
    legacy = "plain-token-of-32-characters-xyz"
    assert one.shown(saga_id, "approve", legacy) == legacy
    assert matches(legacy, legacy)
    assert not matches(None, token)
