"""The events the auth service publishes: none yet (the HR-core issue adds them)."""

from __future__ import annotations

from isles.events import Event

PUBLISHES: tuple[type[Event], ...] = ()
