"""W3C trace context for events: every event carries a ``traceparent``."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

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
