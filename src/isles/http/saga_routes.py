"""Sagas over HTTP: the ``/sagas`` routes every orchestrating service gets, and how a
route that starts a saga answers its caller."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from isles.core.problems import FieldError, Problem, not_found
from isles.http.access import require
from isles.http.context import context_of
from isles.http.idempotency import IdempotentRequest
from isles.http.paging import Page, PagingDep
from isles.sagas.definition import Saga, SagaStatus, StepStatus
from isles.sagas.runner import SagaRunner
from isles.sagas.store import SagaState
from isles.security.tokens import Principal

_NAMESPACE = uuid.UUID("6f1c2a52-64b2-4c4e-9a57-1d0e8f7d5a11")
CALLBACK_TOKEN_HEADER = "Isles-Callback-Token"

router = APIRouter(prefix="/sagas", tags=["sagas"])


_ERROR_EXAMPLE: dict[str, Any] = {
    "status": 409,
    "detail": "project Apollo Guidance has no capacity left",
    "errors": [{"field": "project_id", "message": "has no capacity left", "code": "conflict"}],
}
#: A saga that was undone: its second step was refused, the first compensated (at the
#: second try). Every field has a value: FastAPI leaves a null out of an example.
_STEP_EXAMPLE: dict[str, Any] = {
    "position": 0,
    "name": "reserve_capacity",
    "status": "compensated",
    "attempts": 1,
    "result": {"reservation_id": "5d2f7c1e-0a4b-4c6d-8e9f-1a2b3c4d5e6f"},
    "error": _ERROR_EXAMPLE,
    "compensation_attempts": 2,
    "compensation_error": "ServiceUnavailable: project did not answer",
    "started_at": "2025-03-01T09:30:00Z",
    "finished_at": "2025-03-01T09:30:00.120000Z",
    "compensated_at": "2025-03-01T09:30:01Z",
}
_SAGA_EXAMPLE: dict[str, Any] = {
    "id": "8f804641-af4a-4b8e-9b1e-2f7c9d0e6a13",
    "saga_type": "CreateAssignment",
    "status": "compensated",
    "current_step": 1,
    "data": {"employee_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "allocation": 50},
    "error": _ERROR_EXAMPLE,
    "tenant_id": "1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed",
    "created_at": "2025-03-01T09:30:00Z",
    "updated_at": "2025-03-01T09:30:01Z",
    "finished_at": "2025-03-01T09:30:01Z",
    "steps": [_STEP_EXAMPLE],
}


class StepView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_STEP_EXAMPLE]})

    position: int
    name: str
    status: str
    attempts: int
    result: Any
    error: dict[str, Any] | None = Field(examples=[_ERROR_EXAMPLE])
    compensation_attempts: int
    compensation_error: str | None = Field(examples=["ServiceUnavailable: auth did not answer"])
    started_at: datetime | None
    finished_at: datetime | None
    compensated_at: datetime | None = Field(examples=["2025-03-01T09:30:01Z"])


class SagaView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_SAGA_EXAMPLE]})

    id: uuid.UUID
    saga_type: str
    status: str
    current_step: int
    data: dict[str, Any]
    error: dict[str, Any] | None = Field(examples=[_ERROR_EXAMPLE])
    tenant_id: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    steps: list[StepView]


class RetryView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"saga": _SAGA_EXAMPLE, "action": "resumes"}]})

    saga: SagaView
    action: str


class Callback(BaseModel):
    """A deferred step's answer: ``completed`` with its result, or ``refused``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"outcome": "completed", "result": {"approved_by": "Grace Hopper"}}]},
    )

    outcome: Literal["completed", "refused"]
    result: dict[str, Any] | None = None
    detail: Annotated[str, Field(max_length=2000, examples=["approved in the weekly review"])] = ""


