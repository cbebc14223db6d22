"""A service, declared once: its name, data, API, and the events it speaks; and a
system: the services that run together."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import MetaData

from isles.core import references
from isles.core.events import Event
from isles.messaging.archive import EventArchive
from isles.messaging.consumer import Handler
from isles.messaging.replicas import Replica
from isles.sagas.definition import Saga
from isles.sagas.events import SagaFinished
from isles.service.jobs import Job
from isles.service.resend import Resend
from isles.service.workers import WorkerFactory
from isles.storage.db import check_service_name
from isles.storage.schema import KERNEL_TABLES

if TYPE_CHECKING:
    import httpx
    from fastapi import APIRouter

    from isles.storage.eventstore import EventStore


@dataclass(frozen=True)
class Service:
    """Everything the platform needs to run a service.

    ``metadata`` holds the service's own tables (and the kernel tables, see
    :func:`isles.storage.schema.new_metadata`); ``migrations`` is the folder of its own
    Alembic revisions, nothing else in it (``None`` creates tables from the metadata: for tests and
    prototypes only, never for a service with data to keep). ``handlers`` and ``replicas`` say what it does with other
    services' events; ``publishes`` lists the events it writes to its outbox;
    ``sagas`` are the multi-service operations it orchestrates (a service with sagas
    publishes ``isles.SagaFinished`` as well, added to ``publishes`` here, unless
    ``saga_events=False``); ``permissions`` are
    what its own calls to other services need (its service tokens claim them);
    ``workers`` are its own background loops (made per running service); ``uploads``
    are the POST paths (regular expressions, relative to the service) whose routes
    stream their body to the blob store: their body limit is the upload limit
    (``ISLES_BLOBS_MAX_UPLOAD_BYTES`` plus multipart framing), not
    ``ISLES_MAX_BODY_BYTES``. ``router``
    is its API, or a function that imports and returns it: then a command that only
    reads the declaration (``isles services``, ``isles migrate``) never loads the
    web stack.
    """

    name: str
    metadata: MetaData
    router: APIRouter | Callable[[], APIRouter]
    migrations: Path | None
    publishes: Sequence[type[Event]] = ()
    handlers: Sequence[Handler] = ()
    replicas: Sequence[Replica] = ()
    sagas: Sequence[Saga] = ()
    permissions: Sequence[str] = ()
    workers: Sequence[WorkerFactory] = ()
    jobs: Sequence[Job] = ()
    event_stores: Sequence[EventStore] = ()  # aggregates kept as events, and their projections
    resend: Sequence[Resend] = ()  # how its copied tables' rows are re-published (isles audit --repair)
    uploads: Sequence[str] = ()  # POST paths (regexes) whose routes stream a body up to ISLES_BLOBS_MAX_UPLOAD_BYTES
    archive: EventArchive | None = None  # an archive of other services' events, and read models kept from it
    saga_events: bool = True  # with sagas: publish isles.SagaFinished as each ends
    description: str = ""
    version: str = "1"
    references: tuple[references.Reference, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        check_service_name(self.name)
        missing = [t for t in KERNEL_TABLES if t not in self.metadata.tables]
        if missing:
            raise ValueError(f"service {self.name}: metadata lacks kernel tables {missing}; use isles.new_metadata()")
        references.check_boundaries(self.name, self.metadata)
        if self.archive is not None and self.archive.table.name not in self.metadata.tables:
            raise ValueError(f"service {self.name}: archive table {self.archive.table.name} is not its own")
        for replica in self.replicas:
            if replica.table.name not in self.metadata.tables:
                raise ValueError(f"service {self.name}: replica table {replica.table.name} is not its own")
        if self.migrations is not None and (self.migrations / "env.py").exists():
            raise ValueError(
                f"service {self.name}: {self.migrations} holds an env.py; the platform owns the Alembic environment "
                "now: delete env.py and script.py.mako and move the revisions up from versions/"
            )
        names = [s.name for s in self.sagas]
        if len(set(names)) != len(names):
            raise ValueError(f"service {self.name}: saga names repeat: {names}")
        if self.sagas and self.saga_events and SagaFinished not in self.publishes:
            object.__setattr__(self, "publishes", (*self.publishes, SagaFinished))
        jobs = [j.name for j in self.jobs]
        if len(set(jobs)) != len(jobs):
            raise ValueError(f"service {self.name}: job names repeat: {jobs}")
        object.__setattr__(self, "references", tuple(references.collect(self.name, self.metadata)))

    def api(self) -> APIRouter:
        """The service's API router (imported now if it was declared lazily)."""
        from fastapi import APIRouter

        return self.router if isinstance(self.router, APIRouter) else self.router()

    @property
    def source(self) -> str:
        """The CloudEvents ``source`` of this service's events."""
        return f"/isles/{self.name}"

    def all_handlers(self) -> list[Handler]:
        """Replica updates first, then the service's own handlers, per event."""
        result: list[Handler] = []
        for replica in self.replicas:
            result.extend(replica.handlers())
        result.extend(self.handlers)
        if self.archive is not None:
            result.extend(self.archive.handlers())
        return result

    @property
    def own_tables(self) -> tuple[str, ...]:
        return tuple(sorted(self.metadata.tables))


DemoLoader = Callable[["httpx.AsyncClient"], Awaitable[list[str]]]


@dataclass(frozen=True)
class System:
    """A set of services that run together, and optional demo data for first start."""

    name: str
    services: Sequence[Service]
    demo: DemoLoader | None = None
    #: The service that logs users in: its signer's tokens are user tokens (each names
    #: a user and the user's tenant), every other service signs only about itself.
    identity_provider: str = "auth"

    def __post_init__(self) -> None:
        names = [s.name for s in self.services]
        if len(set(names)) != len(names):
            raise ValueError(f"system {self.name}: duplicate service names in {names}")
        check_service_name(self.identity_provider)


def event_publishers(system: System) -> dict[str, tuple[str, ...]]:
    """Each event type of ``system`` and the services that declare it in ``publishes``:
    one for a service's own events; each service with sagas for the platform's
    ``isles.SagaFinished``."""
    found: dict[str, list[str]] = {}
    for s in system.services:
        for e in s.publishes:
            found.setdefault(e.event_type, [])
            if s.name not in found[e.event_type]:
                found[e.event_type].append(s.name)
    return {t: tuple(names) for t, names in found.items()}
