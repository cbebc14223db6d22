"""The gateway: every service's API under ``/api/<service>`` on one port.

Each service is its own FastAPI app (its own OpenAPI document and docs page at
``/api/<service>/docs``) mounted under the gateway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from isles import problems, tracing

if TYPE_CHECKING:
    from isles.runtime import ServiceRuntime, SystemRuntime


class TraceContextMiddleware:
    """Continue the caller's W3C trace (``traceparent`` header), or start one: the
    events a request writes carry it, and so do the calls it makes to services."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            incoming = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"traceparent"), "")
            with tracing.scope(tracing.new_traceparent(incoming)):
                await self.app(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_service_app(rt: ServiceRuntime) -> FastAPI:
    s = rt.service
    app = FastAPI(
        title=f"{s.name} service",
        description=s.description,
        version=s.version,
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    app.state.runtime = rt
    problems.install(app)
    app.include_router(s.router)
    return app


def create_gateway(runtime: SystemRuntime) -> FastAPI:
    app = FastAPI(title=f"{runtime.system.name} gateway", redoc_url=None)
    app.add_middleware(TraceContextMiddleware)
    problems.install(app)

    @app.get("/health", tags=["operations"])
    async def health() -> dict[str, Any]:
        """Liveness: the process answers."""
        return {"status": "ok", "services": sorted(runtime.services)}

    @app.get("/", include_in_schema=False)
    async def index() -> JSONResponse:
        return JSONResponse(
            {
                "system": runtime.system.name,
                "health": "/health",
                "services": {
                    name: {"api": f"/api/{name}", "docs": f"/api/{name}/docs", "openapi": f"/api/{name}/openapi.json"}
                    for name in sorted(runtime.services)
                },
            }
        )

    for name, rt in runtime.services.items():
        app.mount(f"/api/{name}", create_service_app(rt))
    return app
