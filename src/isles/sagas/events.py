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
from typing import ClassVar, Literal

from isles.core.events import Envelope, Event

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


def tenant_of(tenant_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(tenant_id) if tenant_id else None
    except ValueError:
        return None


def problem_slug(problem: object) -> str | None:
    if not isinstance(problem, dict):
        return None
    kind = problem.get("type")
    if isinstance(kind, str) and kind.startswith("urn:isles:problem:"):
        return kind.rsplit(":", 1)[-1][:100]
    title = problem.get("title")
    return str(title)[:100] if title else None


def ends(status: object) -> bool:
    """Whether a saga written with ``status`` has reached an end state."""
    return str(getattr(status, "value", status)) in _END


def envelope(event: SagaFinished, *, service: str, version: int, tenant_id: str, traceparent: str = "") -> Envelope:
    """The event as ``service`` writes it to its outbox: aggregate ``saga``, the saga's
    id, at ``version``; for the saga's tenant; a child of ``traceparent`` (the span of
    the work that ended the saga: a step's, its request's or its resumption's)."""
    return Envelope.new(
        event,
        source=f"/isles/{service}",
        aggregate_type=AGGREGATE_TYPE,
        aggregate_id=str(event.saga_id),
        aggregate_version=version,
        tenant_id=tenant_id,
        traceparent=traceparent,
    )


__all__ = ["AGGREGATE_TYPE", "SagaFinished", "ends", "envelope", "problem_slug", "tenant_of"]
