"""The operator console at ``/console``: server-rendered pages (Jinja2, plain CSS, a
few lines of vanilla JavaScript; nothing from a CDN) over the running system's
services — overview, dead letters, sagas, events, data map and audit.

Mounted by the gateway (:func:`install`) where the runtime behind it offers what the
console reads (:class:`isles.console.system.ConsoleSystem`): ``isles up`` and each
``isles run`` process, for the services of that process. docs/console.md.
"""

from __future__ import annotations

from fastapi import FastAPI

from isles.console.system import ConsoleSystem

PREFIX = "/console"


def install(app: FastAPI, runtime: object, *, sample_every: float | None = None) -> bool:
    """Mount the console on ``app`` at :data:`PREFIX` if ``runtime`` offers what it
    needs; return whether it did."""
    if not isinstance(runtime, ConsoleSystem):
        return False
    from isles.console.routes import create_console

    app.mount(PREFIX, create_console(runtime, sample_every=sample_every), name="console")
    return True


__all__ = ["PREFIX", "ConsoleSystem", "install"]
