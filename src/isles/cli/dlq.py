"""``isles dlq``: a service's dead-lettered events: list, show, retry, drop."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from isles.cli.common import (
    ServiceOpt,
    Tooling,
    app,
    err,
    fail,
    make_runtime,
    make_tooling,
    out,
    run_db,
    selected,
)

if TYPE_CHECKING:
    from isles.runtime.system import SystemRuntime

dlq_app = typer.Typer(
    help="Dead-lettered events, per service: list, show, retry (apply again), drop.\n\n"
    "Example: isles dlq list --service project",
    no_args_is_help=True,
)
app.add_typer(dlq_app, name="dlq")


def _letter_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise fail(f"{value!r} is not a dead-letter id or event id (a UUID)") from exc


@dlq_app.command("list")
def dlq_list(
    service: ServiceOpt = None,
    event_type: Annotated[str | None, typer.Option(help="Only this event type.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many per service.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List dead letters: id, event, aggregate, attempts, error.

    Example: isles dlq list --service project
    """
    from isles.storage import dead_letters as dlq

    runtime = make_tooling()
    names = selected(runtime, service)

    async def go() -> list[tuple[str, dlq.DeadLetter]]:
        found = []
        for name in names:
            await runtime[name].readable()
            found += [(name, d) for d in await dlq.list_letters(runtime[name].db, event_type=event_type, limit=limit)]
        return found

    letters = run_db(runtime, go)
    if as_json:
        for name, d in letters:
            row = {"service": name, "id": str(d.id), "event_id": str(d.event_id), "event_type": d.event_type}
            row |= {"aggregate_id": d.aggregate_id, "aggregate_version": d.aggregate_version}
            row |= {"attempts": d.attempts, "error": d.error, "created_at": d.created_at.isoformat()}
            typer.echo(json.dumps(row))
        return
    table = Table("service", "id", "event", "aggregate", "attempts", "error", "parked at")
    for name, d in letters:
        table.add_row(
            name,
            str(d.id),
            d.event_type,
            f"{d.aggregate_id} v{d.aggregate_version}",
            str(d.attempts),
            d.error.splitlines()[0][:80] if d.error else "",
            d.created_at.isoformat(timespec="seconds"),
        )
    out.print(table)
    out.print(f"{len(letters)} dead letter(s)")


@dlq_app.command("show")
def dlq_show(
    letter: Annotated[str, typer.Argument(help="Dead-letter id or event id.")],
    service: Annotated[str, typer.Option("--service", "-s", help="The service that parked it.")],
) -> None:
    """Show one dead letter whole: the event, the error and its traceback.

    Example: isles dlq show --service project 0b7c...
    """
    from isles.storage import dead_letters as dlq

    runtime = make_tooling()
    selected(runtime, service)
    ident = _letter_id(letter)

    async def go() -> dlq.DeadLetter | None:
        return await dlq.find(await runtime[service].readable(), ident)

    d = run_db(runtime, go)
    if d is None:
        raise fail(f"{service} has no dead letter {letter}")
    out.print(f"[bold]{d.event_type}[/bold] {d.event_id}  aggregate {d.aggregate_id} v{d.aggregate_version}")
    out.print(f"attempts {d.attempts}, first failed {d.first_failed_at.isoformat()}, parked {d.created_at.isoformat()}")
    out.print(f"error: {d.error}", highlight=False)
    out.print_json(d.payload)
    if d.traceback:
        out.print(d.traceback, highlight=False, markup=False)


def _targets(runtime: SystemRuntime | Tooling, service: str, letter: str | None, everything: bool) -> Any:
    from isles.storage import dead_letters as dlq

    if (letter is None) == (not everything):
        raise fail("give one dead-letter id, or --all")
    db = runtime[service].db

    async def pick() -> list[dlq.DeadLetter]:
        if isinstance(runtime, Tooling):
            await runtime[service].readable()
        if everything:
            return await dlq.list_letters(db, limit=100_000)
        found = await dlq.find(db, _letter_id(letter or ""))
        if found is None:
            raise fail(f"{service} has no dead letter {letter}")
        return [found]

    return pick


@dlq_app.command("retry")
def dlq_retry(
    service: Annotated[str, typer.Option("--service", "-s", help="The service that parked it.")],
    letter: Annotated[str | None, typer.Argument(help="Dead-letter id or event id.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Retry every dead letter of the service.")] = False,
) -> None:
    """Apply dead-lettered events again, each in one transaction with its inbox mark.
    Exit code 1 if any fails again (it stays parked with the new error).

    Example: isles dlq retry --service project --all
    """

    runtime = make_runtime()  # it applies events: the service's consumer
    selected(runtime, service)
    consumer = runtime[service].consumer
    if consumer is None:
        raise fail(f"{service} consumes no events")
    pick = _targets(runtime, service, letter, everything)

    async def go() -> tuple[int, int]:
        ok = failed = 0
        for d in await pick():
            try:
                await consumer.redrive(d.envelope, d.id)
            except Exception as exc:
                failed += 1
                err.print(f"{d.id} {d.event_type}: failed again: {type(exc).__name__}: {exc}", highlight=False)
            else:
                ok += 1
                out.print(f"{d.id} {d.event_type}: applied")
        return ok, failed

    ok, failed = run_db(runtime, go)
    out.print(f"{ok} applied, {failed} failed again")
    if failed:
        raise typer.Exit(1)


@dlq_app.command("drop")
def dlq_drop(
    service: Annotated[str, typer.Option("--service", "-s", help="The service that parked it.")],
    letter: Annotated[str | None, typer.Argument(help="Dead-letter id or event id.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Drop every dead letter of the service.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete dead letters for good (the events stay marked, so they are never applied).

    Example: isles dlq drop --service project 0b7c... --yes
    """
    from isles.storage import dead_letters as dlq

    runtime = make_tooling()
    selected(runtime, service)
    pick = _targets(runtime, service, letter, everything)
    if not yes and not typer.confirm(f"drop {'every dead letter' if everything else letter} of {service}?"):
        raise typer.Exit(1)

    async def go() -> int:
        letters = await pick()
        for d in letters:
            await dlq.drop(runtime[service].db, d)
        return len(letters)

    out.print(f"{run_db(runtime, go)} dead letter(s) dropped")
