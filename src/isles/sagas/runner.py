"""The saga runner of one service: starts, drives, resumes and compensates its sagas.

A saga's state is written before and after each step (for a local step, its change
and its state commit together), so a process killed between any two writes leaves a
state another run can go on from: the step under way is tried again with the same
idempotency key, and the participant gives the first answer again instead of acting
twice. A process drives a saga while it holds its lease (renewed as it goes); on
start, and every ``poll_interval`` after, the runner takes up every in-flight saga
that nobody drives.

Forward: step by step. A refusal (4xx, :class:`StepFailed`) fails the step at once;
a failure that might pass is retried with jittered backoff, up to the step's
``max_attempts``. Backward, after a failure: the compensations of the completed
steps, in reverse order (and of the failed step too when its outcome is unknown),
each retried until it succeeds or its attempts run out; then the saga is *failed*
and waits for an operator.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from isles.clients.service import ServiceClient, ServiceError, ServiceUnavailable, from_service_error
from isles.core import failpoints, tracing
from isles.core.clock import utcnow
from isles.core.problems import Problem, not_found
from isles.core.settings import SagaSettings
from isles.core.tasks import cancel_and_wait
from isles.sagas.callbacks import CallbackTokens, digest, matches
from isles.sagas.definition import (
    Saga,
    SagaStatus,
    Step,
    StepContext,
    StepFailed,
    StepStatus,
    action_key,
    compensation_key,
)
from isles.sagas.store import SagaState, SagaStore, StaleState, StepState, dump
from isles.storage.db import ServiceDatabase
from isles.storage.outbox import relay_identity
from isles.storage.tenancy import ACROSS_TENANTS, AcrossTenants
from isles.storage.uow import UnitOfWork

if TYPE_CHECKING:
    from isles.ops.metrics import Metrics

log = structlog.get_logger("isles.sagas")
# A write of saga state: changes of the saga row, and of some step rows (position, changes).
Change = tuple[dict[str, Any], list[tuple[int, dict[str, Any]]]]
_RELEASE = {"owner": None, "lease_until": None}  # a write after which nobody drives the saga


T = TypeVar("T")


class StepTimedOut(TimeoutError):
    """The step's own bound (``Step.timeout``) ran out before it answered."""


async def _within(step: Step, work: Awaitable[T]) -> T:
    """``work`` within the step's timeout; its running out is a :class:`StepTimedOut`,
    told apart from a TimeoutError the step raised itself."""
    try:
        async with asyncio.timeout(step.timeout) as bound:
            return await work
    except TimeoutError as exc:
        if bound.expired():
            raise StepTimedOut(f"no answer within {step.timeout}s") from exc
        raise


def classify(exc: BaseException, step: Step) -> tuple[bool, Problem]:
    """(definite, problem): was it a refusal (retrying cannot help, nothing was done),
    and what is the saga's caller told."""
    if isinstance(exc, StepFailed):
        return True, exc.problem
    if isinstance(exc, Problem):
        return 400 <= exc.status < 500, exc
    if isinstance(exc, ServiceUnavailable):
        return False, from_service_error(exc)
    if isinstance(exc, ServiceError):
        return exc.status is not None and 400 <= exc.status < 500, from_service_error(exc)
    if isinstance(exc, failpoints.FailpointError):
        status = 422 if exc.definite else 503
        return exc.definite, Problem(status, f"step {step.name}: {exc}", slug="injected-failure")
    if isinstance(exc, StepTimedOut):
        return False, Problem(504, f"step {step.name} had no answer within {step.timeout}s", slug="saga-step-timeout")
    if isinstance(exc, TimeoutError):  # raised by the step itself (a provider's own timeout)
        said = f": {exc}" if str(exc) else ""
        return False, Problem(504, f"step {step.name} timed out{said}", slug="saga-step-timeout")
    return False, Problem(
        503,
        f"step {step.name} failed: {type(exc).__name__}: {exc}",
        slug="saga-step-error",
        headers={"Retry-After": "1"},
    )


def saga_tenant(tenant_id: str) -> uuid.UUID | AcrossTenants:
    """The tenant a saga's local steps act for: its company, or every company for a
    saga started by a caller of none (the operator)."""
    return uuid.UUID(tenant_id) if tenant_id else ACROSS_TENANTS


