"""What the console needs of the system running behind the gateway.

The embedded runtime (:class:`isles.runtime.system.SystemRuntime`) offers all of it,
for the services of its own process: their databases, outboxes, consumers and saga
stores. The distributed mode's gateway has no runtime; it offers the same from the
outside (:class:`isles.console.remote.DistributedConsole`): every service's database
opened directly, as ``isles dlq`` and ``isles sagas`` do, the NATS bus for consumer
lag, and each service process's ``/health``, ``/ready`` and ``/metrics``
(:class:`ServiceProcesses`). The console is mounted only where the system behind
the gateway offers what it needs (:func:`isles.console.install`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from isles.messaging.bus import Bus
from isles.messaging.consumer import Consumer
from isles.ops.metrics import Metrics
from isles.sagas.store import SagaStore
from isles.security.events import SecurityLog
from isles.security.tokens import KeyRing
from isles.service.declaration import Service, System
from isles.storage.db import ServiceDatabase
from isles.storage.outbox import SqlOutbox


class ConsoleSagas(Protocol):
    """The sagas a service orchestrates, as the console reads them: the store of its
    database and the sagas it declares (a running service's
    :class:`~isles.sagas.runner.SagaRunner`, or only its store)."""

    @property
    def store(self) -> SagaStore: ...

    @property
    def sagas(self) -> Mapping[str, Any]: ...


class ConsoleService(Protocol):
    """One service of the process, as the console reads it."""

    @property
    def name(self) -> str: ...

    @property
    def service(self) -> Service: ...

    @property
    def db(self) -> ServiceDatabase: ...

    @property
    def outbox(self) -> SqlOutbox: ...

    @property
    def consumer(self) -> Consumer | None: ...

    @property
    def sagas(self) -> ConsoleSagas | None: ...


@runtime_checkable
class ConsoleSystem(Protocol):
    """The running system: its declarations, its local services, bus, metrics, keys
    and security log."""

    @property
    def name(self) -> str: ...

    @property
    def system(self) -> System: ...

    @property
    def services(self) -> Mapping[str, ConsoleService]: ...

    @property
    def bus(self) -> Bus: ...

    @property
    def metrics(self) -> Metrics: ...

    @property
    def keys(self) -> KeyRing: ...

    @property
    def security(self) -> SecurityLog: ...

    async def readiness(self) -> dict[str, str]: ...


@dataclass(frozen=True)
class Probe:
    """What one service's process says of itself (the distributed mode): whether it
    answers (``/health``), is ready (``/ready``: its database and the bus), and its
    counters of events published and applied since it started (``/metrics``; None
    when it did not answer)."""

    healthy: bool
    health: str  # "ok", or what is wrong
    ready: bool
    published: float | None = None
    applied: float | None = None


@runtime_checkable
class ServiceProcesses(Protocol):
    """A system whose services run in processes of their own, beside the gateway
    (the distributed mode): the console asks each process how it is, instead of
    reading this process's metrics."""

    async def probe(self, service: str) -> Probe: ...
