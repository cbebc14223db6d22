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
    "Service": "isles.service.declaration",
    "System": "isles.service.declaration",
    "Worker": "isles.service.workers",
    "Job": "isles.service.jobs",
    # events and their handlers
    "Event": "isles.core.events",
    "Envelope": "isles.core.events",
    "Upcaster": "isles.core.events",
    "Handler": "isles.messaging.consumer",
    "HandlerContext": "isles.messaging.consumer",
    "Resend": "isles.service.resend",
    "Orphans": "isles.core.references",
    "ReplicaTable": "isles.messaging.replicas",
    "DenormalizedColumns": "isles.messaging.replicas",
    "EventArchive": "isles.messaging.archive",
    "ReadModel": "isles.messaging.archive",
    # data
    "UnitOfWork": "isles.storage.uow",
    "EventStore": "isles.storage.eventstore",
    "EventSourced": "isles.storage.eventstore",
    "Projection": "isles.storage.eventstore",
    "StoredEvent": "isles.storage.eventstore",
    "UniqueViolation": "isles.storage.errors",
    "ServiceDatabase": "isles.storage.db",
    "TenantOwned": "isles.storage.tenancy",
    "Encrypted": "isles.storage.crypto",
    "EncryptedColumnError": "isles.storage.crypto",
    "TenantViolation": "isles.storage.tenancy",
    "ACROSS_TENANTS": "isles.storage.tenancy",
    "enable_row_security": "isles.storage.tenancy",
    "announce": "isles.storage.announce",
    "all_tenants": "isles.storage.announce",
    "disable_row_security": "isles.storage.tenancy",
    "reference": "isles.core.references",
    "INFO_KEY": "isles.core.references",
    "new_metadata": "isles.storage.schema",
    "utcnow": "isles.core.clock",
    "UTCDateTime": "isles.storage.schema",
    "StringList": "isles.storage.schema",
    "LowerCase": "isles.storage.schema",
    "Money": "isles.storage.schema",
    "add_history": "isles.storage.history",
    "history": "isles.storage.history",
    "history_of": "isles.storage.history",
    "record_change": "isles.storage.history",
    "HISTORY_RECORDED": "isles.storage.history",
    "as_of": "isles.storage.history",
    "changes_by": "isles.storage.history",
    "set_changes_by": "isles.storage.history",
    "Historied": "isles.storage.history",
    "HistoryBypassed": "isles.storage.history",
    "HistoryVersion": "isles.storage.history",
    # sagas
    "Saga": "isles.sagas",
    "Step": "isles.sagas",
    "StepContext": "isles.sagas",
    "StepFailed": "isles.sagas",
    "SagaState": "isles.sagas",
    "SagaFinished": "isles.sagas.events",
    "run_saga": "isles.http.saga_routes",
    "start_saga": "isles.http.saga_routes",
    "answer": "isles.http.saga_routes",
    # HTTP: problems, paging, access, idempotency
    "Problem": "isles.core.problems",
    "FieldError": "isles.core.problems",
    "invalid": "isles.core.problems",
    "field_error": "isles.core.problems",
    "not_found": "isles.core.problems",
    "conflict": "isles.core.problems",
    "ListSpec": "isles.http.listing",
    "Listing": "isles.http.listing",
    "Page": "isles.http.paging",
    "PagingDep": "isles.http.paging",
    "context_of": "isles.http.context",
    "Context": "isles.http.context",
    "ServiceContext": "isles.service.context",
    "require": "isles.http.access",
    "check_tenant": "isles.http.access",
    "Authenticated": "isles.http.access",
    "client_ip": "isles.http.access",
    "SecurityLog": "isles.security.events",
    "principal_of": "isles.http.access",
    "unauthorized": "isles.http.access",
    "TenantData": "isles.http.access",
    "Idempotent": "isles.http.idempotency",
    "IF_MATCH": "isles.http.preconditions",
    "json_or_form": "isles.http.bodies",
    "if_match": "isles.http.preconditions",
    "Precondition": "isles.core.versions",
    "etag": "isles.core.versions",
    "tagged": "isles.http.preconditions",
    # calling other services
    "ServiceClient": "isles.clients.service",
    "NotFound": "isles.clients.errors",
    # security
    "Principal": "isles.security.tokens",
    "TokenSigner": "isles.security.tokens",
    "IDENTITY_PROVIDER": "isles.security.tokens",
    "passwords": "isles.security.passwords",
    # mail
    "Mail": "isles.clients.mail",
    "Sender": "isles.clients.mail",
    "Bounced": "isles.clients.mail",
    "sender_from": "isles.clients.mail",
    # blobs
    "BlobInfo": "isles.storage.blobs",
    "BlobNotFound": "isles.storage.blobs",
    "BlobStore": "isles.storage.blobs",
    "BlobTooLarge": "isles.storage.blobs",
    "FileBlobStore": "isles.storage.blobs",
    "S3BlobStore": "isles.storage.blobs",
    "blob_store": "isles.storage.blobs",
}