class CallbackTaken(BaseModel):
    """What a participant learns when its answer is taken: that it was, and no more
    (not the saga's data, results or other steps)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"saga_id": "7d3f2c1e-5b4a-4e8f-9c2d-1a0b3c4d5e6f", "step": "approve", "outcome": "completed"}]
        }
    )

    saga_id: uuid.UUID
    step: str
    outcome: Literal["completed", "refused"]


def view(state: SagaState) -> SagaView:
    return SagaView.model_validate(state.as_dict())


def runner_of(request: Request) -> SagaRunner:
    runner = context_of(request).sagas
    if runner is None:
        raise Problem(404, "this service runs no sagas", slug="not-found")
    return runner


Runner = Annotated[SagaRunner, Depends(runner_of)]
ReadSagas = Annotated[Principal, Depends(require("sagas:read"))]
RetrySagas = Annotated[Principal, Depends(require("sagas:retry"))]


def _tenant(caller: Principal | None) -> str | None:
    """The sagas a caller sees: its company's (every one for an operator)."""
    if caller is None or caller.tenant is None:
        return None
    return str(caller.tenant)


async def _load(runner: SagaRunner, saga_id: uuid.UUID, caller: Principal | None = None) -> SagaState:
    state = await runner.store.load(saga_id)
    tenant = _tenant(caller)
    if state is None or (tenant is not None and state.tenant_id != tenant):
        raise not_found("saga", saga_id)
    return state


