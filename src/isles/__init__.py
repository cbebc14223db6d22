"""Isles: microservices with a database per service, kept consistent by events.

``import isles`` is all a service needs from the platform::

    import isles
    from isles import Event, Service, UnitOfWork, reference

A service imports this facade, the contracts it consumes and itself; never a module
under ``isles.`` (an import-linter contract checks it for every service). What the
facade names is loaded on first use, so ``isles --help`` and a service that uses a
few names do not pay for the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> the module that defines it (the module itself where the name is a module)
_EXPORTS: dict[str, str] = {
    # a service and a system
    "Service": "isles.service",
    "System": "isles.runtime",
    "ServiceRuntime": "isles.runtime",
    "Worker": "isles.workers",
    # events and their handlers
    "Event": "isles.events",
    "Envelope": "isles.events",
    "Upcaster": "isles.events",
    "Handler": "isles.consumer",
    "HandlerContext": "isles.consumer",
    "ReplicaTable": "isles.replicas",
    "DenormalizedColumns": "isles.replicas",
    # data
    "UnitOfWork": "isles.uow",
    "ServiceDatabase": "isles.db",
    "TenantOwned": "isles.tenancy",
    "enable_row_security": "isles.tenancy",
    "disable_row_security": "isles.tenancy",
    "reference": "isles.references",
    "INFO_KEY": "isles.references",
    "new_metadata": "isles.schema",
    "utcnow": "isles.schema",
    "UTCDateTime": "isles.schema",
    "StringList": "isles.schema",
    "run_env": "isles.migrations",
    "kernel": "isles.kernel_migrations",
    # sagas
    "Saga": "isles.sagas",
    "Step": "isles.sagas",
    "StepContext": "isles.sagas",
    "StepFailed": "isles.sagas",
    "SagaState": "isles.sagas",
    "run_saga": "isles.sagas.api",
    "answer": "isles.sagas.api",
    # HTTP: problems, paging, access, idempotency
    "Problem": "isles.problems",
    "FieldError": "isles.problems",
    "invalid": "isles.problems",
    "not_found": "isles.problems",
    "conflict": "isles.problems",
    "Page": "isles.api",
    "PagingDep": "isles.api",
    "runtime_of": "isles.api",
    "require": "isles.access",
    "check_tenant": "isles.access",
    "principal_of": "isles.access",
    "unauthorized": "isles.access",
    "TenantData": "isles.access",
    "Idempotent": "isles.idempotency",
    # calling other services
    "ServiceClient": "isles.clients",
    "NotFound": "isles.clients",
    # security
    "Principal": "isles.security",
    "TokenSigner": "isles.security",
    "IDENTITY_PROVIDER": "isles.security",
    # mail
    "Mail": "isles.mail",
    "Sender": "isles.mail",
    "Bounced": "isles.mail",
    "sender_from": "isles.mail",
}

_MODULES = frozenset({"kernel"})  # names the facade gives to a whole module

__all__ = [
    "IDENTITY_PROVIDER",
    "INFO_KEY",
    "Bounced",
    "DenormalizedColumns",
    "Envelope",
    "Event",
    "FieldError",
    "Handler",
    "HandlerContext",
    "Idempotent",
    "Mail",
    "NotFound",
    "Page",
    "PagingDep",
    "Principal",
    "Problem",
    "ReplicaTable",
    "Saga",
    "SagaState",
    "Sender",
    "Service",
    "ServiceClient",
    "ServiceDatabase",
    "ServiceRuntime",
    "Step",
    "StepContext",
    "StepFailed",
    "StringList",
    "System",
    "TenantData",
    "TenantOwned",
    "TokenSigner",
    "UTCDateTime",
    "UnitOfWork",
    "Upcaster",
    "Worker",
    "answer",
    "check_tenant",
    "conflict",
    "disable_row_security",
    "enable_row_security",
    "invalid",
    "kernel",
    "new_metadata",
    "not_found",
    "principal_of",
    "reference",
    "require",
    "run_env",
    "run_saga",
    "runtime_of",
    "sender_from",
    "unauthorized",
    "utcnow",
]


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'isles' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if name in _MODULES else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:
    from isles import kernel_migrations as kernel
    from isles.access import TenantData, check_tenant, principal_of, require, unauthorized
    from isles.api import Page, PagingDep, runtime_of
    from isles.clients import NotFound, ServiceClient
    from isles.consumer import Handler, HandlerContext
    from isles.db import ServiceDatabase
    from isles.events import Envelope, Event, Upcaster
    from isles.idempotency import Idempotent
    from isles.mail import Bounced, Mail, Sender, sender_from
    from isles.migrations import run_env
    from isles.problems import FieldError, Problem, conflict, invalid, not_found
    from isles.references import INFO_KEY, reference
    from isles.replicas import DenormalizedColumns, ReplicaTable
    from isles.runtime import ServiceRuntime, System
    from isles.sagas import Saga, SagaState, Step, StepContext, StepFailed
    from isles.sagas.api import answer, run_saga
    from isles.schema import StringList, UTCDateTime, new_metadata, utcnow
    from isles.security import IDENTITY_PROVIDER, Principal, TokenSigner
    from isles.service import Service
    from isles.tenancy import TenantOwned, disable_row_security, enable_row_security
    from isles.uow import UnitOfWork
    from isles.workers import Worker
