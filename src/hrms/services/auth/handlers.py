"""What the auth service does on other services' events: nothing yet."""

from __future__ import annotations

from isles import Handler

HANDLERS: tuple[Handler, ...] = ()
