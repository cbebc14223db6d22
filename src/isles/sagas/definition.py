"""A saga, declared: ordered steps, each an action with an optional compensation."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from isles.core.problems import Problem

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from isles.clients.service import ServiceClient
    from isles.storage.db import ServiceDatabase
    from isles.storage.uow import UnitOfWork

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.]{0,99}$")


class SagaStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    COMPENSATING = "compensating"
    COMPENSATED = "compensated"
    FAILED = "failed"  # a compensation gave up: needs an operator

    @property
    def in_flight(self) -> bool:
        return self in (SagaStatus.RUNNING, SagaStatus.COMPENSATING)

    @property
    def finished(self) -> bool:
        return self in (SagaStatus.COMPLETED, SagaStatus.COMPENSATED)


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"  # an attempt is under way (written before the action is called)
    WAITING = "waiting"  # a deferred step: asked, waiting for its answer
    COMPLETED = "completed"
    FAILED = "failed"  # refused: it did nothing, nothing to undo
    UNCERTAIN = "uncertain"  # failed without a definite answer: its compensation runs too
    COMPENSATING = "compensating"
    COMPENSATED = "compensated"
    PARKED = "parked"  # its compensation gave up; see compensation_error


class StepFailed(Exception):
    """Raised by an action: the step is refused for good (no retry). ``problem`` is
    what the saga's caller is told."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.detail)
        self.problem = problem


@dataclass
class StepContext:
    """What an action or a compensation gets.

    ``key`` is the idempotency key of this very call (send it as ``Idempotency-Key``);
    a compensation also gets ``action_key`` (the key of the call it undoes, to send as
    ``Isles-Compensates``) and ``result``, the action's result (None if the action's
    outcome is unknown). ``uow`` is open for a local step (its changes commit with the
    step's state); any step may read its own database with ``read_session()``."""

    saga_id: uuid.UUID
    saga_type: str
    step: str
    data: dict[str, Any]
    results: dict[str, Any]
    key: str
    action_key: str
    attempt: int
    tenant_id: str
    result: Any = None
    callback_token: str = ""
    clients: Callable[[str, str], ServiceClient] | None = field(default=None, repr=False)
    reader: Callable[[], AsyncSession] | None = field(default=None, repr=False)
    #: the orchestrating service's database, for a step whose adapter keeps its own
    #: state there in transactions of its own (a fake payment provider)
    db: ServiceDatabase | None = field(default=None, repr=False)
    _uow: UnitOfWork | None = field(default=None, repr=False)

    @property
    def uow(self) -> UnitOfWork:
        if self._uow is None:
            raise RuntimeError(f"step {self.step} is not local: it has no unit of work")
        return self._uow

    def read_session(self) -> AsyncSession:
        """A read-only session on this service's own database (any step may read), of
        the saga's company."""
        if self.reader is None:
            raise RuntimeError("no database configured")
        return self.reader()

    def client(self, target: str) -> ServiceClient:
        if self.clients is None:
            raise RuntimeError("no service clients configured")
        return self.clients(target, self.tenant_id)

    @property
    def callback_path(self) -> str:
        """Where a deferred step's answer is posted (below the service's API)."""
        return f"/sagas/{self.saga_id}/steps/{self.step}/callback"


Action = Callable[[StepContext], Awaitable[Any]]
Compensation = Callable[[StepContext], Awaitable[None]]


@dataclass(frozen=True)
class Step:
    """One step of a saga.

    ``action`` returns the step's result (JSON-able; later steps find it in
    ``ctx.results``). ``local``: it changes only this service's database; the action,
    its result and the step's state commit in one transaction. ``timeout`` bounds each
    attempt. A ``deferred`` step's action only asks; its answer comes later by an event
    or a callback (see :meth:`isles.sagas.SagaRunner.resolve`), within ``deadline``
    seconds, else the step fails as timed out. A failure that
    might pass (no answer, a timeout, a 5xx) is retried, up to ``max_attempts`` in all;
    a refusal (4xx, :class:`StepFailed`) is not. A compensation is retried until it
    succeeds or ``compensation_attempts`` are used up; then the saga is *failed* and
    waits for an operator (``isles sagas retry``).

    ``service`` names the service whose API the action calls (or the outside system
    it calls, a payment provider): ``isles map`` draws the sagas that span services
    from it. A local step calls no one and names no service."""

    name: str
    action: Action
    compensation: Compensation | None = None
    local: bool = False
    deferred: bool = False
    timeout: float = 10.0
    max_attempts: int = 5
    compensation_attempts: int = 10
    deadline: float = 24 * 3600.0
    service: str | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"step name {self.name!r}: letters, digits, _ and . only")
        if self.local and self.service is not None:
            raise ValueError(
                f"step {self.name}: a local step changes only its own service's database, "
                f"it calls no service (service={self.service!r})"
            )
        if self.service is not None and not _NAME.match(self.service):
            raise ValueError(f"step {self.name}: service name {self.service!r}: letters, digits, _ and . only")
        if self.local and self.deferred:
            raise ValueError(f"step {self.name}: a deferred step waits for another service, it cannot be local")
        if self.timeout <= 0 or self.deadline <= 0 or self.max_attempts < 1 or self.compensation_attempts < 1:
            raise ValueError(f"step {self.name}: timeout and attempts must be positive")


@dataclass(frozen=True)
class Saga:
    """A saga type: ``name`` (``service.SagaName``) and its ordered steps."""

    name: str
    steps: tuple[Step, ...]
    description: str = ""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"saga name {self.name!r}: letters, digits, _ and . only")
        if not self.steps:
            raise ValueError(f"saga {self.name} has no steps")
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise ValueError(f"saga {self.name}: step names repeat: {names}")

    def index(self, step: str) -> int:
        for i, s in enumerate(self.steps):
            if s.name == step:
                return i
        raise KeyError(f"saga {self.name} has no step {step!r}")


def action_key(saga_id: uuid.UUID, step: str) -> str:
    return f"saga:{saga_id}:{step}"


def compensation_key(saga_id: uuid.UUID, step: str) -> str:
    return f"saga:{saga_id}:{step}:undo"
