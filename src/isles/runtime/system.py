"""Composition root: builds each service's database, relay and consumer, and runs them.

Nothing here is created at import time; :class:`SystemRuntime` takes every adapter
(settings, environment, bus) as a parameter.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx
import structlog
from sqlalchemy import func, select

from isles.clients.cache import FigureCache, cache_from
from isles.clients.service import CircuitBreaker, CircuitState, ServiceClient
from isles.core import failpoints, tracing
from isles.core.references import ReferenceRegistry
from isles.core.settings import IslesSettings, ServiceEnvironment
from isles.http import idempotency
from isles.http.gateway import create_gateway
from isles.messaging.bus import Bus, EmbeddedBus
from isles.messaging.consumer import Consumer, Observer
from isles.messaging.relay import Relay
from isles.ops.metrics import Metrics
from isles.runtime.keys import load_data_keys, load_keys
from isles.sagas.callbacks import CallbackTokens
from isles.sagas.runner import SagaRunner
from isles.security import tokens as security
from isles.security.events import SecurityLog
from isles.security.passwords import passwords
from isles.service.declaration import Service, System, event_publishers
from isles.service.jobs import scheduler_worker
from isles.service.workers import Worker
from isles.storage import migrations
from isles.storage.db import (
    DatabaseConfigError,
    ServiceDatabase,
    check_distinct,
    resolve_database_url,
    resolve_pool,
)
from isles.storage.notify import PgListener, outbox_channel
from isles.storage.outbox import SqlOutbox
from isles.storage.schema import dead_letters_table
from isles.storage.tenancy import ACROSS_TENANTS, Tenant
from isles.storage.uow import UnitOfWork

if TYPE_CHECKING:
    from fastapi import FastAPI

    from isles.ops.otel import Exporting
    from isles.service.audit import AuditReport

log = structlog.get_logger("isles.runtime")
metrics_log = structlog.get_logger("isles.metrics")


class ServiceRuntime:
    """One service, running: its own database, relay and consumer."""

    def __init__(
        self,
        *,
        service: Service,
        db: ServiceDatabase,
        bus: Bus,
        settings: IslesSettings,
        http: Callable[[str], httpx.AsyncClient],
        metrics: Metrics,
        breakers: dict[str, CircuitBreaker] | None = None,
        keys: security.KeyRing | None = None,
        owners: Mapping[str, str | Sequence[str]] | None = None,
        security_log: SecurityLog | None = None,
        identity_provider: str = security.IDENTITY_PROVIDER,
        tracer: tracing.Tracer | None = None,
    ) -> None:
        """``owners``: each event type's publishing service(s) (the system's declarations);
        the consumer refuses an event whose source is not one of them.
        ``identity_provider``: the service whose tokens are users' (the system's).
        ``tracer``: the service's OpenTelemetry spans (None: tracing is off)."""
        self.service = service
        self.tracer = tracer
        self.name = service.name
        self.security = (security_log or SecurityLog(None, service="")).bound(service.name)
        self.db = db
        self.bus = bus
        self.metrics = metrics
        self.settings = settings
        self.outbox = SqlOutbox(db, lease=timedelta(seconds=settings.relay.lease_seconds))
        self._http = http
        self._breakers = breakers if breakers is not None else {}
        self.keys = keys if keys is not None else security.KeyRing()
        self.identity_provider = identity_provider
        self.verifier = keys.verifier(identity_provider=identity_provider) if keys is not None else None
        self._signer = (
            keys.signer(service.name, ttl=settings.service_token_ttl)
            if keys is not None and service.name in keys.private
            else None
        )
        self._service_tokens: dict[str, tuple[str, float]] = {}
        self._cache: FigureCache | None = None
        self.workers: dict[str, Worker] = {}
        self.sagas: SagaRunner | None = None
        if service.sagas:
            self.sagas = SagaRunner(
                service=service.name,
                db=db,
                sagas=service.sagas,
                new_uow=self.uow,
                clients=self.client,
                settings=settings.saga,
                metrics=metrics,
                callbacks=CallbackTokens.from_key(self.keys.private.get(service.name)),
                tracer=tracer,
                publish=service.saga_events,
                on_event=lambda: self.relay.wake(),
            )
        if service.publishes:
            bus.publishes_for(service.name)
        published = metrics.relay_published.labels(service.name)
        messaging = "nats" if settings.bus == "nats" else "isles"  # spans' messaging.system
        self.relay = Relay(
            service=service.name,
            outbox=self.outbox,
            bus=bus,
            batch_size=settings.relay.batch_size,
            poll_interval=settings.relay.poll_interval,
            linger=settings.relay.linger,
            max_in_flight=settings.relay.max_in_flight,
            retention=timedelta(seconds=settings.outbox_retention_seconds),
            observers=[published.inc],
            housekeeping=self._housekeeping(settings),
            tracer=tracer,
            messaging_system=messaging,
        )
        self._idle_closer: asyncio.Task[None] | None = None
        self.listener: PgListener | None = None
        if settings.relay.listen and not db.is_sqlite:
            self.listener = PgListener(db.url, outbox_channel(service.name), self.relay.wake, ssl=db.ssl)
        handlers = service.all_handlers()
        self.consumer: Consumer | None = None
        if handlers:
            self.consumer = Consumer(
                name=service.name,
                db=db,
                handlers=handlers,
                # Handlers apply batches of many companies' events: across tenants.
                uow_factory=functools.partial(self.uow, tenant=ACROSS_TENANTS),
                retry=settings.retry,
                concurrency=settings.consumer.concurrency,
                batch_size=settings.consumer.batch_size,
                max_deliveries=settings.max_deliveries,
                on_handled=functools.partial(metrics.handled, service.name),
                owners=owners,
                tracer=tracer,
                messaging_system=messaging,
            )
            bus.subscribe(self.consumer, self.consumer.event_types)

        self.workers.update((w.name, w) for w in (factory(self) for factory in service.workers))
        if service.jobs and settings.jobs.enabled:
            scheduler = scheduler_worker(self, service.jobs, poll_interval=settings.jobs.poll_interval)
            if scheduler is not None:
                self.workers[scheduler.name] = scheduler

    @property
    def cache(self) -> FigureCache:
        """The service's figure cache (``ISLES_CACHE_URL``: Redis; else in this process),
        made on first use, closed when the service stops."""
        if self._cache is None:
            self._cache = cache_from(self.settings, self.name, counter=self.metrics.cache_requests)
        return self._cache

    async def close_cache(self) -> None:
        """Close the figure cache's connections (Redis), if it was made."""
        if self._cache is not None:
            await self._cache.close()
            self._cache = None

    def uow(self, *, tenant: Tenant = None) -> UnitOfWork:
        """A new unit of work on this service's database; its commit wakes the relay (if
        it emitted events) and the service's workers (one that watches some classes, if
        it touched one of them). With a ``tenant`` it sees and writes only that
        company's rows."""
        uow = UnitOfWork(
            self.db, source=self.service.source, on_commit=self.relay.wake, tenant=tenant, tracer=self.tracer
        )
        for worker in self.workers.values():
            if worker.watches:
                uow.after_commit_if_touched(worker.watches, worker.wake)
            else:
                uow.after_commit(worker.wake)
        return uow

    def service_token(self, tenant: str = "") -> str | None:
        """A token this service signs about itself, for its calls on behalf of
        ``tenant`` (a company id, or "" for none); reused until half its life is gone."""
        if self._signer is None:
            return None
        now = time.time()
        cached = self._service_tokens.get(tenant)
        if cached is not None and cached[1] > now:
            return cached[0]
        token = self._signer.issue(
            subject=f"service:{self.name}",
            tenant=tenant or None,
            roles=("service",),
            permissions=self.service.permissions,
        )
        self._service_tokens[tenant] = (token, now + self._signer.ttl / 2)
        return token

    def client(self, target: str, tenant: str = "", *, token: str | None = None) -> ServiceClient:
        """A client of ``target`` service's API: this service's token for ``tenant``
        (or ``token``: the caller's own, to ask with the caller's authority), timeouts,
        retries of safe calls, and the circuit breaker this process keeps for ``target``."""
        breaker = self._breakers.get(target)
        if breaker is None:
            gauge = self.metrics.circuit_state

            def changed(name: str, state: CircuitState) -> None:
                gauge.labels(self.name, name).set(state.value)
                log.warning("client.circuit", service=self.name, target=name, state=state.name.lower())

            breaker = self._breakers[target] = CircuitBreaker(
                target,
                threshold=self.settings.breaker.threshold,
                reset_after=self.settings.breaker.reset_seconds,
                on_change=changed,
            )
        return ServiceClient(
            self._http(target),
            service=target,
            policy=self.settings.client,
            breaker=breaker,
            observe=functools.partial(self.metrics.client_call, self.name),
            credentials=(lambda: token) if token is not None else functools.partial(self.service_token, tenant),
            tracer=self.tracer,
        )

    def _housekeeping(self, settings: IslesSettings) -> list[Callable[[], Awaitable[int]]]:
        keys = timedelta(seconds=settings.idempotency_retention_seconds)
        jobs: list[Callable[[], Awaitable[int]]] = [lambda: idempotency.prune(self.db, keys)]
        if self.sagas is not None:
            store, sagas = self.sagas.store, timedelta(seconds=settings.saga.retention_seconds)
            jobs.append(lambda: store.prune(sagas))
        return jobs

    @property
    def idle(self) -> bool:
        return (
            self.relay.idle
            and (self.consumer is None or self.consumer.idle)
            and (self.sagas is None or self.sagas.idle)
            and all(w.idle for w in self.workers.values())
        )

    def handled_event_types(self) -> tuple[str, ...]:
        return self.consumer.event_types if self.consumer is not None else ()

    def start(self, *, relay: bool = True, consumer: bool = True) -> None:
        if self._idle_closer is None and not self.db.is_sqlite:
            self._idle_closer = asyncio.create_task(self.db.close_idle_forever(), name=f"isles-{self.name}-idle")
        if relay:
            self.relay.start()
            if self.listener is not None:
                self.listener.start()
        if consumer and self.consumer is not None:
            self.consumer.start()
        if consumer:
            for worker in self.workers.values():
                worker.start()

    async def start_sagas(self) -> None:
        if self.sagas is not None:
            await self.sagas.start()

    async def stop_relay(self) -> None:
        if self.listener is not None:
            await self.listener.stop()
        await self.relay.stop()

    async def stop(self) -> None:
        for worker in self.workers.values():
            await worker.stop()
        if self.sagas is not None:
            await self.sagas.stop()
        await self.stop_relay()
        if self.consumer is not None:
            await self.consumer.stop()
        await self.close_cache()
        if self._idle_closer is not None:
            self._idle_closer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._idle_closer
            self._idle_closer = None


