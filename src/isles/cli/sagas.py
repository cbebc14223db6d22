"""``isles sagas``: the sagas each service orchestrates: list, show, retry."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Column, Table

from isles.cli.common import (
    ServiceOpt,
    Tooling,
    app,
    fail,
    make_tooling,
    out,
    run_db,
    selected,
)

if TYPE_CHECKING:
    from isles.sagas.store import SagaStore

sagas_app = typer.Typer(
    help="Sagas each service orchestrates: list, show (every step), retry (an operator's go-ahead).\n\n"
    "Example: isles sagas list --status failed --wide",
    no_args_is_help=True,
)
app.add_typer(sagas_app, name="sagas")


def _orchestrators(runtime: Tooling, service: str | None) -> list[str]:
    names = [n for n, rt in runtime.services.items() if rt.service.sagas]
    if service is None:
        return names
    selected(runtime, service)
    if service not in names:
        raise fail(f"{service} orchestrates no sagas; these do: {', '.join(names) or 'none'}")
    return [service]


def _store(runtime: Tooling, name: str) -> SagaStore:
    store = runtime[name].store
    assert store is not None  # _orchestrators chose it
    return store


def _saga_id(runtime: Tooling, names: list[str], value: str) -> uuid.UUID:
    """The saga ``value`` names: its id, or the start of it (at least 4 hex digits)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        pass
    digits = value.replace("-", "")
    if len(digits) < 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise fail(f"{value!r} is not a saga id: give its id, or its first 4 or more hex digits")

    async def go() -> list[tuple[str, uuid.UUID]]:
        found: list[tuple[str, uuid.UUID]] = []
        for name in names:
            await runtime[name].readable()
            found += [(name, i) for i in await _store(runtime, name).ids_starting(digits)]
        return found

    found = run_db(runtime, go)
    if not found:
        raise fail(f"no saga id starts with {value!r} in {', '.join(names)}")
    if len(found) > 1:
        listed = ", ".join(f"{i} ({name})" for name, i in found[:5])
        raise fail(f"{value!r} starts {len(found)} saga ids: {listed}; give more of it")
    ident: uuid.UUID = found[0][1]
    return ident


def _short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def _error_detail(error: dict[str, Any] | None) -> str:
    """The problem a step ended with, as its caller was told: the detail and each
    field's reason."""
    if not error:
        return ""
    fields = [f"{e.get('field')}: {e.get('message')}" for e in error.get("errors") or () if isinstance(e, dict)]
    detail = str(error.get("detail", ""))
    return "; ".join([detail, *fields]) if fields else detail


