"""Sagas: the list (filter by type, status and age), one saga as a timeline of its
steps (started, finished, failed, compensated, waiting; durations and reasons), and an
operator's retry of a parked or stuck saga (the same as ``isles sagas retry``)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import and_, func, select
from sqlalchemy.sql.elements import ColumnElement

from isles.console.access import Refused
from isles.console.core import Console
from isles.core.clock import utcnow
from isles.sagas.definition import SagaStatus, StepStatus
from isles.sagas.store import SagaState, SagaStore, StepState
from isles.storage.db import ServiceDatabase
from isles.storage.schema import saga_steps_table, sagas_table

LIMIT = 200
AGES = {"": "any age", "1h": "the last hour", "24h": "the last day", "7d": "the last week", "old": "older than a day"}
_SPAN = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}


def orchestrators(console: Console) -> dict[str, SagaStore]:
    return {name: rt.sagas.store for name, rt in console.runtime.services.items() if rt.sagas is not None}


def error_detail(error: dict[str, Any] | None) -> str:
    """A step's or saga's problem in words: its status, detail and each field's reason."""
    if not error:
        return ""
    fields = [f"{e.get('field')}: {e.get('message')}" for e in error.get("errors") or () if isinstance(e, dict)]
    detail = str(error.get("detail", "") or error.get("title", ""))
    status = f"{error['status']} " if error.get("status") else ""
    return status + "; ".join([detail, *fields]) if fields else status + detail


@dataclass(frozen=True)
class Listed:
    """A saga as the list shows it."""

    id: uuid.UUID
    saga_type: str
    status: SagaStatus
    step: str  # the step it is at (in flight or failed), else ""
    created_at: datetime
    updated_at: datetime
    error: dict[str, Any] | None


async def find(
    db: ServiceDatabase, *, status: str, saga_type: str, age: str, limit: int = LIMIT
) -> tuple[list[Listed], int]:
    """Sagas newest first, filtered in the query (so an age filter reaches past the
    newest ``limit``), and how many match in all."""
    _s, _st = sagas_table, saga_steps_table
    where: list[ColumnElement[bool]] = []
    if status:
        where.append(_s.c.status == status)
    if saga_type:
        where.append(_s.c.saga_type == saga_type)
    now = utcnow()
    if age in _SPAN:
        where.append(_s.c.created_at >= now - _SPAN[age])
    elif age == "old":
        where.append(_s.c.created_at < now - timedelta(days=1))
    cond = and_(*where) if where else None
    q = select(_s).order_by(_s.c.created_at.desc(), _s.c.id).limit(limit)
    count = select(func.count()).select_from(_s)
    if cond is not None:
        q, count = q.where(cond), count.where(cond)
    async with db.read_session() as session:
        rows = (await session.execute(q)).all()
        total = int(await session.scalar(count) or 0)
        ids = [r.id for r in rows]
        names: dict[tuple[uuid.UUID, int], str] = {}
        if ids:
            steps = select(_st.c.saga_id, _st.c.position, _st.c.name).where(_st.c.saga_id.in_(ids))
            names = {(r.saga_id, r.position): r.name for r in (await session.execute(steps)).all()}
    found = []
    for r in rows:
        st = SagaStatus(r.status)
        at = names.get((r.id, r.current_step), "") if st.in_flight or st is SagaStatus.FAILED else ""
        error = json.loads(r.error) if r.error else None
        found.append(Listed(r.id, r.saga_type, st, at, r.created_at, r.updated_at, error))
    return found, total


@dataclass(frozen=True)
class Moment:
    """One line of a saga's timeline."""

    at: datetime
    order: int  # among moments at the same instant: the order they happened in
    what: str  # "started", "completed", "failed", "uncertain", "waiting", "compensated", "parked", "saga"
    step: str
    text: str
    duration: float | None = None


