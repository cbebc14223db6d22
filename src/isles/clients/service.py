"""Service-to-service calls over httpx, with errors that say what went wrong.

:class:`ServiceClient` gives every call a timeout, retries *safe* calls (GET, HEAD,
OPTIONS, PUT, DELETE, and any call carrying an idempotency key) with jittered
exponential backoff on transport errors and 5xx answers, and goes through the
target's :class:`CircuitBreaker`, which fails calls fast while the target keeps
failing. Answers become typed errors (:class:`NotFound`, :class:`Conflict`,
:class:`Rejected`, :class:`ServiceUnavailable`) carrying the target's problem
document; :mod:`isles.http.problems` maps them back to problem details at the API edge.

In the embedded mode the same client talks to the in-process gateway app.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar

import httpx
import structlog
from pydantic import BaseModel, ValidationError

from isles.clients.errors import Conflict, NotFound, Rejected, ServiceError, ServiceUnavailable
from isles.core import tracing
from isles.core.problems import FieldError, Problem, unavailable
from isles.core.settings import ClientSettings

M = TypeVar("M", bound=BaseModel)

IDEMPOTENCY_HEADER = "Idempotency-Key"
COMPENSATES_HEADER = "Isles-Compensates"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


log = structlog.get_logger("isles.clients")

__all__ = [
    "CircuitBreaker",
    "CircuitState",
    "Conflict",
    "NotFound",
    "Rejected",
    "ServiceClient",
    "ServiceError",
    "ServiceUnavailable",
    "from_service_error",
]


class CircuitState(Enum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    """Fails calls to a target fast after ``threshold`` failures in a row.

    Closed: calls go through; each failure (no answer, timeout, 5xx) counts, any
    answer resets the count. Open: calls fail at once with ServiceUnavailable for
    ``reset_after`` seconds. Half-open: one trial call goes through; its success
    closes the circuit, its failure opens it again."""

    def __init__(
        self,
        target: str,
        *,
        threshold: int = 5,
        reset_after: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[str, CircuitState], None] | None = None,
    ) -> None:
        if threshold < 1:
            raise ValueError("threshold must be at least 1")
        self.target = target
        self.threshold = threshold
        self.reset_after = reset_after
        self._clock = clock
        self._on_change = on_change
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False

    @property
    def state(self) -> CircuitState:
        if self._state is CircuitState.OPEN and self._clock() - self._opened_at >= self.reset_after:
            self._set(CircuitState.HALF_OPEN)
        return self._state

    def _set(self, state: CircuitState) -> None:
        if state is not self._state:
            self._state = state
            if self._on_change is not None:
                self._on_change(self.target, state)

    def acquire(self) -> bool:
        """May a call go through now? (In half-open state only one trial at a time.)"""
        state = self.state
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.HALF_OPEN and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def succeeded(self) -> None:
        self._failures = 0
        self._trial_in_flight = False
        self._set(CircuitState.CLOSED)

    def failed(self) -> None:
        self._trial_in_flight = False
        self._failures += 1
        if self._state is CircuitState.HALF_OPEN or self._failures >= self.threshold:
            self._opened_at = self._clock()
            self._set(CircuitState.OPEN)

    def retry_after(self) -> float:
        """Seconds until an open circuit lets a trial call through."""
        if self._state is not CircuitState.OPEN:
            return 0.0
        return max(0.0, self.reset_after - (self._clock() - self._opened_at))


#: ``observe(target, method, outcome, seconds)`` after every attempt; outcome is
#: "ok", "client_error", "server_error", "transport_error" or "circuit_open".
CallObserver = Callable[[str, str, str, float], None]


def _problem_of(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"detail": response.text[:500]}
    return body if isinstance(body, dict) else {"detail": str(body)[:500]}


def _detail(problem: dict[str, Any], fallback: str) -> str:
    detail = problem.get("detail")
    return str(detail) if detail else fallback


class ServiceClient:
    """Calls to one target service. Share one :class:`CircuitBreaker` per target."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        service: str,
        policy: ClientSettings | None = None,
        breaker: CircuitBreaker | None = None,
        observe: CallObserver | None = None,
        credentials: Callable[[], str | None] | None = None,
        tracer: tracing.Tracer | None = None,
    ) -> None:
        """``tracer``: a client span per call (None: tracing is off)."""
        self._http = http
        self._tracer = tracer
        self._credentials = credentials
        self.service = service
        self.policy = policy or ClientSettings()
        self.breaker = breaker
        self._observe = observe

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        compensates: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - an httpx timeout per attempt
    ) -> httpx.Response:
        """Send the call; return the 2xx response or raise a :class:`ServiceError`."""
        method = method.upper()
        if self._tracer is None:
            return await self._send(method, path, json, params, idempotency_key, compensates, timeout)
        url = self._http.base_url.join(path)
        attributes: dict[str, tracing.Attribute] = {
            "http.request.method": method,
            "url.full": str(url),
            "server.address": url.host,
            "peer.service": self.service,
        }
        if url.port is not None:
            attributes["server.port"] = url.port
        # The span's traceparent is current inside: the call carries it (the header),
        # so the server span of the service called is its child.
        with tracing.span(self._tracer, f"{method} {self.service}", "client", attributes) as span:
            try:
                response = await self._send(method, path, json, params, idempotency_key, compensates, timeout)
            except ServiceError as exc:
                if exc.status is not None:
                    span.set("http.response.status_code", exc.status)
                raise
            span.set("http.response.status_code", response.status_code)
            return response

    async def _send(
        self,
        method: str,
        path: str,
        json: Any,
        params: dict[str, Any] | None,
        idempotency_key: str | None,
        compensates: str | None,
        timeout: float | None,  # noqa: ASYNC109 - an httpx timeout per attempt
    ) -> httpx.Response:
        headers: dict[str, str] = {}
        if tracing.current():
            headers["traceparent"] = tracing.current()
        token = self._credentials() if self._credentials is not None else None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if idempotency_key:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        if compensates:
            headers[COMPENSATES_HEADER] = compensates
        safe = method in SAFE_METHODS or bool(idempotency_key)
        attempts = self.policy.retries + 1 if safe else 1
        last = ""
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(self.policy.delay(attempt))
            if self.breaker is not None and not self.breaker.acquire():
                self._report(method, "circuit_open", 0.0)
                raise ServiceUnavailable(
                    self.service,
                    f"circuit open after repeated failures; next trial in {self.breaker.retry_after():.1f}s"
                    + (f" (last: {last})" if last else ""),
                )
            started = time.perf_counter()
            limit = timeout if timeout is not None else self.policy.timeout
            try:
                # httpx bounds a call over the network; asyncio bounds one to the
                # in-process app too (no socket there), so both behave alike.
                async with asyncio.timeout(limit):
                    response = await self._http.request(
                        method, path, json=json, params=params or None, headers=headers, timeout=limit
                    )
            except (httpx.TransportError, TimeoutError) as exc:
                self._failed(method, "transport_error", started)
                kind = type(exc).__name__ if isinstance(exc, httpx.TransportError) else f"timed out after {limit}s"
                last = f"no answer to {method} {path} ({kind})"
                continue
            if response.status_code >= 500 or response.status_code == 429:
                self._failed(method, "server_error", started)
                last = f"{method} {path} answered {response.status_code}: " + _detail(_problem_of(response), "")
                if response.status_code in _RETRY_STATUS:
                    continue
                break
            if self.breaker is not None:
                self.breaker.succeeded()
            if response.status_code >= 400:
                self._report(method, "client_error", time.perf_counter() - started)
                raise self._refusal(method, path, response)
            self._report(method, "ok", time.perf_counter() - started)
            return response
        raise ServiceUnavailable(self.service, last or f"{method} {path} failed")

    def _failed(self, method: str, outcome: str, started: float) -> None:
        if self.breaker is not None:
            self.breaker.failed()
        self._report(method, outcome, time.perf_counter() - started)

    def _report(self, method: str, outcome: str, seconds: float) -> None:
        if self._observe is not None:
            self._observe(self.service, method, outcome, seconds)

    def _refusal(self, method: str, path: str, response: httpx.Response) -> ServiceError:
        problem = _problem_of(response)
        status = response.status_code
        message = f"{method} {path} answered {status}: " + _detail(problem, response.reason_phrase)
        kind = {404: NotFound, 409: Conflict}.get(status, Rejected)
        return kind(self.service, message, status=status, problem=problem)

    async def call(
        self,
        method: str,
        path: str,
        model: type[M],
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        compensates: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> M:
        """Like :meth:`request`, parsing the answer as ``model``."""
        response = await self.request(
            method,
            path,
            json=json,
            params=params,
            idempotency_key=idempotency_key,
            compensates=compensates,
            timeout=timeout,
        )
        try:
            return model.model_validate(response.json())
        except (ValueError, ValidationError) as exc:
            raise ServiceError(self.service, f"{method} {path}: unexpected answer: {exc}") from exc


def from_service_error(exc: ServiceError) -> Problem:
    """The problem a client gets when a call to another service failed: 503 when it
    did not answer, its own 404/409/4xx (with its field errors) when it refused."""
    # The caller hears what the other service said about the request (its detail and
    # field errors), never the internal call (method, path, address): that is logged.
    log.info("client.error_answered", service=exc.service, error=str(exc), status=exc.status)
    if isinstance(exc, ServiceUnavailable):
        return unavailable(exc.service)
    errors = [
        FieldError(str(e.get("field", "body")), str(e.get("message", "")), str(e.get("code", "invalid")))
        for e in exc.errors
    ]
    said = str(exc.problem.get("detail") or "")
    if isinstance(exc, NotFound | Conflict | Rejected) and exc.status is not None:
        detail = said or f"the {exc.service} service refused the request"
        return Problem(exc.status, detail, slug="dependency-refused", errors=errors)
    return Problem(502, f"the {exc.service} service failed to answer properly", slug="dependency-error", errors=errors)
