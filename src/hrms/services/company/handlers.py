"""What the company service does on other services' events: nothing yet."""

from __future__ import annotations

from isles.consumer import Handler

HANDLERS: tuple[Handler, ...] = ()