def timeline(st: SagaState) -> list[Moment]:
    """The saga's moments in the order they happened: its start, each step's start and
    end (completed, failed, waiting since), then the compensations (the later step
    undone first), then its end."""
    first = Moment(st.created_at, 0, "saga", "", f"{st.saga_type} started")
    out: list[Moment] = []
    n = len(st.steps)
    for s in st.steps:
        if s.started_at is not None:
            tries = f" (attempt {s.attempts})" if s.attempts > 1 else ""
            out.append(Moment(s.started_at, 1 + 2 * s.position, "started", s.name, f"{s.name} started{tries}"))
        end = _end(s)
        if end is not None:
            what, text = end
            duration = (s.finished_at - s.started_at).total_seconds() if s.finished_at and s.started_at else None
            at = s.finished_at or s.started_at
            assert at is not None
            out.append(Moment(at, 2 + 2 * s.position, what, s.name, text, duration))
        if s.compensated_at is not None:
            # compensations run last step first
            order = 2 * n + 2 + (n - s.position)
            out.append(Moment(s.compensated_at, order, "compensated", s.name, f"{s.name} compensated (undone)"))
        elif s.status is StepStatus.PARKED:
            at = s.finished_at or s.started_at or st.updated_at
            text = f"{s.name}: compensation gave up after {s.compensation_attempts} attempt(s): {s.compensation_error}"
            out.append(Moment(st.updated_at, 2 * n + 2 + (n - s.position), "parked", s.name, text))
    # The start first and the end last, whatever the clock's resolution says.
    last: list[Moment] = []
    if st.finished_at is not None:
        reason = f": {error_detail(st.error)}" if st.error else ""
        last.append(Moment(st.finished_at, 4 * n + 10, "saga", "", f"saga {st.status.value}{reason}"))
    elif st.status is SagaStatus.FAILED:
        last.append(Moment(st.updated_at, 4 * n + 10, "saga", "", "saga failed: a compensation gave up (retry it)"))
    return [first, *sorted(out, key=lambda m: (m.at, m.order)), *last]


def _end(s: StepState) -> tuple[str, str] | None:
    reason = f": {error_detail(s.error)}" if s.error else ""
    if s.status is StepStatus.WAITING:
        return "waiting", f"{s.name} waiting for its answer (a deferred step)"
    if s.finished_at is None:
        return None
    if s.status in (StepStatus.FAILED, StepStatus.UNCERTAIN):
        return s.status.value, f"{s.name} {s.status.value}{reason}"
    if s.error and s.status in (StepStatus.COMPENSATED, StepStatus.COMPENSATING, StepStatus.PARKED):
        return "failed", f"{s.name} failed{reason}"
    return "completed", f"{s.name} completed"


def gantt(st: SagaState, *, width: int = 640, row: int = 22) -> dict[str, Any]:
    """Bars of each step's run (start to end, or to now while it runs or waits) on a
    shared time axis, and a mark where it was compensated: drawn as inline SVG."""
    now = utcnow()
    start = st.created_at
    end = st.finished_at or now
    times = [t for s in st.steps for t in (s.started_at, s.finished_at, s.compensated_at) if t is not None]
    end = max([end, *times])
    total = max((end - start).total_seconds(), 0.001)
    label_w = 140
    scale = (width - label_w - 10) / total

    def x(t: datetime) -> float:
        return round(label_w + (t - start).total_seconds() * scale, 1)

    bars = []
    for i, s in enumerate(st.steps):
        y = 20 + i * row
        bar = None
        if s.started_at is not None:
            stop = s.finished_at or (now if s.status in (StepStatus.RUNNING, StepStatus.WAITING) else s.started_at)
            bar = {"x": x(s.started_at), "w": max(2.0, round(x(stop) - x(s.started_at), 1))}
        mark = x(s.compensated_at) if s.compensated_at is not None else None
        bars.append({"name": s.name, "status": s.status.value, "y": y, "bar": bar, "mark": mark})
    return {
        "width": width,
        "height": 30 + len(st.steps) * row,
        "bars": bars,
        "label_w": label_w,
        "total": total,
    }


