"""The console's pages and actions (a FastAPI app the gateway mounts at /console)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from isles.console.access import COOKIE, Refused, is_https, same_origin
from isles.console.audit import add_routes as audit_pages
from isles.console.core import SECURITY_HEADERS, Console, first, read_form
from isles.console.datamap import add_routes as map_pages
from isles.console.events import add_routes as event_pages
from isles.console.letters import add_routes as letter_pages
from isles.console.overview import SERIES, sparkline, statuses
from isles.console.sagas import add_routes as saga_pages
from isles.console.system import ConsoleSystem


def create_console(runtime: ConsoleSystem, *, sample_every: float | None = None) -> FastAPI:
    app = FastAPI(title="console", docs_url=None, redoc_url=None, openapi_url=None)
    console = Console(runtime, sample_every=sample_every)
    app.state.console = console
    app.mount("/static", StaticFiles(packages=[("isles.console", "static")]), name="static")

    @app.middleware("http")
    async def headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        base = request.scope.get("root_path", "")
        if request.url.path.endswith(".json") or request.headers.get("authorization"):
            return JSONResponse({"status": exc.status, "reason": exc.reason, "detail": exc.detail}, exc.status)
        if exc.status == 401 and request.method == "GET":
            there = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"{base}/login?next={quote(there)}", status_code=303)
        return console.render(request, "refused.html", None, status=exc.status, refusal=exc)

    # -- signing in ---------------------------------------------------------------------

    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request, next: str = "") -> HTMLResponse:
        return console.render(request, "login.html", None, next=_local(next, request))

    @app.post("/login", response_model=None)
    async def login(request: Request) -> Response:
        form = await read_form(request)
        try:
            same_origin(request)
        except Refused as exc:
            console.gate.refused(request, exc)
            raise
        there = _local(first(form, "next"), request)
        try:
            session = console.gate.sign_in(request, first(form, "token"))
        except Refused as exc:
            return console.render(
                request,
                "login.html" if exc.status == 401 else "refused.html",
                None,
                status=exc.status,
                refusal=exc,
                next=there,
            )
        response = RedirectResponse(there, status_code=303)
        response.set_cookie(
            COOKIE,
            session.id,
            max_age=max(1, int(session.expires_at - time.time())),
            path=request.scope.get("root_path", "") or "/",
            secure=is_https(request),
            httponly=True,
            samesite="strict",
        )
        return response

    @app.post("/logout")
    async def logout(request: Request) -> RedirectResponse:
        session, _form = await console.guard_post(request)
        console.gate.sign_out(request, session)
        base = request.scope.get("root_path", "")
        response = RedirectResponse(f"{base}/login", status_code=303)
        response.delete_cookie(COOKIE, path=base or "/")
        return response

    # -- overview -----------------------------------------------------------------------

    async def overview_data() -> dict[str, Any]:
        found = await statuses(runtime)
        if not console.history.samples:  # the first look: the sampler's first round may not be in yet
            console.history.add(found)
        now = time.time()
        rows = []
        for st in found:
            published, applied = console.history.latest_rates(st.name)
            rates: tuple[float | None, float | None] = (published, applied) if st.counted else (None, None)
            rows.append(
                st.as_dict()
                | {
                    "published_rate": rates[0],
                    "applied_rate": rates[1],
                    "charts": {name: sparkline(console.history.series(st.name, name), now=now) for name in SERIES},
                }
            )
        return {
            "system": runtime.name,
            "at": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
            "bus": "ok" if runtime.bus.ready else "not connected",
            "samples": len(console.history.samples),
            "sample_seconds": console.history.every,
            "services": rows,
        }

    @app.get("/", response_class=HTMLResponse)
    async def overview(request: Request) -> HTMLResponse:
        session = await console.guard(request)
        return console.render(request, "overview.html", session, active="overview", data=await overview_data())

    @app.get("/overview.json")
    async def overview_json(request: Request) -> JSONResponse:
        await console.guard(request)
        return JSONResponse(await overview_data())

    for add_pages in (letter_pages, saga_pages, event_pages, map_pages, audit_pages):
        add_pages(app, console)
    return app


def _local(target: str, request: Request) -> str:
    """Where to go after signing in: a page of this console only (no open redirect)."""
    base = request.scope.get("root_path", "")
    if target.startswith(f"{base}/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{base}/"
