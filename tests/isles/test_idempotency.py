"""Idempotency keys on the toy ledger's endpoints, on SQLite and PostgreSQL: the first
answer again, never a second effect, refusals kept, and fencing for compensations."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from isles.http import idempotency
from isles.runtime.system import SystemRuntime
from tests.isles import sagatoy
from tests.support import Backend

pytestmark = pytest.mark.integration


@pytest.fixture
async def ledger(backend: Backend) -> AsyncIterator[tuple[SystemRuntime, httpx.AsyncClient]]:
    runtime = SystemRuntime(sagatoy.build(), backend.settings, environ={})
    await runtime.start()
    try:
        async with runtime.client() as api:
            yield runtime, api
    finally:
        await runtime.stop()
        backend.drop_later(["ledger", "shop"])


def entry(amount: int = 5) -> dict[str, object]:
    return {"id": str(uuid.uuid4()), "account": "ada", "amount": amount}


def key(name: str) -> dict[str, str]:
    return {"Idempotency-Key": f"{name}-{uuid.uuid4()}"}


async def test_a_retry_gets_the_first_answer_and_changes_nothing(
    ledger: tuple[SystemRuntime, httpx.AsyncClient],
) -> None:
    rt, api = ledger
    body, k = entry(), key("book")
    first = await api.post("/api/ledger/entries", json=body, headers=k)
    again = await api.post("/api/ledger/entries", json=body, headers=k)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await sagatoy.entry_count(rt["ledger"]) == 1


async def test_the_same_key_with_another_request_is_refused_naming_the_header(
    ledger: tuple[SystemRuntime, httpx.AsyncClient],
) -> None:
    rt, api = ledger
    k = key("reuse")
    assert (await api.post("/api/ledger/entries", json=entry(5), headers=k)).status_code == 201
    other = await api.post("/api/ledger/entries", json=entry(6), headers=k)
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["type"] == "urn:isles:problem:idempotency-key-reused"
    assert [e["field"] for e in other.json()["errors"]] == ["Idempotency-Key"]
    assert await sagatoy.entry_count(rt["ledger"]) == 1


async def test_concurrent_requests_with_one_key_apply_once(ledger: tuple[SystemRuntime, httpx.AsyncClient]) -> None:
    rt, api = ledger
    body, k = entry(), key("race")
    answers = await asyncio.gather(*(api.post("/api/ledger/entries", json=body, headers=k) for _ in range(6)))
    assert [a.status_code for a in answers] == [201] * 6
    assert len({a.text for a in answers}) == 1, "every caller gets the one answer"
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 5
    assert await sagatoy.entry_count(rt["ledger"]) == 1


async def test_a_refusal_is_kept_for_its_key(ledger: tuple[SystemRuntime, httpx.AsyncClient]) -> None:
    rt, api = ledger
    body, k = entry(0), key("zero")  # the ledger refuses a zero amount
    first = await api.post("/api/ledger/entries", json=body, headers=k)
    again = await api.post("/api/ledger/entries", json=body, headers=k)
    assert (first.status_code, again.status_code) == (422, 422)
    assert again.json() == first.json()
    assert again.headers["content-type"] == "application/problem+json"
    assert again.headers["idempotent-replayed"] == "true"
    assert await sagatoy.entry_count(rt["ledger"]) == 0


async def test_a_call_that_arrives_after_its_compensation_is_fenced(
    ledger: tuple[SystemRuntime, httpx.AsyncClient],
) -> None:
    rt, api = ledger
    body = entry()
    action = f"saga:{uuid.uuid4()}:debit"
    undo = {"Idempotency-Key": f"{action}:undo", "Isles-Compensates": action}
    early = await api.delete(f"/api/ledger/entries/{body['id']}", headers=undo)
    assert early.status_code == 200
    assert early.json()["compensated"] is False, "nothing had happened: nothing undone"
    late = await api.post("/api/ledger/entries", json=body, headers={"Idempotency-Key": action})
    assert late.status_code == 409
    assert late.json()["type"] == "urn:isles:problem:idempotency-key-fenced"
    assert await sagatoy.entry_count(rt["ledger"]) == 0, "the late call was not applied after its undo"
    again = await api.delete(f"/api/ledger/entries/{body['id']}", headers=undo)
    assert again.json() == early.json()


async def test_a_compensation_undoes_a_call_that_took_effect(ledger: tuple[SystemRuntime, httpx.AsyncClient]) -> None:
    rt, api = ledger
    body = entry()
    action = f"saga:{uuid.uuid4()}:debit"
    assert (await api.post("/api/ledger/entries", json=body, headers={"Idempotency-Key": action})).status_code == 201
    undo = {"Idempotency-Key": f"{action}:undo", "Isles-Compensates": action}
    assert (await api.delete(f"/api/ledger/entries/{body['id']}", headers=undo)).status_code == 204
    assert (await api.delete(f"/api/ledger/entries/{body['id']}", headers=undo)).status_code == 204, "replayed"
    assert await sagatoy.entry_count(rt["ledger"]) == 0


@pytest.mark.parametrize(
    ("header", "value"),
    [("Idempotency-Key", "x" * 201), ("Idempotency-Key", "tab\there"), ("Isles-Compensates", "")],
)
async def test_a_bad_key_is_a_422_naming_the_header(
    ledger: tuple[SystemRuntime, httpx.AsyncClient], header: str, value: str
) -> None:
    rt, api = ledger
    r = await api.post("/api/ledger/entries", json=entry(), headers={header: value})
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == [header]
    assert await sagatoy.entry_count(rt["ledger"]) == 0


async def test_old_keys_are_pruned(ledger: tuple[SystemRuntime, httpx.AsyncClient]) -> None:
    rt, api = ledger
    k = key("old")
    body = entry()
    assert (await api.post("/api/ledger/entries", json=body, headers=k)).status_code == 201
    assert await idempotency.prune(rt["ledger"].db, timedelta(days=1)) == 0
    assert await idempotency.prune(rt["ledger"].db, timedelta(seconds=0)) == 1
    async with rt["ledger"].db.read_session() as session:
        assert await idempotency.find(session, k["Idempotency-Key"]) is None
