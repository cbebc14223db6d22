"""What the console needs of the system running behind the gateway.

The embedded runtime (:class:`isles.runtime.system.SystemRuntime`) offers all of it;
the console is mounted only where the runtime does (:func:`isles.console.install`).
It reads and acts on the services of its own process: their databases, outboxes,
consumers and saga stores.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from isles.messaging.bus import Bus
from isles.messaging.consumer import Consumer
from isles.ops.metrics import Metrics
from isles.sagas.runner import SagaRunner
from isles.security.events import SecurityLog
from isles.security.tokens import KeyRing
from isles.service.declaration import Service, System
from isles.storage.db import ServiceDatabase
from isles.storage.outbox import SqlOutbox


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
    def sagas(self) -> SagaRunner | None: ...


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