__all__ = [
    "ACROSS_TENANTS",
    "HISTORY_RECORDED",
    "IDENTITY_PROVIDER",
    "IF_MATCH",
    "INFO_KEY",
    "Authenticated",
    "BlobInfo",
    "BlobNotFound",
    "BlobStore",
    "BlobTooLarge",
    "Bounced",
    "Context",
    "DenormalizedColumns",
    "Encrypted",
    "EncryptedColumnError",
    "Envelope",
    "Event",
    "EventArchive",
    "EventSourced",
    "EventStore",
    "FieldError",
    "FileBlobStore",
    "Handler",
    "HandlerContext",
    "Historied",
    "HistoryBypassed",
    "HistoryVersion",
    "Idempotent",
    "Job",
    "ListSpec",
    "Listing",
    "LowerCase",
    "Mail",
    "Money",
    "NotFound",
    "Orphans",
    "Page",
    "PagingDep",
    "Precondition",
    "Principal",
    "Problem",
    "Projection",
    "ReadModel",
    "ReplicaTable",
    "Resend",
    "S3BlobStore",
    "Saga",
    "SagaFinished",
    "SagaState",
    "SecurityLog",
    "Sender",
    "Service",
    "ServiceClient",
    "ServiceContext",
    "ServiceDatabase",
    "Step",
    "StepContext",
    "StepFailed",
    "StoredEvent",
    "StringList",
    "System",
    "TenantData",
    "TenantOwned",
    "TenantViolation",
    "TokenSigner",
    "UTCDateTime",
    "UniqueViolation",
    "UnitOfWork",
    "Upcaster",
    "Worker",
    "add_history",
    "all_tenants",
    "announce",
    "answer",
    "as_of",
    "blob_store",
    "changes_by",
    "check_tenant",
    "client_ip",
    "conflict",
    "context_of",
    "disable_row_security",
    "enable_row_security",
    "etag",
    "field_error",
    "history",
    "history_of",
    "if_match",
    "invalid",
    "json_or_form",
    "new_metadata",
    "not_found",
    "passwords",
    "principal_of",
    "record_change",
    "reference",
    "require",
    "run_saga",
    "sender_from",
    "set_changes_by",
    "start_saga",
    "tagged",
    "unauthorized",
    "utcnow",
]


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'isles' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:
    from isles.clients.errors import NotFound
    from isles.clients.mail import Bounced, Mail, Sender, sender_from
    from isles.clients.service import ServiceClient
    from isles.core.clock import utcnow
    from isles.core.events import Envelope, Event, Upcaster
    from isles.core.problems import FieldError, Problem, conflict, field_error, invalid, not_found
    from isles.core.references import INFO_KEY, Orphans, reference
    from isles.core.versions import Precondition, etag
    from isles.http.access import (
        Authenticated,
        TenantData,
        check_tenant,
        client_ip,
        principal_of,
        require,
        unauthorized,
    )
    from isles.http.bodies import json_or_form
    from isles.http.context import Context, context_of
    from isles.http.idempotency import Idempotent
    from isles.http.listing import Listing, ListSpec
    from isles.http.paging import Page, PagingDep
    from isles.http.preconditions import IF_MATCH, if_match, tagged
    from isles.http.saga_routes import answer, run_saga, start_saga
    from isles.messaging.archive import EventArchive, ReadModel
    from isles.messaging.consumer import Handler, HandlerContext
    from isles.messaging.replicas import DenormalizedColumns, ReplicaTable
    from isles.sagas import Saga, SagaState, Step, StepContext, StepFailed
    from isles.sagas.events import SagaFinished
    from isles.security.events import SecurityLog
    from isles.security.passwords import passwords
    from isles.security.tokens import IDENTITY_PROVIDER, Principal, TokenSigner
    from isles.service.context import ServiceContext
    from isles.service.declaration import Service, System
    from isles.service.jobs import Job
    from isles.service.resend import Resend
    from isles.service.workers import Worker
    from isles.storage.announce import all_tenants, announce
    from isles.storage.blobs import (
        BlobInfo,
        BlobNotFound,
        BlobStore,
        BlobTooLarge,
        FileBlobStore,
        S3BlobStore,
        blob_store,
    )
    from isles.storage.crypto import Encrypted, EncryptedColumnError
    from isles.storage.db import ServiceDatabase
    from isles.storage.errors import UniqueViolation
    from isles.storage.eventstore import EventSourced, EventStore, Projection, StoredEvent
    from isles.storage.history import (
        HISTORY_RECORDED,
        Historied,
        HistoryBypassed,
        HistoryVersion,
        add_history,
        as_of,
        changes_by,
        history,
        history_of,
        record_change,
        set_changes_by,
    )
    from isles.storage.schema import LowerCase, Money, StringList, UTCDateTime, new_metadata
    from isles.storage.tenancy import (
        ACROSS_TENANTS,
        TenantOwned,
        TenantViolation,
        disable_row_security,
        enable_row_security,
    )
    from isles.storage.uow import UnitOfWork
