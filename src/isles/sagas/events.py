"""The platform's own event about sagas: ``isles.SagaFinished``.

Each service that orchestrates sagas writes one into its outbox when a saga reaches an
end state (completed, compensated, or failed: a compensation gave up and the saga waits
for an operator), in the same transaction as the state write that ends it. A saga an
operator retries (``isles sagas retry``) and that ends again writes another, at a
higher aggregate version. Every service with sagas publishes it (added to its
``publishes`` by its declaration, unless ``saga_events=False``).

What it carries is the saga's shape and outcome, never its data: the error is the
problem's slug (``saga-step-timeout``), not its detail, which may name a person.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, Literal

from isles.core.events import Envelope, Event

if TYPE_CHECKING:
    from isles.sagas.store import SagaState

#: The aggregate type of the event (its id: the saga's).
AGGREGATE_TYPE = "saga"
_END = ("completed", "compensated", "failed")


class SagaFinished(Event):
    """A saga reached an end state (see :mod:`isles.sagas.events`)."""

    event_type: ClassVar[str] = "isles.SagaFinished"
    schema_version: ClassVar[int] = 1

    saga_id: uuid.UUID
    saga: str  # the saga's name, e.g. employee.CreateEmployee
    service: str  # the orchestrating service
    status: Literal["completed", "compensated", "failed"]
    tenant: uuid.UUID | None  # the company it ran for; None: across tenants (the operator's)
    started_at: datetime
    finished_at: datetime
    duration_seconds: float
    steps: int
    completed_steps: int  # steps whose action succeeded (undone later or not)
    compensated_steps: tuple[str, ...] = ()
    failed_step: str | None = None  # the step whose action failed (refused, timed out, no answer)
    error: str | None = None  # the problem's slug (or title): never its detail
    attempts: int = 0  # every attempt at an action or a compensation


def _tenant(tenant_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(tenant_id) if tenant_id else None
    except ValueError:
        return None


def _slug(problem: object) -> str | None:
    if not isinstance(problem, dict):
        return None
    kind = problem.get("type")
    if isinstance(kind, str) and kind.startswith("urn:isles:problem:"):
        return kind.rsplit(":", 1)[-1][:100]
    title = problem.get("title")
    return str(title)[:100] if title else None


def saga_finished(state: SagaState, service: str, finished_at: datetime) -> SagaFinished:
    """The event of ``state``, a saga just written in an end state."""
    failed = next((s for s in state.steps if s.error is not None), None)
    error = _slug(state.error)
    if state.status.value == "failed" and error is None:
        error = "compensation-failed"
    started = state.created_at
    return SagaFinished(
        saga_id=state.id,
        saga=state.saga_type,
        service=service,
        status=state.status.value,  # one of _END: the caller checks
        tenant=_tenant(state.tenant_id),
        started_at=started,
        finished_at=finished_at,
        duration_seconds=round(max(0.0, (finished_at - started).total_seconds()), 3),
        steps=len(state.steps),
        completed_steps=sum(1 for s in state.steps if s.finished_at is not None and s.error is None),
        compensated_steps=tuple(s.name for s in state.steps if s.status.value == "compensated"),
        failed_step=failed.name if failed is not None else None,
        error=error,
        attempts=sum(s.attempts + s.compensation_attempts for s in state.steps),
    )


def ends(status: object) -> bool:
    """Whether a saga written with ``status`` has reached an end state."""
    return str(getattr(status, "value", status)) in _END


def envelope(event: SagaFinished, *, service: str, version: int, tenant_id: str) -> Envelope:
    """The event as ``service`` writes it to its outbox: aggregate ``saga``, the saga's
    id, at ``version``; for the saga's tenant."""
    return Envelope.new(
        event,
        source=f"/isles/{service}",
        aggregate_type=AGGREGATE_TYPE,
        aggregate_id=str(event.saga_id),
        aggregate_version=version,
        tenant_id=tenant_id,
    )


__all__ = ["AGGREGATE_TYPE", "SagaFinished", "envelope", "saga_finished"]