def tune_gc() -> None:
    """For a serving process (``isles up``/``serve``), once started: move everything
    built so far (modules, apps, metadata, compiled statements) out of the collector's
    sight, and collect the young generation less often. Measured on the event pipeline
    (issue 13): the collector's pauses fell from ~2.7 s to ~0.1 s per 10,000 events,
    10-20 % of the CPU per event."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def event_owners(system: System) -> dict[str, str]:
    """Each event type of ``system`` published by one service, and that service: the
    only one whose events of that type are applied. A type several services publish
    (``isles.SagaFinished``) is left out: see :func:`event_publishers`, which consumers
    and the NATS bus go by."""
    return {t: names[0] for t, names in event_publishers(system).items() if len(names) == 1}


def make_bus(system: System, settings: IslesSettings, *, name: str) -> Bus:
    """The bus ``settings.bus`` names: embedded, or NATS JetStream."""
    if settings.bus == "embedded":
        return EmbeddedBus()
    from isles.messaging.nats_bus import NatsBus

    return NatsBus(settings.nats, event_publishers(system), max_deliveries=settings.max_deliveries, name=name)


class SystemRuntime:
    """The services of a system in one process: all of them (``isles up``), or the
    ``only`` ones (``isles serve``), on the embedded bus or on NATS."""

    def __init__(
        self,
        system: System,
        settings: IslesSettings,
        *,
        environ: Mapping[str, str] | None = None,
        bus: Bus | None = None,
        only: Sequence[str] | None = None,
        generate_keys: bool | None = None,
    ) -> None:
        env = dict(os.environ if environ is None else environ)
        self._environ = env
        self.system = system
        self.name = system.name
        self.settings = settings
        known = [s.name for s in system.services]
        unknown = [n for n in (only or ()) if n not in known]
        if unknown:
            raise KeyError(f"no service named {unknown[0]!r}; services: {', '.join(known)}")
        local = [s for s in system.services if only is None or s.name in only]
        process_name = f"{system.name}:{','.join(only or known)}"
        self.bus = bus if bus is not None else make_bus(system, settings, name=process_name)
        self.metrics = Metrics()
        self._audit_task: asyncio.Task[None] | None = None
        self._audit_round = 0
        self._differs: dict[str, dict[int, int]] = {}  # copy check -> slice -> rows whose values differ
        self.security = SecurityLog(settings.security_log_target(), service="")
        urls = {s.name: resolve_database_url(s.name, settings, env) for s in local}
        check_distinct(urls)
        self._base_urls = ServiceEnvironment(env).peer_urls(known)
        self._clients: dict[str, httpx.AsyncClient] = {}
        breakers: dict[str, CircuitBreaker] = {}
        self.keys = load_keys(
            settings,
            [s.name for s in local],
            everyone=known,
            generate=settings.generate_keys if generate_keys is None else generate_keys,
        )
        load_data_keys(
            settings,
            local,
            generate=settings.generate_keys if generate_keys is None else generate_keys,
            strict=only is not None,
        )
        owners = event_publishers(system)
        passwords.configure(**settings.password.model_dump())
        #: The OpenTelemetry pipeline (ISLES_TRACING_ENDPOINT); None, and the SDK not
        #: imported, when tracing is off.
        self.tracing: Exporting | None = None
        if settings.tracing.endpoint is not None:
            from isles.ops.otel import Exporting

            self.tracing = Exporting(settings.tracing, system=system.name)
        self.services: dict[str, ServiceRuntime] = {
            s.name: ServiceRuntime(
                service=s,
                db=ServiceDatabase(
                    s.name, urls[s.name], settings, resolve_pool(s.name, settings, env), metadata=s.metadata
                ),
                bus=self.bus,
                settings=settings,
                http=self._client_for,
                metrics=self.metrics,
                breakers=breakers,
                keys=self.keys,
                owners=owners,
                security_log=self.security,
                identity_provider=system.identity_provider,
                tracer=self.tracing.tracer(s.name) if self.tracing is not None else None,
            )
            for s in local
        }
        self.references = ReferenceRegistry()
        for s in system.services:
            self.references.add(s.references)
        self._on_stop: list[Callable[[], Awaitable[None]]] = []  # before the gateway: its console adds one
        self.app: FastAPI = create_gateway(self)
        self.started = False

    def __getitem__(self, name: str) -> ServiceRuntime:
        return self.services[name]

    def _client_for(self, target: str) -> httpx.AsyncClient:
        if target not in self.services and target not in self._base_urls:
            raise KeyError(f"no service named {target!r}")
        client = self._clients.get(target)
        if client is None:
            if target in self._base_urls:
                base = self._base_urls[target].rstrip("/")
                client = httpx.AsyncClient(base_url=f"{base}/api/{target}", timeout=5.0)
            else:
                # An error inside the target answers 500, as over the network; it is
                # not raised into the caller.
                client = httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=self.app, raise_app_exceptions=False),
                    base_url=f"http://gateway/api/{target}",
                    timeout=5.0,
                )
            self._clients[target] = client
        return client

    def operator_token(self, *, ttl: float = 3600.0) -> str:
        """A token for the operator (every permission, every company), if this process
        holds the operator's key (``isles up`` does; service processes do not)."""
        if security.OPERATOR not in self.keys.private:
            raise security.KeysError("this process holds no operator key")
        return self.keys.signer(security.OPERATOR, ttl=ttl).issue(subject="operator", tenant=None)

    def client(self, token: str | None = "operator") -> httpx.AsyncClient:
        """A client of the gateway app itself (in-process), for demo data and tests:
        as the operator by default, with ``token``, or anonymous (``None``)."""
        headers = {}
        if token == "operator":
            token = self.operator_token() if security.OPERATOR in self.keys.private else None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://gateway", timeout=30.0, headers=headers
        )

    def observe(self, observer: Observer) -> None:
        """Call ``observer(consumer, envelope, outcome)`` after each event is finished."""
        for rt in self.services.values():
            if rt.consumer is not None:
                rt.consumer.add_observer(observer)

    async def metrics_text(self) -> bytes:
        """The Prometheus exposition of every service in this process, its gauges read
        now (outbox backlog, dead letters, sagas, database and bus state, consumer lag)."""
        self.metrics.bus_ready.set(1 if self.bus.ready else 0)
        await asyncio.gather(*(self._refresh_service_metrics(rt) for rt in self.services.values()))
        return self.metrics.render()

    async def _refresh_service_metrics(self, rt: ServiceRuntime) -> None:
        m = self.metrics
        name = rt.name
        try:
            async with asyncio.timeout(3):
                m.outbox_backlog.labels(name).set(await rt.outbox.backlog())
                m.outbox_oldest_age.labels(name).set(await rt.outbox.oldest_unpublished_age())
                async with rt.db.read_session() as session:
                    rows = (
                        await session.execute(
                            select(dead_letters_table.c.event_type, func.count()).group_by(
                                dead_letters_table.c.event_type
                            )
                        )
                    ).all()
                seen = set()
                for event_type, count in rows:
                    m.dead_letters.labels(name, event_type).set(count)
                    seen.add(event_type)
                for event_type in rt.handled_event_types():
                    if event_type not in seen:
                        m.dead_letters.labels(name, event_type).set(0)
                if rt.sagas is not None:
                    counts = await rt.sagas.store.counts()
                    for saga in rt.sagas.sagas:
                        for status in ("running", "compensating", "completed", "compensated", "failed"):
                            m.sagas.labels(name, saga, status).set(counts.get((saga, status), 0))
            m.database_up.labels(name).set(1)
        except Exception as exc:
            metrics_log.warning("metrics.refresh_failed", service=name, error=repr(exc))
            m.database_up.labels(name).set(0)
        if rt.consumer is not None:
            # JetStream counts what the consumer holds as unacknowledged, so its lag
            # already includes the local queue; the embedded bus holds nothing itself.
            lag = rt.consumer.queued
            try:
                async with asyncio.timeout(2):
                    lag = max(lag, await rt.bus.lag(name))
            except Exception as exc:
                metrics_log.warning("metrics.lag_failed", service=name, error=repr(exc))
            m.consumer_lag.labels(name).set(lag)

    async def readiness(self) -> dict[str, str]:
        """What is not ready: each local database and the bus ("ok" or the error)."""

        async def check(rt: ServiceRuntime) -> tuple[str, str]:
            try:
                await rt.db.ping()
            except Exception as exc:
                return f"database:{rt.name}", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            return f"database:{rt.name}", "ok"

        checks = dict(await asyncio.gather(*(check(rt) for rt in self.services.values())))
        checks["bus"] = "ok" if self.bus.ready else "not connected"
        return checks

    async def prepare(self) -> None:
        """Create each service's database if missing and apply its pending migrations:
        as the schema's owner where ``ISLES_<SERVICE>_MIGRATOR_URL`` names one (the
        service itself then runs as a role that cannot change the schema), else as the
        service. A role that may not migrate, facing pending revisions, is one clear
        error saying how to migrate."""
        env = ServiceEnvironment(self._environ)
        for rt in self.services.values():
            await rt.db.ensure_exists()
            migrator_url = env.migrator_url(rt.name)
            if migrator_url is None:
                try:  # at head it only reads: a role that may only read and write is enough
                    await migrations.upgrade(rt.db, rt.service)
                except Exception as exc:
                    if "permission denied" not in str(exc) and "must be owner" not in str(exc):
                        # not a role that lacks the right: the failure as it is
                        raise
                    raise DatabaseConfigError(
                        f"{rt.name}: pending migrations, and its role may not apply them "
                        f"({str(exc).splitlines()[0]}). Run isles migrate upgrade --service {rt.name} "
                        f"as the schema's owner (set -a; . <secrets-dir>/{rt.name}.migrator.env), "
                        f"or give ISLES_{rt.name.upper()}_MIGRATOR_URL"
                    ) from exc
                continue
            owner = ServiceDatabase(rt.name, migrator_url, self.settings, metadata=rt.service.metadata)
            try:
                await migrations.upgrade(owner, rt.service)
            finally:
                await owner.dispose()

    async def start(self, *, relays: bool = True, consumers: bool = True, sagas: bool = True) -> None:
        if self.settings.failpoints:
            failpoints.configure(self.settings.failpoints)
        await self.prepare()
        await self.bus.start(consume=consumers)
        for rt in self.services.values():
            rt.start(relay=relays, consumer=consumers)
        if sagas:
            # Last: a resumed saga may call any service of this process at once.
            for rt in self.services.values():
                await rt.start_sagas()
        self.started = True
        if self.settings.audit.interval > 0:
            self._audit_task = asyncio.create_task(self._audit_now_and_then(), name="isles-audit")
        log.info("system.started", system=self.system.name, services=list(self.services))

    async def audit_once(self) -> AuditReport:
        """Audit what this process holds (its services' references and copies whose
        owners it holds too, their pipelines; with ``ISLES_AUDIT_VALUES_SLICES``, the
        values of one slice of the keys) and export the counts as gauges."""
        from isles.service.audit import audit, export

        a = self.settings.audit
        # Values: one slice of the keys a round, every row once every values_slices
        # rounds; each slice's last count of differing rows is kept for the gauges.
        part = (self._audit_round % a.values_slices, a.values_slices) if a.values_slices else None
        self._audit_round += 1
        report = await audit(
            self.system,
            {name: rt.db for name, rt in self.services.items()},
            settle=a.settle,
            window=timedelta(hours=a.window_hours),
            values=part is not None,
            values_slice=part,
        )
        if part is not None:
            for c in report.checks:
                if c.kind != "reference" and not c.skipped:
                    self._differs.setdefault(c.name, {})[part[0]] = c.counts.get("differs", 0)
        export(report, self.metrics, {name: sum(by.values()) for name, by in self._differs.items()})
        self.metrics.audit_last_success.set(time.time())
        return report

    async def _audit_now_and_then(self) -> None:
        while True:
            await asyncio.sleep(self.settings.audit.interval)
            try:
                report = await self.audit_once()
                log.info("audit.done", findings=report.findings, seconds=round(report.seconds, 3))
            except Exception as exc:  # a database away: try again next time, say so
                self.metrics.audit_failures.inc()
                log.warning("audit.failed", error=repr(exc))

    def on_stop(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run ``hook`` first when the runtime stops, before any engine goes: what reads
        the databases on a timer of its own (the console's samples) stops there, or its
        next round would open a connection on a disposed engine that nobody closes."""
        self._on_stop.append(hook)

    async def stop(self) -> None:
        """Stop driving sagas and publishing, release what the bus handed over (it
        comes again), close."""
        for hook in self._on_stop:
            await hook()
        if self._audit_task is not None:
            self._audit_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._audit_task
            self._audit_task = None
        for rt in self.services.values():
            if rt.sagas is not None:
                await rt.sagas.stop()
        for rt in self.services.values():
            await rt.stop_relay()
        await self.bus.stop()
        for rt in self.services.values():
            if rt.consumer is not None:
                await rt.consumer.stop()
        for rt in self.services.values():
            # Before the engines go: a worker left running opened a connection on a
            # disposed engine at its next poll, which nobody ever closed.
            for worker in rt.workers.values():
                await worker.stop()
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        for rt in self.services.values():
            await rt.close_cache()
            await rt.db.dispose()
        self.security.close()
        if self.tracing is not None:
            # Last: the spans of everything stopped above are exported before the process ends.
            await asyncio.to_thread(self.tracing.shutdown)
        self.started = False

    async def settle(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109 - a bound, not a cancel scope
        """Wait until every outbox is published and every consumer is idle."""
        for rt in self.services.values():
            rt.relay.wake()
        deadline = time.monotonic() + timeout
        calm = 0
        while calm < 2:
            if time.monotonic() > deadline:
                busy = [n for n, rt in self.services.items() if not rt.idle]
                raise TimeoutError(f"system did not settle within {timeout}s; busy: {busy}")
            await asyncio.sleep(0.01)
            if all(rt.idle for rt in self.services.values()):
                backlog = [await rt.outbox.backlog() for rt in self.services.values()]
                lag = [await self.bus.lag(n) for n, rt in self.services.items() if rt.consumer is not None]
                calm = calm + 1 if not any(backlog) and not any(lag) else 0
            else:
                calm = 0