@router.get("", response_model=Page[SagaView])
async def list_sagas(
    runner: Runner,
    caller: ReadSagas,
    paging: PagingDep,
    status: Annotated[list[SagaStatus] | None, Query(description="Only these statuses.")] = None,
    saga_type: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[SagaView]:
    """The sagas this service orchestrates, newest first."""
    states, total = await runner.store.find(
        status=[s.value for s in status or ()],
        saga_type=saga_type,
        tenant_id=_tenant(caller),
        limit=paging.limit,
        offset=paging.offset,
    )
    return Page(items=[view(s) for s in states], total=total, limit=paging.limit, offset=paging.offset)


@router.get("/{saga_id}", response_model=SagaView)
async def get_saga(saga_id: uuid.UUID, runner: Runner, caller: ReadSagas) -> SagaView:
    """One saga with each step's status, attempts, result and error."""
    return view(await _load(runner, saga_id, caller))


@router.post("/{saga_id}/retry", response_model=RetryView)
async def retry_saga(saga_id: uuid.UUID, runner: Runner, caller: RetrySagas) -> RetryView:
    """An operator's retry: a failed saga's compensation goes on; an in-flight saga is taken up now."""
    await _load(runner, saga_id, caller)
    try:
        _before, action = await runner.store.reopen(saga_id)
    except KeyError:
        raise not_found("saga", saga_id) from None
    runner.kick()
    return RetryView(saga=view(await _load(runner, saga_id)), action=action)


@router.post(
    "/{saga_id}/steps/{step}/callback",
    response_model=CallbackTaken,
    responses={403: {"description": "The token does not match."}, 409: {"description": "Already answered."}},
)
async def step_callback(
    saga_id: uuid.UUID,
    step: Annotated[str, Path(max_length=100)],
    body: Callback,
    runner: Runner,
    token: Annotated[str, Header(alias=CALLBACK_TOKEN_HEADER, min_length=8, max_length=200)],
) -> CallbackTaken:
    """Answer a deferred step, with the token its request carried. The answer says it
    was taken; the saga itself is the orchestrator's business."""
    problem = None
    if body.outcome == "refused":
        problem = Problem(422, body.detail or f"step {step} was refused", slug="step-refused")
    answered = await runner.resolve(saga_id, step, result=body.result, problem=problem, token=token)
    if not answered:
        raise Problem(409, f"step {step} of saga {saga_id} is not waiting for an answer", slug="not-waiting")
    return CallbackTaken(saga_id=saga_id, step=step, outcome=body.outcome)


def saga_id_for(service: str, saga: str, key: str) -> uuid.UUID:
    """The id of the saga a request with ``Idempotency-Key: key`` starts."""
    return uuid.uuid5(_NAMESPACE, f"{service}:{saga}:{key}")


async def run_saga(
    runner: SagaRunner,
    saga: Saga,
    data: dict[str, Any],
    *,
    idempotency: IdempotentRequest | None = None,
    tenant_id: str = "",
    wait: float,
) -> SagaState:
    """Start ``saga`` for a request and wait up to ``wait`` seconds for its outcome. With
    an ``Idempotency-Key``, the saga's id comes from the key: a retried request finds
    the saga the first one started, and gets its outcome."""
    saga_id = None
    if idempotency is not None and idempotency.key is not None:
        saga_id = saga_id_for(runner.service, saga.name, idempotency.key)
        data = {**data, "request_fingerprint": idempotency.fingerprint}
        existing = await runner.store.load(saga_id)
        if existing is not None and existing.data.get("request_fingerprint") != idempotency.fingerprint:
            raise Problem(
                422,
                "this Idempotency-Key was used for another request; use a new key for a new request",
                slug="idempotency-key-reused",
                errors=[FieldError("Idempotency-Key", "used before with a different request", "reused")],
            )
    saga_id = await runner.begin(saga, data, saga_id=saga_id, tenant_id=tenant_id)
    return await runner.wait(saga_id, wait)


async def start_saga(
    request: Request,
    saga: Saga,
    data: dict[str, Any],
    *,
    tenant: uuid.UUID | str,
    completed: Callable[[SagaState], Awaitable[Response]],
    idempotency: IdempotentRequest | None = None,
) -> Response:
    """A route's whole answer for an operation that is a saga: start ``saga`` with
    ``data`` for ``tenant``, wait the configured while (``saga_wait_seconds``), then
    answer as :func:`answer` does (``completed(state)`` when it completed). With an
    ``Idempotency-Key`` (``idempotency``), a retried request gets the first one's saga.

    Example::

        @router.post("/desks/{desk_id}/holder")
        async def assign(desk_id: uuid.UUID, body: Holder, request: Request, caller: Write) -> Response:
            async def done(state: SagaState) -> Response: ...
            return await start_saga(request, ASSIGN, {...}, tenant=caller.tenant, completed=done)
    """
    context = context_of(request)
    if context.sagas is None or saga.name not in context.sagas.sagas:
        raise RuntimeError(f"service {context.name} does not declare the saga {saga.name} (Service(sagas=...))")
    state = await run_saga(
        context.sagas,
        saga,
        data,
        idempotency=idempotency,
        tenant_id=str(tenant),
        wait=context.settings.saga.wait_seconds,
    )
    return await answer(request, state, completed)


async def answer(request: Request, state: SagaState, completed: Callable[[SagaState], Awaitable[Response]]) -> Response:
    """The caller's answer: ``completed(state)`` when the saga completed; the failed
    step's problem (with ``saga_id``) when it was compensated; 202 with the saga's
    address while it is still under way."""
    location = f"{request.scope.get('root_path', '')}/sagas/{state.id}"
    if state.status is SagaStatus.COMPLETED:
        response = await completed(state)
        response.headers["Saga-Id"] = str(state.id)
        return response
    if state.status is SagaStatus.COMPENSATED:
        problem = Problem.from_body(state.error or {"status": 503, "detail": "the operation failed and was undone"})
        problem.extra["saga_id"] = str(state.id)
        if problem.status == 503:
            problem.headers = {"Retry-After": "1"}  # everything was undone: trying again is safe
        raise problem
    if state.status is SagaStatus.FAILED:
        raise Problem(
            502,
            "the operation failed and could not be fully undone; an operator has been told",
            slug="saga-failed",
            extra={"saga_id": str(state.id), "saga": location, "cause": state.error},
        )
    waiting = any(s.status is StepStatus.WAITING for s in state.steps)
    body = {
        "saga_id": str(state.id),
        "status": state.status.value,
        "waiting_for": next((s.name for s in state.steps if s.status is StepStatus.WAITING), None) if waiting else None,
        "saga": location,
    }
    return JSONResponse(body, status_code=202, headers={"Location": location, "Saga-Id": str(state.id)})
