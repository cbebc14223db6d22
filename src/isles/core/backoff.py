"""Backoff, one rule for every retry in the platform: attempt ``n`` (1-based) waits
``base * 2**(n-1)`` seconds, at most ``ceiling``; with jitter, half of it fixed and
half random, so many callers retrying at once spread out (consumer retries, service
calls, saga steps). Loops that wait for a server to come back (NATS, LISTEN, the
relay, workers, the supervisor) use it without jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    base: float
    ceiling: float
    jitter: bool = True

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt`` (1-based) of a retry."""
        top = min(self.ceiling, self.base * 2.0 ** min(max(attempt, 1) - 1, 64))
        return top / 2 + random.uniform(0, top / 2) if self.jitter else top
