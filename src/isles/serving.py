"""Serving an ASGI app with uvicorn, with our own signal handling."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from typing import Any

import uvicorn


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM after its own shutdown, which would kill the process
    before the relays, consumers and engines are stopped; we handle signals instead."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def request_exit(self) -> None:
        self.should_exit = True


async def run_server(asgi: Any, *, host: str, port: int, log_level: str) -> None:
    """Serve until SIGINT or SIGTERM; requests in flight are finished first."""
    config = uvicorn.Config(asgi, host=host, port=port, log_level=log_level, lifespan="off")
    server = _Server(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server.request_exit)
    await server.serve()
