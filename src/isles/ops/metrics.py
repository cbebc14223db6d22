"""Prometheus metrics of a running system (one registry per runtime, served at ``/metrics``).

Counters and histograms are updated as work happens; gauges that need a database
query (outbox backlog, oldest unpublished age, dead letters, consumer lag) are
refreshed when ``/metrics`` is scraped. Counters and histograms export no
``<name>_created`` series (the time each labelled child was first used): they double
the series count and nothing reads them (dashboards and alerts: ``deploy/``).
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("isles.metrics")

# A process-wide switch of prometheus_client, as PROMETHEUS_DISABLE_CREATED_SERIES=True
# would be (read when the exposition is rendered).
disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # The process's own series (process_resident_memory_bytes, process_cpu_seconds_total,
        # open fds; python_gc_*, python_info): the library's collectors, shared by every
        # runtime of the process (they describe the process, not a runtime).
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            r.register(collector)
        self.outbox_backlog = Gauge("isles_outbox_backlog", "Outbox rows not yet published.", ["service"], registry=r)
        self.outbox_oldest_age = Gauge(
            "isles_outbox_oldest_unpublished_age_seconds",
            "Age of the oldest unpublished outbox row (0 when none).",
            ["service"],
            registry=r,
        )
        self.cache_requests = Counter(
            "isles_cache_requests",
            "Figure cache lookups (isles.clients.cache), by result: hit or miss.",
            ["service", "backend", "result"],
            registry=r,
        )
        self.relay_published = Counter(
            "isles_relay_published", "Events the relay handed to the bus and marked published.", ["service"], registry=r
        )
        self.consumer_lag = Gauge(
            "isles_consumer_lag",
            "Events waiting for this service's consumer (in the bus and in its queues).",
            ["service"],
            registry=r,
        )
        self.handler_latency = Histogram(
            "isles_handler_duration_seconds",
            "Time to apply one event (inbox insert, handlers, commit).",
            ["service", "event_type"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.handler_failures = Counter(
            "isles_handler_failures", "Failed attempts to apply an event.", ["service", "event_type"], registry=r
        )
        self.events_applied = Counter(
            "isles_events_applied", "Events applied (first delivery).", ["service", "event_type"], registry=r
        )
        self.events_duplicate = Counter(
            "isles_events_duplicate", "Deliveries skipped as already applied.", ["service", "event_type"], registry=r
        )
        self.dead_lettered = Counter(
            "isles_dead_lettered", "Events parked as dead letters.", ["service", "event_type"], registry=r
        )
        self.dead_letters = Gauge(
            "isles_dead_letters",
            "Dead letters waiting in the table, by event type.",
            ["service", "event_type"],
            registry=r,
        )
        self.http_latency = Histogram(
            "isles_http_request_duration_seconds",
            "API request latency.",
            ["service", "method", "route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.saga_started = Counter("isles_sagas_started", "Sagas started.", ["service", "saga"], registry=r)
        self.saga_finished = Counter(
            "isles_sagas_finished",
            "Sagas that ended: completed, compensated, or failed (a compensation gave up).",
            ["service", "saga", "outcome"],
            registry=r,
        )
        self.saga_duration = Histogram(
            "isles_saga_duration_seconds",
            "From a saga's start to its end, by outcome.",
            ["service", "saga", "outcome"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0),
            registry=r,
        )
        self.saga_compensations = Counter(
            "isles_saga_compensations",
            "Compensation attempts, by step and outcome (compensated, failed).",
            ["service", "saga", "step", "outcome"],
            registry=r,
        )
        self.sagas = Gauge(
            "isles_sagas",
            "Sagas in the table, by status (running, compensating, failed, ...).",
            ["service", "saga", "status"],
            registry=r,
        )
        self.client_requests = Counter(
            "isles_client_requests",
            "Calls to other services, by outcome (ok, client_error, server_error, transport_error, circuit_open).",
            ["service", "target", "method", "outcome"],
            registry=r,
        )
        self.client_latency = Histogram(
            "isles_client_request_duration_seconds",
            "Time of one call attempt to another service.",
            ["service", "target", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.circuit_state = Gauge(
            "isles_circuit_state",
            "Circuit to another service: 0 closed, 1 half-open, 2 open.",
            ["service", "target"],
            registry=r,
        )
        self.bus_ready = Gauge("isles_bus_ready", "1 when the bus is connected.", registry=r)
        self.database_up = Gauge("isles_database_up", "1 when the service's database answers.", ["service"], registry=r)
        # The periodic audit (ISLES_AUDIT_INTERVAL): per declaration, what its last run found.
        labels = ["service", "declaration"]
        self.orphaned_references = Gauge(
            "isles_orphaned_references", "Referenced ids their owner does not have.", labels, registry=r
        )
        self.stale_copies = Gauge(
            "isles_stale_copies",
            "Copied rows not at their owner's version, or differing from it (after the settle time).",
            labels,
            registry=r,
        )
        self.missing_copies = Gauge(
            "isles_missing_copies", "Owner rows a complete copy lacks (after the settle time).", labels, registry=r
        )
        self.extra_copies = Gauge("isles_extra_copies", "Copied rows their owner no longer has.", labels, registry=r)
        self.audit_consumer_lag = Gauge(
            "isles_audit_consumer_lag_events",
            "Events published in the audit's window that this service's inbox does not hold yet.",
            ["service"],
            registry=r,
        )
        self.audit_failure_rate = Gauge(
            "isles_audit_failed_processing_ratio",
            "Of the events this service's consumer took in the audit's window, the part parked as dead letters.",
            ["service"],
            registry=r,
        )
        self.audit_duration = Gauge("isles_audit_duration_seconds", "How long the last audit took.", registry=r)
        self.audit_last_success = Gauge(
            "isles_audit_last_success_timestamp_seconds", "When the last audit finished (Unix time).", registry=r
        )
        self.audit_failures = Counter("isles_audit_failures", "Audits that could not run.", registry=r)
        self._handled: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    # -- hooks -----------------------------------------------------------------

    def handled(self, service: str, event_type: str, seconds: float, outcome: str) -> None:
        # Called for every event a consumer takes: the labelled children are looked up
        # once per (service, event type, outcome), not per event.
        key = (service, event_type, outcome)
        children = self._handled.get(key)
        if children is None:
            counter = {
                "applied": self.events_applied,
                "duplicate": self.events_duplicate,
                "failed": self.handler_failures,
                "dead_lettered": self.dead_lettered,
            }.get(outcome)
            children = self._handled[key] = (
                self.handler_latency.labels(service, event_type),
                counter.labels(service, event_type) if counter is not None else None,
            )
        latency, count = children
        latency.observe(seconds)
        if count is not None:
            count.inc()

    def client_call(self, service: str, target: str, method: str, outcome: str, seconds: float) -> None:
        self.client_requests.labels(service, target, method, outcome).inc()
        if outcome != "circuit_open":
            self.client_latency.labels(service, target, method).observe(seconds)

    # -- scrape ------------------------------------------------------------------

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RequestMetricsMiddleware:
    """Times every request of one service's API, labelled by route template."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, service: str) -> None:
        self.app = app
        self.metrics = metrics
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.http_latency.labels(self.service, scope.get("method", ""), template, str(status)).observe(
                time.perf_counter() - started
            )
