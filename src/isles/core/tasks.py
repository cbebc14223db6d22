"""Stopping background tasks for sure."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]], *, interval: float = 0.5) -> None:
    """Cancel ``tasks`` and wait until each has ended, cancelling again if needed.

    A database driver may turn a cancellation into an ordinary error, which a retry
    loop would then swallow; cancelling once and waiting could wait forever.
    """
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=interval)