class SagaRunner:
    def __init__(
        self,
        *,
        service: str,
        db: ServiceDatabase,
        sagas: Sequence[Saga],
        new_uow: Callable[..., UnitOfWork],
        clients: Callable[[str, str], ServiceClient] | None = None,
        settings: SagaSettings | None = None,
        metrics: Metrics | None = None,
        callbacks: CallbackTokens | None = None,
        tracer: tracing.Tracer | None = None,
        publish: bool = True,
        on_event: Callable[[], None] | None = None,
    ) -> None:
        """``tracer``: a span per attempt at a step or its compensation (None: tracing
        is off). ``publish``: write an ``isles.SagaFinished`` to the service's outbox
        with the state write that ends each saga; ``on_event`` is called once it is
        committed (the relay's wake)."""
        self.service = service
        self._tracer = tracer
        self.callbacks = callbacks or CallbackTokens.from_key(None)
        self.db = db
        self.sagas = {s.name: s for s in sagas}
        self.settings = settings or SagaSettings()
        self.store = SagaStore(
            db,
            owner=relay_identity(),
            lease=timedelta(seconds=self.settings.lease_seconds),
            publish=service if publish else None,
        )
        self._on_event = on_event
        self._new_uow = new_uow
        self._clients = clients
        self._metrics = metrics
        self._tasks: dict[uuid.UUID, asyncio.Task[SagaState | None]] = {}
        self._again: set[uuid.UUID] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    # -- life -------------------------------------------------------------------

    async def start(self) -> None:
        """Resume every saga in flight, then keep looking for sagas nobody drives."""
        self._stopping = False
        if self.db.is_sqlite:
            await self.store.release_all()
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep(), name=f"sagas:{self.service}")

    async def stop(self) -> None:
        """Stop driving; sagas under way are released (another process, or the next
        start, resumes them from their last written state)."""
        self._stopping = True
        driving = list(self._tasks)
        tasks = [t for t in (self._sweeper, *self._tasks.values()) if t is not None]
        await cancel_and_wait(tasks)
        self._sweeper = None
        for saga_id in driving:
            with contextlib.suppress(Exception):
                await self.store.release(saga_id)
        self._tasks.clear()

    @property
    def idle(self) -> bool:
        return not self._tasks

    def kick(self) -> None:
        """Look for sagas to drive now instead of at the next poll."""
        self._wake.set()

    async def _sweep(self) -> None:
        while not self._stopping:
            try:
                for saga_id in await self.store.due():
                    self._spawn(saga_id)
            except Exception as exc:
                if self._stopping:
                    return
                log.warning("sagas.sweep_failed", service=self.service, error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.poll_interval)
            self._wake.clear()

    def _spawn(self, saga_id: uuid.UUID, state: SagaState | None = None) -> None:
        """Drive the saga in a task of its own, unless this process drives it already
        (then once more after that drive ends). ``state``: a saga this process just
        wrote and holds, so it need not be leased or read again."""
        if self._stopping:
            return
        running = self._tasks.get(saga_id)
        if running is not None and not running.done():
            self._again.add(saga_id)
            return
        task = asyncio.create_task(self._drive(saga_id, state), name=f"saga:{saga_id}")
        self._tasks[saga_id] = task

        def done(t: asyncio.Task[SagaState | None]) -> None:
            if self._tasks.get(saga_id) is t:
                del self._tasks[saga_id]
            if saga_id in self._again:
                self._again.discard(saga_id)
                self._spawn(saga_id)

        task.add_done_callback(done)

    # -- what services call -------------------------------------------------------

    def saga(self, name: str) -> Saga:
        try:
            return self.sagas[name]
        except KeyError:
            raise KeyError(f"{self.service} runs no saga {name!r}; it runs {sorted(self.sagas)}") from None

    async def begin(
        self, saga: Saga | str, data: dict[str, Any], *, saga_id: uuid.UUID | None = None, tenant_id: str = ""
    ) -> uuid.UUID:
        """Write a new saga and start driving it. With a ``saga_id`` that exists (a
        caller's retry), nothing new is written: the existing saga goes on."""
        definition = self.saga(saga if isinstance(saga, str) else saga.name)
        saga_id = saga_id or uuid.uuid4()
        first = self._marker(definition, saga_id, 0, None)
        async with self.db.writing() as session, session.begin():
            state = await self.store.create(
                session, saga_id=saga_id, saga=definition, data=data, tenant_id=tenant_id, first=first
            )
        if state is not None:
            if self._metrics is not None:
                self._metrics.saga_started.labels(self.service, definition.name).inc()
            log.info("saga.started", service=self.service, saga=definition.name, saga_id=str(saga_id))
            await failpoints.hit(f"saga.{definition.name}.started")
        self._spawn(saga_id, state)
        return saga_id

    async def wait(self, saga_id: uuid.UUID, timeout: float) -> SagaState:  # noqa: ASYNC109 - a bound for an API answer
        """The saga's state once it is finished, failed, or waiting for a deferred
        answer, or as it is after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            task = self._tasks.get(saga_id)
            state = None
            if task is not None:
                with contextlib.suppress(TimeoutError):
                    left = max(0.0, deadline - time.monotonic())
                    state = await asyncio.wait_for(asyncio.shield(task), timeout=left)
            if state is None or not _settled(state):
                state = await self.store.load(saga_id)
            if state is None:
                raise KeyError(f"no saga {saga_id}")
            if _settled(state) or time.monotonic() >= deadline:
                return state
            await asyncio.sleep(0.02 if saga_id in self._tasks else 0.1)

    async def resolve(
        self,
        saga_id: uuid.UUID,
        step: str,
        *,
        result: Any = None,
        problem: Problem | None = None,
        token: str | None = None,
        uow: UnitOfWork | None = None,
    ) -> bool:
        """Answer a deferred step: its result, or (``problem``) its refusal. From an event
        handler, pass its ``uow``: the answer commits with the inbox mark. From a
        callback, pass the ``token`` the step was given. False if the step was answered
        already or has timed out (the answer is then ignored)."""
        if uow is not None:
            answered = await self._resolve(uow.session, saga_id, step, result, problem, token)
            uow.after_commit(lambda: self._spawn(saga_id))
            return answered
        async with self.db.writing() as session, session.begin():
            answered = await self._resolve(session, saga_id, step, result, problem, token)
        self._spawn(saga_id)
        return answered

    async def _resolve(
        self,
        session: AsyncSession,
        saga_id: uuid.UUID,
        name: str,
        result: Any,
        problem: Problem | None,
        token: str | None,
    ) -> bool:
        state = await self.store.load(saga_id, session)
        if state is None or state.saga_type not in self.sagas:
            raise not_found("saga", saga_id)
        saga = self.sagas[state.saga_type]
        try:
            k = saga.index(name)
        except KeyError:
            raise not_found("step", name) from None
        row = state.steps[k]
        if token is not None and not matches(row.callback_token, token):
            raise Problem(403, "the callback token does not match this step", slug="bad-callback-token")
        waiting = row.status in (StepStatus.RUNNING, StepStatus.WAITING) and saga.steps[k].deferred
        if state.status is not SagaStatus.RUNNING or state.current_step != k or not waiting:
            return False
        now = utcnow()
        if problem is None:
            await self.store.write(
                session,
                state,
                {"current_step": k + 1, "wake_at": None},
                [(k, {"status": StepStatus.COMPLETED.value, "result": dump(result), "finished_at": now})],
                owned=False,
            )
        else:
            await self.store.write(
                session,
                state,
                {"status": SagaStatus.COMPENSATING.value, "error": dump(problem.body("")), "wake_at": None},
                [(k, {"status": StepStatus.FAILED.value, "error": dump(problem.body("")), "finished_at": now})],
                owned=False,
            )
        return True

    # -- driving ------------------------------------------------------------------

    async def _drive(self, saga_id: uuid.UUID, state: SagaState | None) -> SagaState | None:
        """Drive one saga while this process holds it. Returns its state at the end."""
        marked = state is not None  # just written by us, its first step marked running
        if state is None:
            try:
                if not await self.store.acquire(saga_id):
                    return None
                state = await self.store.load(saga_id)
            except Exception as exc:
                log.warning("saga.acquire_failed", saga_id=str(saga_id), error=repr(exc))
                return None
        if self._tracer is not None and state is not None and not tracing.current():
            # Resumed with no request behind it (the sweeper: after a restart, a lease
            # run out, a deferred step's deadline): its steps in one trace, under this span.
            attributes = {"isles.saga.id": str(saga_id), "isles.saga.name": state.saga_type}
            with tracing.span(self._tracer, f"saga {state.saga_type} resume", "internal", attributes):
                return await self._held(saga_id, state, marked)
        return await self._held(saga_id, state, marked)

    async def _held(self, saga_id: uuid.UUID, state: SagaState | None, marked: bool) -> SagaState | None:
        """Drive the saga this process holds now (see :meth:`_drive`)."""
        heartbeat = asyncio.create_task(self._heartbeat(saga_id))
        try:
            while not self._stopping and state is not None:
                if state.owner != self.store.owner or not state.status.in_flight:
                    return state  # finished, parked, waiting (each write gave up the lease), or taken over
                saga = self.sagas.get(state.saga_type)
                if saga is None:
                    log.error("saga.unknown_type", service=self.service, saga=state.saga_type, saga_id=str(saga_id))
                    return state
                try:
                    if state.status is SagaStatus.RUNNING:
                        state, marked = await self._forward(saga, state, marked=marked)
                    else:
                        state = await self._backward(saga, state)
                except StaleState:
                    state, marked = await self.store.load(saga_id), False  # answered or reopened meanwhile
            return state
        except Exception as exc:
            if not self._stopping:
                log.warning("saga.drive_failed", service=self.service, saga_id=str(saga_id), error=repr(exc))
            state = None
            return None
        finally:
            await cancel_and_wait([heartbeat])
            if not self._stopping and (state is None or state.owner == self.store.owner):
                with contextlib.suppress(Exception):
                    await self.store.release(saga_id)

    async def _heartbeat(self, saga_id: uuid.UUID) -> None:
        while True:
            await asyncio.sleep(self.settings.lease_seconds / 3)
            with contextlib.suppress(Exception):
                await self.store.renew(saga_id)

    def _marker(self, saga: Saga, saga_id: uuid.UUID, k: int, row: StepState | None) -> dict[str, Any]:
        """Step ``k`` marked running, one more attempt counted (written before it acts)."""
        marker: dict[str, Any] = {"status": StepStatus.RUNNING.value, "attempts": (row.attempts if row else 0) + 1}
        if row is None or row.started_at is None:
            marker["started_at"] = utcnow()
        if saga.steps[k].deferred and not (row and row.callback_token):
            # One token for every attempt (a retried request must be the same request):
            # derived from the saga and the step; the row keeps only its digest.
            marker["callback_token"] = digest(self.callbacks.token(saga_id, saga.steps[k].name))
        return marker

    def _context(self, saga: Saga, state: SagaState, k: int, *, undo: bool) -> StepContext:
        step, row = saga.steps[k], state.steps[k]
        return StepContext(
            saga_id=state.id,
            saga_type=saga.name,
            step=step.name,
            data=state.data,
            results=state.results,
            key=compensation_key(state.id, step.name) if undo else action_key(state.id, step.name),
            action_key=action_key(state.id, step.name),
            attempt=row.compensation_attempts if undo else row.attempts,
            tenant_id=state.tenant_id,
            result=row.result,
            callback_token=self.callbacks.shown(state.id, step.name, row.callback_token),
            clients=self._clients,
            reader=functools.partial(self.db.read_session, tenant=saga_tenant(state.tenant_id)),
            db=self.db,
        )

    async def _write(
        self, state: SagaState, saga: dict[str, Any], steps: Sequence[tuple[int, dict[str, Any]]] = ()
    ) -> SagaState:
        async with self.db.writing() as session, session.begin():
            return await self.store.write(session, state, saga, steps)

    async def _forward(self, saga: Saga, state: SagaState, *, marked: bool) -> tuple[SagaState, bool]:
        """One attempt at the current step. ``marked``: this process has just written the
        step's running marker for this attempt. Returns the new state, and whether the
        next step's attempt is marked already."""
        k = state.current_step
        if k >= len(saga.steps):  # the last step was a deferred one, answered
            return await self._finish(saga, state, SagaStatus.COMPLETED), False
        step, row = saga.steps[k], state.steps[k]
        point = f"saga.{saga.name}.{step.name}"
        if row.status is StepStatus.WAITING:
            if state.wake_at is not None and utcnow() < state.wake_at:
                await self.store.release(state.id)  # not yet: the sweeper comes back at the deadline
                return dataclasses.replace(state, owner=None), False
            timeout = Problem(504, f"step {step.name} had no answer in time", slug="saga-step-timeout")
            return await self._fail(saga, state, k, timeout, uncertain=True), False
        if not marked:
            if row.status is StepStatus.RUNNING and row.attempts >= step.max_attempts:
                # Its last attempt was under way when the process stopped: none is left.
                detail = f"step {step.name}: no outcome after {row.attempts} attempts"
                problem = Problem(503, detail, slug="saga-step-error")
                return await self._fail(saga, state, k, problem, uncertain=not step.local), False
            state = await self._write(state, {}, [(k, self._marker(saga, state.id, k, row))])
        ctx = self._context(saga, state, k, undo=False)
        try:
            await failpoints.hit(f"{point}.before")

            def after(result: Any) -> Change:
                if step.deferred:  # asked: the answer is awaited until the deadline, by nobody
                    wake = {"wake_at": utcnow() + timedelta(seconds=step.deadline), **_RELEASE}
                    return wake, [(k, {"status": StepStatus.WAITING.value})]
                steps = [(k, _completed(result))]
                if k + 1 < len(saga.steps):
                    following = self._marker(saga, state.id, k + 1, state.steps[k + 1])
                    return {"current_step": k + 1}, [*steps, (k + 1, following)]
                return {"current_step": k + 1, **_finished(SagaStatus.COMPLETED)}, steps

            with self._step_span(saga, state, step, ctx, undo=False):
                state = await self._attempt(step.action, step, state, ctx, point, after)
            await failpoints.hit(f"{point}.done")
            if state.status is SagaStatus.COMPLETED:
                self._ended(saga, state)
            return state, True
        except StaleState:
            raise
        except Exception as exc:
            if self._stopping:
                raise asyncio.CancelledError from exc
            definite, problem = classify(exc, step)
            if definite and 400 <= problem.status < 500:
                # A refusal (no capacity left, no such employee): the saga's ordinary
                # business, told to the caller and recorded with the saga; not an alarm.
                log.info(
                    "saga.step_refused",
                    service=self.service,
                    saga=saga.name,
                    saga_id=str(state.id),
                    step=step.name,
                    status=problem.status,
                    detail=problem.detail,
                    errors=problem.errors or None,
                )
            else:
                log.warning(
                    "saga.step_failed",
                    service=self.service,
                    saga=saga.name,
                    saga_id=str(state.id),
                    step=step.name,
                    attempt=ctx.attempt,
                    definite=definite,
                    error=repr(exc),
                )
            if not definite and ctx.attempt < step.max_attempts:
                await asyncio.sleep(self.settings.delay(ctx.attempt, self.settings.retry_max_delay))
                return state, False
            return await self._fail(saga, state, k, problem, uncertain=not definite and not step.local), False

    async def _attempt(
        self,
        fn: Callable[[StepContext], Awaitable[Any]],
        step: Step,
        state: SagaState,
        ctx: StepContext,
        point: str,
        after: Callable[[Any], Change],
    ) -> SagaState:
        """Run ``fn`` (an action or a compensation) once, within the step's timeout, then
        write the saga change ``after(result)`` gives: for a local step in the same
        transaction as ``fn``'s own changes, otherwise right after it answered."""
        if not step.local:
            result = await _within(step, fn(ctx))
            await failpoints.hit(f"{point}.after")
            return await self._write(state, *after(result))
        async with self._new_uow(tenant=saga_tenant(state.tenant_id)) as uow:
            uow.hold()
            ctx._uow = uow
            result = await _within(step, fn(ctx))
            await failpoints.hit(f"{point}.after")
            state = await self.store.write(uow.session, state, *after(result))
            await uow.release()
        return state

    def _step_span(
        self, saga: Saga, state: SagaState, step: Step, ctx: StepContext, *, undo: bool
    ) -> contextlib.AbstractContextManager[object]:
        """A span over one attempt at ``step`` (or its compensation), the child of the
        current traceparent: the request's that began the saga while it drives it."""
        if self._tracer is None:
            return contextlib.nullcontext()
        return tracing.span(
            self._tracer,
            f"saga {saga.name} {step.name}" + (" compensate" if undo else ""),
            "internal",
            {
                "isles.saga.id": str(state.id),
                "isles.saga.name": saga.name,
                "isles.saga.step": step.name,
                "isles.saga.compensation": undo,
                "isles.saga.attempt": ctx.attempt,
            },
        )

    async def _fail(self, saga: Saga, state: SagaState, k: int, problem: Problem, *, uncertain: bool) -> SagaState:
        step = saga.steps[k]
        status = StepStatus.UNCERTAIN if uncertain and step.compensation is not None else StepStatus.FAILED
        body = dump(problem.body(""))
        state = await self._write(
            state,
            {"status": SagaStatus.COMPENSATING.value, "error": body, "current_step": k, "wake_at": None},
            [(k, {"status": status.value, "error": body, "finished_at": utcnow()})],
        )
        log.info("saga.compensating", service=self.service, saga=saga.name, saga_id=str(state.id), failed=step.name)
        return state

    async def _backward(self, saga: Saga, state: SagaState) -> SagaState:
        """One attempt at the next compensation, the latest step first."""
        k = state.current_step
        undoable = (StepStatus.COMPLETED, StepStatus.UNCERTAIN, StepStatus.COMPENSATING)
        while k >= 0 and not (saga.steps[k].compensation is not None and state.steps[k].status in undoable):
            k -= 1
        if k < 0:
            return await self._finish(saga, state, SagaStatus.COMPENSATED)
        step, row = saga.steps[k], state.steps[k]
        point = f"saga.{saga.name}.{step.name}.undo"
        if row.status is StepStatus.COMPENSATING and row.compensation_attempts >= step.compensation_attempts:
            return await self._park(
                saga, state, k, row.compensation_error or "no outcome: the process stopped mid-attempt"
            )
        marker = {"status": StepStatus.COMPENSATING.value, "compensation_attempts": row.compensation_attempts + 1}
        state = await self._write(state, {"current_step": k}, [(k, marker)])
        ctx = self._context(saga, state, k, undo=True)
        assert step.compensation is not None
        done = {"status": StepStatus.COMPENSATED.value, "compensated_at": utcnow(), "compensation_error": None}
        try:
            await failpoints.hit(f"{point}.before")
            with self._step_span(saga, state, step, ctx, undo=True):
                state = await self._attempt(
                    step.compensation, step, state, ctx, point, lambda _: ({"current_step": k - 1}, [(k, done)])
                )
            await failpoints.hit(f"{point}.done")
        except StaleState:
            raise
        except Exception as exc:
            if self._stopping:
                raise asyncio.CancelledError from exc
            error = _describe(exc, step)
            if self._metrics is not None:
                self._metrics.saga_compensations.labels(self.service, saga.name, step.name, "failed").inc()
            log.warning(
                "saga.compensation_failed",
                service=self.service,
                saga=saga.name,
                saga_id=str(state.id),
                step=step.name,
                attempt=ctx.attempt,
                error=error,
            )
            if ctx.attempt >= step.compensation_attempts:
                return await self._park(saga, state, k, error)
            state = await self._write(state, {}, [(k, {"compensation_error": error})])
            await asyncio.sleep(self.settings.delay(ctx.attempt, self.settings.compensation_max_delay))
            return state
        if self._metrics is not None:
            self._metrics.saga_compensations.labels(self.service, saga.name, step.name, "compensated").inc()
        return state

    async def _park(self, saga: Saga, state: SagaState, k: int, error: str) -> SagaState:
        state = await self._write(
            state,
            {"status": SagaStatus.FAILED.value, "current_step": k, **_RELEASE},
            [(k, {"status": StepStatus.PARKED.value, "compensation_error": error})],
        )
        self._ended(saga, state)
        log.error(
            "saga.failed",
            service=self.service,
            saga=saga.name,
            saga_id=str(state.id),
            step=saga.steps[k].name,
            error=error,
            hint=f"fix the cause, then: isles sagas retry {state.id} --service {self.service}",
        )
        return state

    async def _finish(self, saga: Saga, state: SagaState, status: SagaStatus) -> SagaState:
        state = await self._write(state, _finished(status))
        self._ended(saga, state)
        return state

    def _ended(self, saga: Saga, state: SagaState) -> None:
        log.info(
            "saga.finished", service=self.service, saga=saga.name, saga_id=str(state.id), status=state.status.value
        )
        if self._on_event is not None and self.store.publish is not None:
            self._on_event()  # its SagaFinished is in the outbox
        if self._metrics is None:
            return
        seconds = (utcnow() - state.created_at).total_seconds()
        self._metrics.saga_finished.labels(self.service, saga.name, state.status.value).inc()
        self._metrics.saga_duration.labels(self.service, saga.name, state.status.value).observe(seconds)


def _settled(state: SagaState) -> bool:
    """Finished, failed, or waiting for a deferred answer: nothing more happens by itself soon."""
    return not state.status.in_flight or any(s.status is StepStatus.WAITING for s in state.steps)


def _finished(status: SagaStatus) -> dict[str, Any]:
    return {"status": status.value, "finished_at": utcnow(), "wake_at": None, **_RELEASE}


def _describe(exc: BaseException, step: Step) -> str:
    if isinstance(exc, TimeoutError) and not str(exc):
        return f"TimeoutError: no answer within {step.timeout}s"
    return f"{type(exc).__name__}: {exc}"


def _completed(result: Any) -> dict[str, Any]:
    return {"status": StepStatus.COMPLETED.value, "result": dump(result), "finished_at": utcnow()}
