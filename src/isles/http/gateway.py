"""The gateway: every service's API under ``/api/<service>`` on one port.

Each service is its own FastAPI app (its own OpenAPI document and docs page at
``/api/<service>/docs``) mounted under the gateway.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Mapping
from typing import Any, Protocol

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from isles import console
from isles.core import tracing
from isles.core.problems import not_ready
from isles.http import openapi, problems
from isles.http.limits import UPLOAD_FRAMING, BodyLimitMiddleware
from isles.http.queries import no_nul_characters, strict_query
from isles.ops.metrics import RequestMetricsMiddleware
from isles.security.tokens import IDENTITY_PROVIDER
from isles.service.context import ServiceContext
from isles.service.declaration import Service


class RunningService(ServiceContext, Protocol):
    """A running service as the gateway mounts it: its context and its declaration."""

    @property
    def service(self) -> Service: ...

    @property
    def tracer(self) -> tracing.Tracer | None:
        """The service's OpenTelemetry spans; None when tracing is off."""
        ...


class RunningSystem(Protocol):
    """What the gateway needs of the system running behind it."""

    @property
    def name(self) -> str: ...

    @property
    def services(self) -> Mapping[str, RunningService]: ...

    async def readiness(self) -> dict[str, str]:
        """Each dependency ("<service> database", "bus") → "ok" or what is wrong."""
        ...

    async def metrics_text(self) -> bytes:
        """The Prometheus exposition of every service in this process, fresh."""
        ...


ASSETS = "/_assets/swagger"


def swagger_assets() -> object:
    """Swagger UI 5 (OpenAPI 3.1), as shipped in the swagger-ui-py package."""
    return importlib.resources.files("swagger_ui") / "static"


def add_docs(app: FastAPI, title: str) -> None:
    """A docs page that loads Swagger UI from the gateway itself, not from a CDN,
    so it works on machines without internet access."""

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{title} - docs",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
        )


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


class ServerSpanMiddleware:
    """A server span per request to one service (tracing on): the child of the
    caller's ``traceparent`` header (the client span of the service that called), or
    the root of a new trace; its own traceparent is current while the request runs."""

    def __init__(self, app: ASGIApp, tracer: tracing.Tracer) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"traceparent"), "")
        method = scope["method"]
        root = scope.get("root_path", "")
        span = self.tracer.start(
            method,
            "server",
            parent=incoming,
            attributes={"http.request.method": method, "url.path": root + scope["path"], "url.scheme": scope["scheme"]},
        )
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            with tracing.scope(span.traceparent):
                await self.app(scope, receive, sending)
        except BaseException as exc:
            span.failed(exc)
            raise
        finally:
            route = getattr(scope.get("route"), "path", None)
            if route is not None:  # the route's template, not the path: few distinct names
                span.set("http.route", root + route)
                span.rename(f"{method} {root}{route}")
            if status:
                span.set("http.response.status_code", status)
                if status >= 500:
                    span.failed(f"answered {status}")
            span.end()


def create_service_app(rt: RunningService) -> FastAPI:
    s = rt.service
    app = FastAPI(
        title=f"{s.name} service",
        description=s.description,
        version=s.version,
        docs_url=None,
        openapi_url="/openapi.json",
        redoc_url=None,
        dependencies=[Depends(strict_query), Depends(no_nul_characters)],
    )
    add_docs(app, f"{s.name} service")
    verifier = rt.verifier
    openapi.install(app, identity_provider=verifier.identity_provider if verifier else IDENTITY_PROVIDER)
    app.state.context = rt
    app.add_middleware(RequestMetricsMiddleware, metrics=rt.metrics, service=s.name)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=rt.settings.max_body_bytes,
        uploads=s.uploads,
        max_upload_bytes=rt.settings.blobs.max_upload_bytes + UPLOAD_FRAMING,
    )
    if rt.tracer is not None:  # outermost: the span covers the whole request
        app.add_middleware(ServerSpanMiddleware, tracer=rt.tracer)
    problems.install(app)
    app.include_router(s.api())
    if s.sagas:
        from isles.http.saga_routes import router as saga_router

        app.include_router(saga_router)
    return app


def add_operations(app: FastAPI, runtime: RunningSystem) -> None:
    """``/ready`` (503 while a database or the bus is unreachable) and ``/metrics``."""

    @app.get("/ready", tags=["operations"], responses={503: {"description": "Not ready (problem details)."}})
    async def ready(request: Request) -> Response:
        """Readiness: every database of this process answers and the bus is connected."""
        checks = await runtime.readiness()
        if all(v == "ok" for v in checks.values()):
            return JSONResponse({"status": "ready", "checks": checks})
        return problems.respond(not_ready(checks), request)

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    async def metrics() -> Response:
        """Prometheus metrics of every service in this process."""
        return Response(await runtime.metrics_text(), media_type=CONTENT_TYPE_LATEST)


def create_gateway(runtime: RunningSystem) -> FastAPI:
    app = FastAPI(title=f"{runtime.name} gateway", redoc_url=None, docs_url=None)
    app.add_middleware(TraceContextMiddleware)
    add_docs(app, f"{runtime.name} gateway")
    app.mount(ASSETS, StaticFiles(directory=str(swagger_assets())), name="swagger-assets")
    problems.install(app)

    @app.get("/health", tags=["operations"])
    async def health() -> dict[str, Any]:
        """Liveness: the process answers."""
        return {"status": "ok", "services": sorted(runtime.services)}

    add_operations(app, runtime)

    @app.get("/", include_in_schema=False)
    async def index() -> JSONResponse:
        return JSONResponse(
            {
                "system": runtime.name,
                "health": "/health",
                "services": {
                    name: {"api": f"/api/{name}", "docs": f"/api/{name}/docs", "openapi": f"/api/{name}/openapi.json"}
                    for name in sorted(runtime.services)
                },
            }
        )

    for name, rt in runtime.services.items():
        app.mount(f"/api/{name}", create_service_app(rt))
    console.install(app, runtime)  # the operator console at /console (docs/console.md)
    return app
