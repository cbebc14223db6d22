"""The console of the distributed mode (``isles up --distributed``): the gateway there
is a proxy with no runtime, so what the console reads and does it does from the
outside, as the CLI's ``isles dlq`` and ``isles sagas`` do:

* every service's database opened directly from the URL template, in a small pool of
  the gateway's own (:data:`POOL`), closed when the gateway stops: outbox backlog,
  dead letters (retried by a consumer built here from the service's declared
  handlers, in one transaction with its inbox mark, as ``isles dlq retry`` does;
  dropped as ``isles dlq drop`` does), sagas (an operator's retry through the saga
  store, as ``isles sagas retry``: the service's own process then drives it), events
  followed across every outbox and inbox, the audit over every database;
* the NATS bus for consumer lag (JetStream's count of what each durable consumer has
  not acknowledged), connected without consuming anything;
* each service process's ``/health``, ``/ready`` and ``/metrics`` for its health,
  readiness and event rates (:meth:`DistributedConsole.probe`).

docs/console.md, "Embedded and distributed".
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import structlog
from prometheus_client.parser import text_string_to_metric_families

from isles.console.system import Probe
from isles.core.settings import IslesSettings, PoolSettings, ServiceEnvironment
from isles.messaging.bus import Bus
from isles.messaging.consumer import Consumer
from isles.ops.metrics import Metrics
from isles.sagas.store import SagaStore
from isles.security.events import SecurityLog
from isles.security.tokens import KeyRing
from isles.service.declaration import Service, System, event_publishers
from isles.storage import crypto
from isles.storage.db import ServiceDatabase, check_distinct, resolve_database_url
from isles.storage.outbox import SqlOutbox
from isles.storage.tenancy import ACROSS_TENANTS
from isles.storage.uow import UnitOfWork

log = structlog.get_logger("isles.console")

#: The gateway's pool per service database: one connection kept, one more under a
#: burst (the console's reads are one after another per service; the service
#: processes keep their own pools).
POOL_SIZE, POOL_OVERFLOW = 1, 1
#: Seconds to wait for a service process's /health, /ready or /metrics.
PROBE_SECONDS = 3.0
#: The owner the saga store writes when the console reopens a saga (as ``isles-cli`` for the CLI).
SAGA_OWNER = "isles-console"


def small_pool(base: PoolSettings) -> PoolSettings:
    """``base`` (the system's pool settings) with the console's size."""
    return base.model_copy(update={"size": POOL_SIZE, "max_overflow": POOL_OVERFLOW})


@dataclass(frozen=True)
class SagaView:
    """A service's sagas as the gateway sees them: its store, and the sagas it declares
    (driven by its own process, not here)."""

    store: SagaStore
    sagas: Mapping[str, Any]


class RemoteService:
    """One service, from the gateway: its database, outbox, a consumer that only
    re-applies dead letters (it is never started: the service process consumes), and
    its saga store."""

    def __init__(
        self,
        service: Service,
        db: ServiceDatabase,
        *,
        settings: IslesSettings,
        owners: Mapping[str, str | Sequence[str]],
    ) -> None:
        self.service = service
        self.name = service.name
        self.db = db
        self.outbox = SqlOutbox(db, lease=timedelta(seconds=settings.relay.lease_seconds))
        self.consumer: Consumer | None = None
        handlers = service.all_handlers()
        if handlers:
            self.consumer = Consumer(
                name=service.name,
                db=db,
                handlers=handlers,
                # As the service's own consumer: across tenants; its commit's NOTIFY wakes the service's relay.
                uow_factory=functools.partial(UnitOfWork, db, source=service.source, tenant=ACROSS_TENANTS),
                retry=settings.retry,
                max_deliveries=settings.max_deliveries,
                owners=owners,
            )
        self.sagas: SagaView | None = None
        if service.sagas:
            store = SagaStore(db, owner=SAGA_OWNER, lease=timedelta(seconds=0))
            self.sagas = SagaView(store, {s.name: s for s in service.sagas})


def _counter(text: str, metric: str, service: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        if family.name != metric:
            continue
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels.get("service") == service:
                total += sample.value
    return total


class DistributedConsole:
    """What the console needs (:class:`isles.console.system.ConsoleSystem`), for a
    system whose services run as processes of their own at ``urls`` (service →
    ``http://host:port`` of its process), on the databases ``settings`` names
    (``ISLES_DATABASE_URL``'s template) and the NATS bus ``bus``.

    :meth:`start` connects the bus; :meth:`close` stops what reads on a timer (the
    console's sampler, through :meth:`on_stop`), then the bus, then disposes every
    engine opened here."""

    def __init__(
        self,
        system: System,
        settings: IslesSettings,
        urls: Mapping[str, str],
        *,
        keys: Path,
        bus: Bus,
        environ: Mapping[str, str] | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        env = dict(os.environ if environ is None else environ)
        self.system = system
        self.name = system.name
        self.settings = settings
        self.urls = dict(urls)
        self.bus = bus
        self.metrics = Metrics()  # nothing runs here: the processes' metrics are read by probe()
        self.keys = KeyRing.load(keys)  # the public keys only: the console verifies, it signs nothing
        self.security = SecurityLog(settings.security_log_target(), service="gateway")
        owners = event_publishers(system)
        urls_of = {s.name: resolve_database_url(s.name, settings, env) for s in system.services}
        check_distinct(urls_of)
        service_env = ServiceEnvironment(env)
        self.services: dict[str, RemoteService] = {
            s.name: RemoteService(
                s,
                ServiceDatabase(
                    s.name,
                    urls_of[s.name],
                    settings,
                    small_pool(service_env.pool(s.name, settings.pool)),
                    metadata=s.metadata,
                ),
                settings=settings,
                owners=owners,
            )
            for s in system.services
        }
        for rt in self.services.values():
            if rt.consumer is not None:  # for its lag: JetStream's durable consumer of the service
                bus.subscribe(rt.consumer, rt.consumer.event_types)
        self._load_data_keys(keys)
        self._client = client
        self._own_client = client is None
        self._on_stop: list[Callable[[], Awaitable[None]]] = []
        self._idle: list[asyncio.Task[None]] = []
        self.started = False

    def _load_data_keys(self, keys: Path) -> None:
        """A re-applied event may write a service's encrypted columns: its data keys
        (``<keys>/data/<service>/``), as a tool's runtime reads them (a missing one only
        warns; such a write then fails saying which key is missing)."""
        for s in self.system.services:
            if crypto.encrypted_columns(s.metadata):
                crypto.ring(s.name).load(crypto.data_keys_dir(keys, s.name))

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Connect to the bus (without consuming) and close idle pooled connections as
        the services do."""
        if self.started:
            return
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=PROBE_SECONDS)
        await self.bus.start(consume=False)
        self._idle = [
            asyncio.create_task(rt.db.close_idle_forever(), name=f"isles-console-{rt.name}-idle")
            for rt in self.services.values()
        ]
        self.started = True

    def on_stop(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run ``hook`` first in :meth:`close`, before the engines go (the console's sampler)."""
        self._on_stop.append(hook)

    async def close(self) -> None:
        self.started = False
        for hook in self._on_stop:
            await hook()
        for task in self._idle:
            task.cancel()
        for task in self._idle:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._idle = []
        await self.bus.stop()
        for rt in self.services.values():
            await rt.db.dispose()
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None
        self.security.close()

    # -- what the processes say -----------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=PROBE_SECONDS)
            self._own_client = True
        return self._client

    async def _get(self, url: str) -> httpx.Response | str:
        """The answer, or what went wrong (a string)."""
        try:
            return await self._http().get(url, timeout=PROBE_SECONDS)
        except httpx.HTTPError as exc:
            return f"unreachable: {type(exc).__name__}"

    async def probe(self, service: str) -> Probe:
        """The process of ``service``: ``/health`` (it answers), ``/ready`` (its
        database and the bus), ``/metrics`` (events published and applied)."""
        base = self.urls.get(service)
        if base is None:
            return Probe(False, "not available in this mode: no process of its own known to the gateway", False)
        health, ready, metrics = await asyncio.gather(
            self._get(f"{base}/health"), self._get(f"{base}/ready"), self._get(f"{base}/metrics")
        )
        if isinstance(health, str):
            healthy, said = False, f"process {base} {health}"
        elif health.status_code != 200:
            healthy, said = False, f"process {base} answered {health.status_code}"
        else:
            healthy, said = True, "ok"
        is_ready = not isinstance(ready, str) and ready.status_code == 200
        if healthy and not is_ready and not isinstance(ready, str):
            with contextlib.suppress(ValueError, AttributeError):
                checks = ready.json().get("checks") or {}
                wrong = [f"{k}: {v}" for k, v in checks.items() if v != "ok"]
                if wrong:
                    said = f"ok; not ready: {', '.join(wrong)}"
        published = applied = None
        if not isinstance(metrics, str) and metrics.status_code == 200:
            try:
                published = _counter(metrics.text, "isles_relay_published", service)
                applied = _counter(metrics.text, "isles_events_applied", service)
            except ValueError as exc:
                log.warning("console.metrics_unreadable", service=service, error=repr(exc))
        return Probe(healthy, said, is_ready, published, applied)

    async def readiness(self) -> dict[str, str]:
        """Each service process's readiness ("ok" or what is wrong), and the bus as the gateway sees it."""

        async def check(name: str, base: str) -> tuple[str, str]:
            answer = await self._get(f"{base}/ready")
            if isinstance(answer, str):
                return f"process:{name}", answer
            return f"process:{name}", "ok" if answer.status_code == 200 else f"answered {answer.status_code}"

        checks = dict(await asyncio.gather(*(check(n, b) for n, b in self.urls.items())))
        checks["bus"] = "ok" if self.bus.ready else "not connected"
        return checks
