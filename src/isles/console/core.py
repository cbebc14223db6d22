"""What every page of the console shares: its state (sessions, samples, templates),
rendering, forms and the guards each request passes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from isles.console.access import Gatekeeper, Refused, Session
from isles.console.overview import SAMPLE_SECONDS, History
from isles.console.system import ConsoleSystem, ServiceProcesses

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


def _moment(value: datetime | None) -> str:
    """A time to the millisecond (a saga's steps, an event's hops are milliseconds apart)."""
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%H:%M:%S.%f")[:-3]


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
        on_stop = getattr(runtime, "on_stop", None)
        if on_stop is not None:  # the sampler stops before the runtime's engines go
            on_stop(self.history.stop)
        self.templates = Environment(
            loader=PackageLoader("isles.console", "templates"),
            autoescape=select_autoescape(["html"], default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["when"] = _when
        self.templates.filters["seconds"] = _seconds
        self.templates.filters["moment"] = _moment
        self.last_audit: Any = None
        #: The services behind this gateway run in processes of their own (the distributed mode).
        self.distributed = isinstance(runtime, ServiceProcesses)
        #: Whose services the pages show: "of this process" (a process's own), or "of the system".
        self.here = "of the system" if self.distributed else "of this process"

    def render(
        self, request: Request, template: str, session: Session | None, *, status: int = 200, **context: Any
    ) -> HTMLResponse:
        base = request.scope.get("root_path", "")
        html = self.templates.get_template(template).render(
            base=base,
            nav=NAV,
            system=self.runtime.name,
            distributed=self.distributed,
            here=self.here,
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
