"""Serving an ASGI app with uvicorn, with our own signal handling, on uvloop and
httptools where they are installed (they are dependencies; the fallback keeps a
platform without them working)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import signal
import socket
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import uvicorn

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop if it is installed, else None (asyncio's own)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on the fastest event loop available (see :func:`loop_factory`)."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


def http_protocol() -> str:
    """httptools' parser if it is installed (several times cheaper per request than h11)."""
    return "httptools" if importlib.util.find_spec("httptools") is not None else "h11"


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM after its own shutdown, which would kill the process
    before the relays, consumers and engines are stopped; we handle signals instead."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def request_exit(self) -> None:
        self.should_exit = True


async def run_server(asgi: Any, *, host: str, port: int, log_level: str, reuse_port: bool = False) -> None:
    """Serve until SIGINT or SIGTERM; requests in flight are finished first.
    ``reuse_port``: bind with ``SO_REUSEPORT`` (beside the socket a supervisor holds on
    the port; see :func:`isles.runtime.distributed.run_distributed`)."""
    config = uvicorn.Config(asgi, host=host, port=port, log_level=log_level, lifespan="off", http=http_protocol())
    server = _Server(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server.request_exit)
    if not reuse_port:
        await server.serve()
        return
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(False)
    await server.serve(sockets=[sock])
