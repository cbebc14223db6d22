"""OpenTelemetry spans of a running system, exported with OTLP over HTTP.

Imported only when ``ISLES_TRACING_ENDPOINT`` is set: the SDK, the exporter and
protobuf stay out of a process that does not trace.

One :class:`Exporting` per process: one ``BatchSpanProcessor`` (one queue, one thread,
one OTLP exporter) shared by one ``TracerProvider`` per service, each with its own
resource (``service.name`` = the service), so the spans of ``isles up`` (every
service in one process) are told apart by service as those of ``isles serve`` are.
A span's parent comes from the platform's own traceparent (:mod:`isles.core.tracing`),
never from OpenTelemetry's context: the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from isles.core import tracing
from isles.core.settings import TracingSettings

_KINDS: dict[str, SpanKind] = {
    "server": SpanKind.SERVER,
    "client": SpanKind.CLIENT,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
    "internal": SpanKind.INTERNAL,
}
_NO_PARENT = Context()


def parent_context(traceparent: str) -> Context:
    """An OpenTelemetry context whose span is ``traceparent`` (remote); empty when
    ``traceparent`` is not valid (the span begins a new trace)."""
    if not tracing.is_valid(traceparent):
        return _NO_PARENT
    parent = SpanContext(
        trace_id=int(traceparent[3:35], 16),
        span_id=int(traceparent[36:52], 16),
        is_remote=True,
        trace_flags=TraceFlags(int(traceparent[53:55], 16)),
    )
    return trace.set_span_in_context(NonRecordingSpan(parent), _NO_PARENT)


class OtelSpan:
    """:class:`isles.core.tracing.Span` over an OpenTelemetry span."""

    __slots__ = ("_span", "traceparent")

    def __init__(self, span: trace.Span) -> None:
        self._span = span
        c = span.get_span_context()
        self.traceparent = f"00-{c.trace_id:032x}-{c.span_id:016x}-{c.trace_flags:02x}"

    def set(self, key: str, value: tracing.Attribute) -> None:
        self._span.set_attribute(key, value)

    def rename(self, name: str) -> None:
        self._span.update_name(name)

    def failed(self, error: BaseException | str) -> None:
        if isinstance(error, BaseException):
            self._span.record_exception(error)
            self._span.set_attribute("error.type", type(error).__qualname__)
            self._span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"[:300]))
        else:
            self._span.set_status(Status(StatusCode.ERROR, error[:300]))

    def end(self) -> None:
        self._span.end()


class ServiceTracer:
    """:class:`isles.core.tracing.Tracer` of one service."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def start(
        self,
        name: str,
        kind: tracing.Kind,
        *,
        parent: str,
        attributes: Mapping[str, tracing.Attribute] | None = None,
    ) -> OtelSpan:
        return OtelSpan(
            self._tracer.start_span(name, context=parent_context(parent), kind=_KINDS[kind], attributes=attributes)
        )


class Exporting:
    """The process's span pipeline: tracers per service, one batch exporter for all."""

    def __init__(self, settings: TracingSettings, *, system: str, version: str = "") -> None:
        if settings.endpoint is None:
            raise ValueError("tracing.endpoint is not set: nothing to export to")
        self.endpoint = f"{settings.endpoint}/v1/traces"
        self._system = system
        self._version = version
        self._sampler = ParentBased(TraceIdRatioBased(settings.sample_ratio))
        exporter = OTLPSpanExporter(
            endpoint=self.endpoint, headers=settings.header_map() or None, timeout=settings.timeout
        )
        self._processor = BatchSpanProcessor(exporter)
        self._providers: list[TracerProvider] = []

    def tracer(self, service: str) -> ServiceTracer:
        """The tracer of ``service``: its spans carry ``service.name`` = ``service``."""
        resource = Resource.create({"service.name": service, "service.namespace": self._system})
        # Not shut down at exit by each provider: the processor is shared, and stop() flushes it.
        provider = TracerProvider(sampler=self._sampler, resource=resource, shutdown_on_exit=False)
        provider.add_span_processor(self._processor)
        self._providers.append(provider)
        return ServiceTracer(provider.get_tracer("isles", self._version or None))

    def flush(self, timeout: float = 5.0) -> bool:
        """Export every span ended so far; False if that took longer than ``timeout``."""
        return self._processor.force_flush(int(timeout * 1000))

    def shutdown(self) -> None:
        """Export what is left, then stop the exporting thread (blocks: call it in a thread)."""
        self._processor.shutdown()  # type: ignore[no-untyped-call]


__all__ = ["Exporting", "OtelSpan", "ServiceTracer", "parent_context"]