async def _find(console: Console, service: str, ident: str) -> tuple[SagaStore, SagaState | None]:
    stores = orchestrators(console)
    if service not in stores:
        raise Refused(404, "not_found", f"{service!r} orchestrates no sagas in this process")
    try:
        saga_id = uuid.UUID(ident)
    except ValueError:
        raise Refused(404, "not_found", f"{ident!r} is not a saga id") from None
    return stores[service], await stores[service].load(saga_id)


def add_routes(app: FastAPI, console: Console) -> None:
    @app.get("/sagas/", response_class=HTMLResponse)
    async def list_sagas(
        request: Request, service: str = "", saga_type: str = "", status: str = "", age: str = ""
    ) -> HTMLResponse:
        session = await console.guard(request)
        stores = orchestrators(console)
        types = sorted({t for rt in console.runtime.services.values() if rt.sagas is not None for t in rt.sagas.sagas})
        statuses = [s.value for s in SagaStatus]
        if status and status not in statuses:
            raise Refused(400, "bad_request", f"status: one of {', '.join(statuses)}")
        if age not in AGES:
            raise Refused(400, "bad_request", f"age: one of {', '.join(a for a in AGES if a)}")
        rows: list[tuple[str, Listed]] = []
        totals = 0
        for name, store in stores.items():
            if service and name != service:
                continue
            found, total = await find(store.db, status=status, saga_type=saga_type, age=age)
            totals += total
            rows += [(name, st) for st in found]
        rows.sort(key=lambda r: r[1].created_at, reverse=True)
        return console.render(
            request,
            "sagas.html",
            session,
            active="sagas",
            rows=rows,
            services=list(stores),
            types=types,
            statuses=statuses,
            ages=AGES,
            chosen={"service": service, "saga_type": saga_type, "status": status, "age": age},
            limit=LIMIT,
            total=totals,
            error_detail=error_detail,
        )

    @app.get("/sagas/{service}/{ident}", response_class=HTMLResponse)
    async def show_saga(request: Request, service: str, ident: str) -> HTMLResponse:
        session = await console.guard(request)
        _store, st = await _find(console, service, ident)
        if st is None:
            return console.render(
                request, "gone.html", session, status=404, active="sagas", what=f"no saga {ident} in {service}"
            )
        return console.render(
            request,
            "saga.html",
            session,
            active="sagas",
            service=service,
            st=st,
            moments=timeline(st),
            chart=gantt(st),
            data=json.dumps(st.data, indent=2, sort_keys=True, default=str),
            error_detail=error_detail,
            retryable=st.status is SagaStatus.FAILED or st.status.in_flight,
        )

    @app.get("/sagas/{service}/{ident}/retry", response_class=HTMLResponse)
    async def confirm_retry(request: Request, service: str, ident: str) -> HTMLResponse:
        session = await console.guard(request)
        _store, st = await _find(console, service, ident)
        if st is None:
            return console.render(
                request, "gone.html", session, status=404, active="sagas", what=f"no saga {ident} in {service}"
            )
        return console.render(request, "saga_retry.html", session, active="sagas", service=service, st=st)

    @app.post("/sagas/{service}/{ident}/retry", response_class=HTMLResponse)
    async def retry(request: Request, service: str, ident: str) -> HTMLResponse:
        session, _form = await console.guard_post(request)
        store, st = await _find(console, service, ident)
        if st is None:
            return console.render(
                request, "gone.html", session, status=404, active="sagas", what=f"no saga {ident} in {service}"
            )
        before, action = await store.reopen(st.id)
        console.gate.action(request, session, "saga.retry", service=service, saga=str(st.id), outcome=action)
        return console.render(
            request, "saga_retried.html", session, active="sagas", service=service, st=before, action=action
        )
