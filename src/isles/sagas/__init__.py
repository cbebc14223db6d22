"""Sagas: multi-service operations as ordered steps with compensations, durable in the
orchestrating service's own database. See :mod:`isles.sagas.runner`."""

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
from isles.sagas.runner import SagaRunner
from isles.sagas.store import SagaState, SagaStore, StepState

__all__ = [
    "Saga",
    "SagaRunner",
    "SagaState",
    "SagaStatus",
    "SagaStore",
    "Step",
    "StepContext",
    "StepFailed",
    "StepState",
    "StepStatus",
    "action_key",
    "compensation_key",
]
