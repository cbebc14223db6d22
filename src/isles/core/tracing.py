"""W3C trace context for events: every event carries a ``traceparent``.

And the spans of OpenTelemetry, when a service has a :class:`Tracer` (only when
``ISLES_TRACING_ENDPOINT`` is set; :mod:`isles.ops.otel` makes them): each span is a
child of the current traceparent and its own traceparent is bound for its block, so
what the platform already carries (events, the ``traceparent`` header of calls) links
every span of one request into one trace, across services and processes. Nothing
here imports OpenTelemetry; a part whose tracer is None makes no span at all.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal, Protocol

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_current: ContextVar[str] = ContextVar("isles_traceparent", default="")
# Trace and span ids need to be unique, not secret (OpenTelemetry's own generator
# uses random too): a system call for each event's span id cost more than its handler.
_random = random.Random()


def is_valid(traceparent: str) -> bool:
    m = _TRACEPARENT.match(traceparent)
    return bool(m) and m.group(1) != "0" * 32 and m.group(2) != "0" * 16  # type: ignore[union-attr]


def new_traceparent(parent: str = "") -> str:
    """A child of ``parent`` (same trace, new span), or the root of a new trace."""
    m = _TRACEPARENT.match(parent) if parent else None
    trace_id = m.group(1) if m and is_valid(parent) else f"{_random.getrandbits(128) or 1:032x}"
    return f"00-{trace_id}-{_random.getrandbits(64) or 1:016x}-01"


def current() -> str:
    """The traceparent of the work in progress (a request or an event being handled)."""
    return _current.get()


def bind(traceparent: str) -> None:
    """Make ``traceparent`` the parent of events written from here on in this context."""
    _current.set(traceparent if is_valid(traceparent) else "")


@contextmanager
def scope(traceparent: str) -> Iterator[None]:
    """Bind ``traceparent`` for the block, then restore what was bound before."""
    token = _current.set(traceparent if is_valid(traceparent) else "")
    try:
        yield
    finally:
        _current.reset(token)


#: A span's kind, as OpenTelemetry names them.
Kind = Literal["server", "client", "producer", "consumer", "internal"]
Attribute = str | int | float | bool


class Span(Protocol):
    """A span under way: ended once, by :meth:`end`."""

    @property
    def traceparent(self) -> str:
        """This span as a W3C traceparent: the parent of what it causes."""
        ...

    def set(self, key: str, value: Attribute) -> None: ...

    def rename(self, name: str) -> None:
        """Name it anew (a server span, once the route is known)."""
        ...

    def failed(self, error: BaseException | str) -> None:
        """Mark the span's outcome an error (an exception is recorded with it)."""
        ...

    def end(self) -> None: ...


class Tracer(Protocol):
    """One service's spans (its ``service.name``)."""

    def start(self, name: str, kind: Kind, *, parent: str, attributes: Mapping[str, Attribute] | None = None) -> Span:
        """A span begun now, the child of ``parent`` (a traceparent; "" or invalid: a
        new trace)."""
        ...


@contextmanager
def span(tracer: Tracer, name: str, kind: Kind, attributes: Mapping[str, Attribute] | None = None) -> Iterator[Span]:
    """A span for the block, the child of the current traceparent; its own is current
    inside the block (the events written and the calls made there are its children). An
    exception leaving the block marks it failed."""
    made = tracer.start(name, kind, parent=_current.get(), attributes=attributes)
    token = _current.set(made.traceparent)
    try:
        yield made
    except BaseException as exc:
        made.failed(exc)
        raise
    finally:
        _current.reset(token)
        made.end()
