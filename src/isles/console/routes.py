"""The console's pages and actions (a FastAPI app the gateway mounts at /console)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape

from isles.console.access import COOKIE, Gatekeeper, Refused, Session, is_https, same_origin
from isles.console.overview import SAMPLE_SECONDS, SERIES, History, sparkline, statuses
from isles.console.system import ConsoleSystem

MAX_FORM_BYTES = 256 * 1024

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

NAV = (
    ("overview", "", "Overview"),
    ("dead-letters", "/dead-letters", "Dead letters"),
    ("sagas", "/sagas", "Sagas"),
    ("events", "/events", "Events"),
    ("map", "/map", "Data map"),
    ("audit", "/audit", "Audit"),
)


def _when(value: datetime | float | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value, UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") + " UTC"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.0f} min"
    return f"{value / 3600:.1f} h"


async def read_form(request: Request) -> dict[str, list[str]]:
    """An urlencoded form body (no multipart: the console's forms send none)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise Refused(413, "too_large", "the form is too large")
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


def first(form: dict[str, list[str]], name: str, default: str = "") -> str:
    values = form.get(name)
    return values[0] if values else default


class Console:
    """The console's state: its sessions, the samples of the last hour, the templates."""

    def __init__(self, runtime: ConsoleSystem, *, sample_every: float | None = None) -> None:
        self.runtime = runtime
        verifier = runtime.keys.verifier(identity_provider=runtime.system.identity_provider)
        self.gate = Gatekeeper(verifier, runtime.security.bound("console"))
        self.history = History(runtime, every=sample_every or SAMPLE_SECONDS)
        self.templates = Environment(
            loader=PackageLoader("isles.console", "templates"),
            autoescape=select_autoescape(["html"], default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["when"] = _when
        self.templates.filters["seconds"] = _seconds
        self.last_audit: Any = None

    def render(
        self, request: Request, template: str, session: Session | None, *, status: int = 200, **context: Any
    ) -> HTMLResponse:
        base = request.scope.get("root_path", "")
        html = self.templates.get_template(template).render(
            base=base,
            nav=NAV,
            system=self.runtime.name,
            session=session,
            csrf=session.csrf if session else "",
            **context,
        )
        return HTMLResponse(html, status_code=status)

    async def guard(self, request: Request) -> Session:
        session = self.gate.session_of(request)
        self.history.ensure_running()
        return session

    async def guard_post(self, request: Request) -> tuple[Session, dict[str, list[str]]]:
        session = await self.guard(request)
        form = await read_form(request)
        self.gate.check_post(request, session, first(form, "csrf") or None)
        return session, form


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
        same_origin(request)
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
            rows.append(
                st.as_dict()
                | {
                    "published_rate": published,
                    "applied_rate": applied,
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

    return app


def _local(target: str, request: Request) -> str:
    """Where to go after signing in: a page of this console only (no open redirect)."""
    base = request.scope.get("root_path", "")
    if target.startswith(f"{base}/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{base}/"
