"""The gateway of the distributed mode: one port in front of every service process.

``/api/<service>/...`` is forwarded to that service's process (its own
``/api/<service>/...``), so clients see the same URLs as in the embedded mode.
``/ready`` is ready when every service is; ``/health`` answers while the gateway runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from isles.core import tracing
from isles.core.problems import not_found, not_ready, unavailable
from isles.http import problems
from isles.http.gateway import ASSETS, TraceContextMiddleware, swagger_assets

# Hop-by-hop headers (RFC 9110 7.6.1) and ones httpx recomputes.
_DROP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host", "content-length", "content-encoding"}
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def create_proxy_gateway(system: str, upstreams: Mapping[str, str], *, timeout: float = 30.0) -> FastAPI:
    app = FastAPI(title=f"{system} gateway", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(TraceContextMiddleware)
    app.mount(ASSETS, StaticFiles(directory=str(swagger_assets())), name="swagger-assets")
    problems.install(app)
    client = httpx.AsyncClient(timeout=timeout)
    app.state.client = client

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "services": sorted(upstreams)}

    @app.get("/ready")
    async def ready(request: Request) -> Response:
        async def check(name: str, base: str) -> tuple[str, str]:
            try:
                r = await client.get(f"{base}/ready", timeout=3)
            except httpx.TransportError as exc:
                return name, f"unreachable: {type(exc).__name__}"
            return name, "ok" if r.status_code == 200 else str(r.json().get("detail", r.status_code))

        checks = dict(await asyncio.gather(*(check(n, b) for n, b in upstreams.items())))
        if all(v == "ok" for v in checks.values()):
            return JSONResponse({"status": "ready", "checks": checks})
        return problems.respond(not_ready(checks), request)

    @app.get("/", include_in_schema=False)
    async def index() -> JSONResponse:
        return JSONResponse(
            {
                "system": system,
                "health": "/health",
                "ready": "/ready",
                "services": {
                    name: {
                        "api": f"/api/{name}",
                        "docs": f"/api/{name}/docs",
                        "process": base,
                        "metrics": f"{base}/metrics",
                    }
                    for name, base in sorted(upstreams.items())
                },
            }
        )

    @app.api_route("/api/{service}/{path:path}", methods=_METHODS, include_in_schema=False)
    async def forward(service: str, path: str, request: Request) -> Response:
        base = upstreams.get(service)
        if base is None:
            raise not_found("service", service)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP}
        # The caller's traceparent as it came, or none (the service begins the trace):
        # this gateway makes no span, so a traceparent of its own making would be the
        # parent, in a trace receiver, of a span nobody ever exported.
        incoming = headers.pop("traceparent", "")
        if tracing.is_valid(incoming):
            headers["traceparent"] = incoming
        headers["x-forwarded-for"] = request.client.host if request.client else ""
        try:
            upstream = await client.request(
                request.method,
                f"{base}/api/{service}/{path}",
                params=str(request.query_params),
                content=await request.body(),
                headers=headers,
            )
        except httpx.TransportError as exc:
            raise unavailable(service) from exc
        kept = {k: v for k, v in upstream.headers.items() if k.lower() not in _DROP}
        return Response(upstream.content, status_code=upstream.status_code, headers=kept)

    return app  # the caller closes app.state.client when it stops serving
