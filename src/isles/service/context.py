"""What a service's own code sees while it runs: its routes (through
:func:`isles.http.context.context_of`), its workers and its saga steps get a
:class:`ServiceContext`, never the runtime that implements it. The runtime
(:class:`isles.runtime.system.ServiceRuntime`) is one implementation; a test can be
another."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from isles.clients.cache import FigureCache
    from isles.clients.service import ServiceClient
    from isles.core.settings import IslesSettings
    from isles.ops.metrics import Metrics
    from isles.sagas.runner import SagaRunner
    from isles.security.events import SecurityLog
    from isles.security.tokens import KeyRing, TokenVerifier
    from isles.storage.db import ServiceDatabase
    from isles.storage.tenancy import Tenant
    from isles.storage.uow import UnitOfWork


class ServiceContext(Protocol):
    """One running service, as its code uses it."""

    @property
    def name(self) -> str: ...

    @property
    def settings(self) -> IslesSettings: ...

    @property
    def db(self) -> ServiceDatabase:
        """The service's own database (``db.read_session()`` for reads)."""
        ...

    @property
    def metrics(self) -> Metrics: ...

    @property
    def cache(self) -> FigureCache:
        """The service's figure cache (Redis, or in this process: ``isles.clients.cache``)."""
        ...

    @property
    def security(self) -> SecurityLog:
        """The security events log (logins, denials, role changes: docs/security.md)."""
        ...

    @property
    def keys(self) -> KeyRing:
        """The process's signing keys (the identity provider signs access tokens)."""
        ...

    @property
    def verifier(self) -> TokenVerifier | None:
        """Checks the tokens requests bring; None where the process has no keys."""
        ...

    @property
    def sagas(self) -> SagaRunner | None:
        """The runner of the sagas this service orchestrates, if it has any."""
        ...

    def uow(self, *, tenant: Tenant = None) -> UnitOfWork:
        """A unit of work on the service's database, scoped to ``tenant`` (a company
        id; ``ACROSS_TENANTS`` for every company; none: no company's rows)."""
        ...

    def client(self, target: str, tenant: str = "", *, token: str | None = None) -> ServiceClient:
        """A client of another service's API (this service's token, or ``token``)."""
        ...
