"""The audit, on demand: ``isles audit``'s check (references, copies, pipelines) of
the services of this process, run when the operator asks; the last result is kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from isles.console.access import Refused
from isles.console.core import Console, first
from isles.service.audit import AuditReport, audit


@dataclass(frozen=True)
class Run:
    at: datetime
    report: AuditReport
    settle: float
    values: bool


def add_routes(app: FastAPI, console: Console) -> None:
    last: list[Run] = []

    @app.get("/audit/", response_class=HTMLResponse)
    async def audit_page(request: Request) -> HTMLResponse:
        session = await console.guard(request)
        return console.render(request, "audit.html", session, active="audit", run=last[-1] if last else None)

    @app.post("/audit/", response_class=HTMLResponse)
    async def run_audit(request: Request) -> HTMLResponse:
        session, form = await console.guard_post(request)
        try:
            settle = float(first(form, "settle", "0") or 0)
        except ValueError:
            raise Refused(400, "bad_request", "settle: a number of seconds") from None
        if not 0 <= settle <= 60:
            raise Refused(400, "bad_request", "settle: 0 to 60 seconds")
        values = first(form, "values") == "yes"
        dbs = {name: rt.db for name, rt in console.runtime.services.items()}
        report = await audit(console.runtime.system, dbs, settle=settle, window=timedelta(hours=1), values=values)
        last[:] = [Run(datetime.now(UTC), report, settle, values)]
        console.gate.action(request, session, "audit.run", findings=report.findings, outcome="done")
        return console.render(request, "audit.html", session, active="audit", run=last[-1])
