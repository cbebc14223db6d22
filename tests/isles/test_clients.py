"""ServiceClient against a real HTTP server on loopback: timeouts, retries of safe calls
only, the circuit breaker, typed errors and their problem details at the API edge."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from isles.clients.service import (
    CircuitBreaker,
    CircuitState,
    Conflict,
    NotFound,
    Rejected,
    ServiceClient,
    ServiceUnavailable,
    from_service_error,
)
from isles.core.settings import ClientSettings
from tests.support import free_port

calls: Counter[str] = Counter()


def _app() -> FastAPI:
    app = FastAPI()

    @app.api_route("/flaky/{name}/{failures}", methods=["GET", "POST"])
    async def flaky(name: str, failures: int, request: Request) -> JSONResponse:
        calls[name] += 1
        if calls[name] <= failures:
            return JSONResponse({"detail": "busy"}, status_code=503)
        return JSONResponse({"ok": True, "key": request.headers.get("idempotency-key")})

    @app.get("/slow")
    async def slow() -> JSONResponse:
        calls["slow"] += 1
        await asyncio.sleep(1.0)
        return JSONResponse({"ok": True})

    @app.get("/status/{code}")
    async def status(code: int) -> JSONResponse:
        body = {"type": "urn:isles:problem:x", "status": code, "detail": f"said {code}"}
        body["errors"] = [{"field": "email", "message": "taken", "code": "conflict"}]
        return JSONResponse(body, status_code=code, media_type="application/problem+json")

    return app


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(_app(), host="127.0.0.1", port=port, log_level="critical", lifespan="off"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


Make = Callable[..., ServiceClient]


@pytest.fixture
async def make() -> AsyncIterator[Make]:
    """ServiceClients with fast backoff; their connections are closed after the test."""
    opened: list[httpx.AsyncClient] = []

    def build(
        base: str, *, retries: int = 2, timeout: float = 2.0, breaker: CircuitBreaker | None = None
    ) -> ServiceClient:
        http = httpx.AsyncClient(base_url=base)
        opened.append(http)
        policy = ClientSettings(timeout=timeout, retries=retries, backoff=0.01)
        return ServiceClient(http, service="target", policy=policy, breaker=breaker)

    yield build
    for http in opened:
        await http.aclose()


async def test_a_safe_call_is_retried_until_it_is_answered(server: str, make: Make) -> None:
    r = await make(server).request("GET", "/flaky/get/2")
    assert r.json()["ok"] is True
    assert calls["get"] == 3


async def test_a_post_without_a_key_is_sent_once_and_with_a_key_retried(server: str, make: Make) -> None:
    with pytest.raises(ServiceUnavailable, match="503"):
        await make(server).request("POST", "/flaky/post/1")
    assert calls["post"] == 1, "not safe to repeat: sent once"
    r = await make(server).request("POST", "/flaky/keyed/1", idempotency_key="k-1")
    assert calls["keyed"] == 2
    assert r.json()["key"] == "k-1", "the key travels with every attempt"


async def test_no_answer_within_the_timeout_is_unavailable(server: str, make: Make) -> None:
    with pytest.raises(ServiceUnavailable, match=r"ReadTimeout|timed out after 0\.2s"):
        await make(server, retries=1, timeout=0.2).request("GET", "/slow")
    assert calls["slow"] == 2, "each attempt gave up at its timeout and was tried again"


async def test_the_in_process_app_is_held_to_the_same_timeout() -> None:
    """Embedded mode: no socket, so httpx's timeout does not apply; the client's does."""
    calls.clear()
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
        c = ServiceClient(http, service="target", policy=ClientSettings(timeout=0.2, retries=1, backoff=0.01))
        with pytest.raises(ServiceUnavailable, match=r"timed out after 0\.2s"):
            await c.request("GET", "/slow")
    assert calls["slow"] == 2


async def test_answers_become_typed_errors_and_keep_their_field_errors(server: str, make: Make) -> None:
    c = make(server)
    with pytest.raises(NotFound) as nf:
        await c.request("GET", "/status/404")
    with pytest.raises(Conflict) as cf:
        await c.request("GET", "/status/409")
    with pytest.raises(Rejected) as rj:
        await c.request("GET", "/status/422")
    assert (nf.value.status, cf.value.status, rj.value.status) == (404, 409, 422)
    problem = from_service_error(cf.value)
    assert problem.status == 409
    assert [e["field"] for e in problem.errors] == ["email"]
    assert "said 409" in problem.detail


async def test_the_circuit_opens_after_failures_in_a_row_and_a_trial_closes_it(server: str, make: Make) -> None:
    now = [0.0]
    breaker = CircuitBreaker("dead", threshold=3, reset_after=5.0, clock=lambda: now[0])
    dead = make(f"http://127.0.0.1:{free_port()}", retries=0, breaker=breaker)  # nothing listens
    for _ in range(3):
        with pytest.raises(ServiceUnavailable, match="ConnectError"):
            await dead.request("GET", "/x")
    assert breaker.state is CircuitState.OPEN
    with pytest.raises(ServiceUnavailable, match="circuit open"):
        await dead.request("GET", "/x")
    now[0] += 5.0
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.acquire(), "one trial call goes through"
    assert not breaker.acquire(), "and only one"
    breaker.failed()
    assert breaker.state is CircuitState.OPEN, "a failed trial opens it again"
    now[0] += 5.0
    alive = make(server, retries=0, breaker=breaker)
    assert (await alive.request("GET", "/flaky/trial/0")).json()["ok"] is True
    assert breaker.state is CircuitState.CLOSED


def test_a_breaker_reports_its_changes() -> None:
    seen: list[tuple[str, CircuitState]] = []
    breaker = CircuitBreaker("t", threshold=1, reset_after=0.0, on_change=lambda t, s: seen.append((t, s)))
    breaker.failed()
    assert breaker.state is CircuitState.HALF_OPEN
    breaker.succeeded()
    assert seen == [("t", CircuitState.OPEN), ("t", CircuitState.HALF_OPEN), ("t", CircuitState.CLOSED)]
    with pytest.raises(ValueError, match="threshold"):
        CircuitBreaker("t", threshold=0)
