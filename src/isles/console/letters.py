"""Dead letters: list (filter by service and event type), one whole (the event, the
error and its traceback), retry or drop one or many after a confirmation, and the
outcome. The same operations as ``isles dlq retry`` and ``isles dlq drop``: a retry
applies the event again through the service's consumer (one transaction with its
inbox mark); a drop deletes the letter and leaves the event marked as dropped."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from isles.console.access import Refused
from isles.console.core import Console, first
from isles.storage import dead_letters as dlq

LIMIT = 500
ACTIONS = {"retry": "Retry", "drop": "Drop"}


@dataclass(frozen=True)
class Picked:
    service: str
    letter: dlq.DeadLetter | None
    ident: uuid.UUID

    @property
    def key(self) -> str:
        return f"{self.service}:{self.ident}"


def consumers(console: Console) -> list[str]:
    return [name for name, rt in console.runtime.services.items() if rt.consumer is not None]


def _parse(console: Console, value: str) -> tuple[str, uuid.UUID]:
    service, _, ident = value.partition(":")
    if service not in consumers(console):
        raise Refused(400, "bad_request", f"no consuming service {service!r} in this process")
    try:
        return service, uuid.UUID(ident)
    except ValueError:
        raise Refused(400, "bad_request", f"{ident!r} is not a dead-letter id") from None


async def _pick(console: Console, values: list[str]) -> list[Picked]:
    picked = []
    for value in dict.fromkeys(values):  # each once, in the order given
        service, ident = _parse(console, value)
        found = await dlq.find(console.runtime.services[service].db, ident)
        picked.append(Picked(service, found, found.id if found else ident))
    return picked


def _pretty(payload: str) -> str:
    try:
        return json.dumps(json.loads(payload), indent=2, sort_keys=True)
    except ValueError:
        return payload


def add_routes(app: FastAPI, console: Console) -> None:
    @app.get("/dead-letters/", response_class=HTMLResponse)
    async def list_letters(request: Request, service: str = "", event_type: str = "") -> HTMLResponse:
        session = await console.guard(request)
        names = consumers(console)
        types = sorted(
            {t for rt in console.runtime.services.values() if rt.consumer is not None for t in rt.consumer.event_types}
        )
        rows: list[tuple[str, dlq.DeadLetter]] = []
        errors: dict[str, str] = {}
        for name in names:
            if service and name != service:
                continue
            try:
                found = await dlq.list_letters(
                    console.runtime.services[name].db, event_type=event_type or None, limit=LIMIT
                )
            except Exception as exc:  # one service's database away: the others still show
                errors[name] = f"{type(exc).__name__}: {exc}"
                continue
            rows += [(name, d) for d in found]
        rows.sort(key=lambda r: r[1].created_at)
        return console.render(
            request,
            "letters.html",
            session,
            active="dead-letters",
            rows=rows,
            services=names,
            types=types,
            chosen={"service": service, "event_type": event_type},
            errors=errors,
            limit=LIMIT,
        )

    @app.get("/dead-letters/{service}/{ident}", response_class=HTMLResponse)
    async def show_letter(request: Request, service: str, ident: str) -> HTMLResponse:
        session = await console.guard(request)
        (picked,) = await _pick(console, [f"{service}:{ident}"])
        if picked.letter is None:
            return console.render(
                request,
                "gone.html",
                session,
                status=404,
                active="dead-letters",
                what=f"{service} has no dead letter {ident} (retried or dropped already?)",
            )
        d = picked.letter
        return console.render(
            request, "letter.html", session, active="dead-letters", service=service, d=d, payload=_pretty(d.payload)
        )

    @app.post("/dead-letters/confirm", response_class=HTMLResponse)
    async def confirm(request: Request) -> HTMLResponse:
        session, form = await console.guard_post(request)
        action = first(form, "action")
        if action not in ACTIONS:
            raise Refused(400, "bad_request", "choose retry or drop")
        picked = [p for p in await _pick(console, form.get("letter", [])) if p.letter is not None]
        return console.render(
            request,
            "letters_confirm.html",
            session,
            active="dead-letters",
            action=action,
            label=ACTIONS[action],
            picked=picked,
        )

    @app.post("/dead-letters/act", response_class=HTMLResponse)
    async def act(request: Request) -> HTMLResponse:
        session, form = await console.guard_post(request)
        action = first(form, "action")
        if action not in ACTIONS or first(form, "confirmed") != "yes":
            raise Refused(400, "bad_request", "an action needs its confirmation step")
        outcomes: list[tuple[Picked, str, str]] = []  # (letter, outcome, detail)
        for p in await _pick(console, form.get("letter", [])):
            rt = console.runtime.services[p.service]
            outcome, detail = await _do(rt, action, p)
            outcomes.append((p, outcome, detail))
            console.gate.action(
                request, session, f"dlq.{action}", service=p.service, ids=[str(p.ident)], outcome=outcome
            )
        return console.render(
            request,
            "letters_done.html",
            session,
            active="dead-letters",
            action=action,
            label=ACTIONS[action],
            outcomes=outcomes,
        )


async def _do(rt: Any, action: str, p: Picked) -> tuple[str, str]:
    d = p.letter
    if d is None:
        return "gone", "no such dead letter any more (retried or dropped already)"
    if action == "drop":
        await dlq.drop(rt.db, d)
        return "dropped", "deleted; the event stays marked as dropped, so it is never applied"
    if rt.consumer is None:
        return "failed", "the service consumes no events"
    try:
        await rt.consumer.redrive(d.envelope, d.id)
    except Exception as exc:
        return "failed", f"failed again: {type(exc).__name__}: {exc} (it stays parked with the new error)"
    return "applied", "applied; the dead letter is gone"