@sagas_app.command("list")
def sagas_list(
    service: ServiceOpt = None,
    status: Annotated[
        list[str] | None,
        typer.Option(help="Only these statuses (repeatable): running, compensating, completed, compensated, failed."),
    ] = None,
    saga_type: Annotated[
        str | None, typer.Option("--type", help="Only this saga type, e.g. project.CreateAssignment.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many per service, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    wide: Annotated[
        bool, typer.Option("--wide", "-w", help="Every column whole, whatever the terminal's width.")
    ] = False,
) -> None:
    """List sagas, newest first: id, type, status, the step it is at, its error. Ids are
    never cut (show and retry also take an id's first digits).

    Example: isles sagas list --status failed --status compensating --wide
    """
    from isles.sagas import SagaStatus

    known = {s.value for s in SagaStatus}
    for value in status or ():
        if value not in known:
            raise fail(f"--status {value!r}: expected one of {', '.join(sorted(known))}")
    runtime = make_tooling()
    names = _orchestrators(runtime, service)

    async def go() -> list[tuple[str, Any, int]]:
        found = []
        for name in names:
            store = _store(runtime, name)
            await runtime[name].readable()
            states, total = await store.find(status=status or (), saga_type=saga_type, limit=limit)
            found += [(name, st, total) for st in states]
        return found

    rows = run_db(runtime, go)
    if as_json:
        for name, st, _total in rows:
            typer.echo(json.dumps({"service": name, **st.as_dict()}, default=str))
        return
    table = Table("service", Column("id", no_wrap=True, min_width=36), "type", "status", "step", "started", "error")
    for name, st, _total in rows:
        at = st.steps[min(st.current_step, len(st.steps) - 1)].name if st.steps else "-"
        table.add_row(
            name,
            str(st.id),
            st.saga_type,
            st.status.value,
            at if st.status.in_flight or st.status.value == "failed" else "-",
            st.created_at.isoformat(timespec="seconds"),
            _error_detail(st.error) if wide else _short(_error_detail(st.error), 50),
        )
    (Console(width=100_000, soft_wrap=True) if wide else out).print(table)
    out.print(f"{len(rows)} saga(s)")


def _find_saga(runtime: Tooling, names: list[str], ident: uuid.UUID) -> Any:
    async def go() -> tuple[str, Any] | None:
        for name in names:
            store = _store(runtime, name)
            await runtime[name].readable()
            state = await store.load(ident)
            if state is not None:
                return name, state
        return None

    found = run_db(runtime, go)
    if found is None:
        raise fail(f"no saga {ident} in {', '.join(names)}")
    return found


@sagas_app.command("show")
def sagas_show(
    saga: Annotated[str, typer.Argument(help="The saga's id, or its first hex digits (4 or more).")],
    service: ServiceOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="The saga as one JSON object.")] = False,
) -> None:
    """Show one saga: its input, its error, and each step's status, attempts, result and errors.

    Example: isles sagas show 6f1c2a52-64b2-4c4e-9a57-1d0e8f7d5a11
    """
    runtime = make_tooling()
    names = _orchestrators(runtime, service)
    name, st = _find_saga(runtime, names, _saga_id(runtime, names, saga))
    if as_json:
        typer.echo(json.dumps({"service": name, **st.as_dict()}, default=str))
        return
    out.print(f"[bold]{st.saga_type}[/bold] {st.id}  ({name})  [bold]{st.status.value}[/bold]", highlight=False)
    out.print(f"started {st.created_at.isoformat()}  updated {st.updated_at.isoformat()}", highlight=False)
    if st.finished_at:
        out.print(f"finished {st.finished_at.isoformat()}", highlight=False)
    if st.owner:
        out.print(f"driven by {st.owner} until {st.lease_until.isoformat() if st.lease_until else '-'}")
    if st.error:
        out.print(f"error: {st.error.get('status')} {_error_detail(st.error)}", highlight=False)
    table = Table("#", "step", "status", "attempts", "undo attempts", "result", "error")
    for step in st.steps:
        table.add_row(
            str(step.position),
            step.name,
            step.status.value,
            str(step.attempts),
            str(step.compensation_attempts),
            _short(step.result, 40) if step.result is not None else "",
            _short(step.compensation_error or _error_detail(step.error), 60),
        )
    out.print(table)
    out.print_json(data=st.data)
    if st.status.value == "failed":
        out.print(f"A compensation gave up. Fix its cause, then: isles sagas retry {st.id} --service {name}")


@sagas_app.command("retry")
def sagas_retry(
    saga: Annotated[str, typer.Argument(help="The saga's id, or its first hex digits (4 or more).")],
    service: Annotated[str, typer.Option("--service", "-s", help="The service that orchestrates it.")],
) -> None:
    """An operator's retry. A failed saga (a compensation gave up) goes back to
    compensating from the step it stopped at, with that step's attempts counted anew;
    an in-flight saga loses its lease, so a running service takes it up at once. The
    service's saga runner does the work (now if it runs, else at its next start).

    Example: isles sagas retry 6f1c2a52-64b2-4c4e-9a57-1d0e8f7d5a11 --service project
    """
    runtime = make_tooling()
    names = _orchestrators(runtime, service)
    ident = _saga_id(runtime, names, saga)
    store = _store(runtime, names[0])

    async def go() -> tuple[Any, str] | None:
        await runtime[names[0]].readable()
        try:
            return await store.reopen(ident)
        except KeyError:
            return None

    done = run_db(runtime, go)
    if done is None:
        raise fail(f"no saga {ident} in {service}")
    before, action = done
    out.print(f"{before.saga_type} {ident}: was {before.status.value}; {action}")
