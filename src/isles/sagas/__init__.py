"""Sagas: multi-service operations as ordered steps with compensations, durable in the
orchestrating service's own database. See :mod:`isles.sagas.runner`.

The names below are imported when first used: a service declaring its sagas
(``isles.sagas.definition``) does not load the runner and its HTTP client."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Saga": "isles.sagas.definition",
    "SagaStatus": "isles.sagas.definition",
    "Step": "isles.sagas.definition",
    "StepContext": "isles.sagas.definition",
    "StepFailed": "isles.sagas.definition",
    "StepStatus": "isles.sagas.definition",
    "action_key": "isles.sagas.definition",
    "compensation_key": "isles.sagas.definition",
    "SagaRunner": "isles.sagas.runner",
    "SagaState": "isles.sagas.store",
    "SagaStore": "isles.sagas.store",
    "StepState": "isles.sagas.store",
}

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


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'isles.sagas' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
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
