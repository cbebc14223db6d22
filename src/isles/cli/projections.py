"""``isles projections``: the tables services keep from their event-sourced aggregates
(``isles.EventStore``): list them, rebuild one from the events, check it against them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from isles.cli.common import app, err, fail, load_system, make_tooling, out, run_db

if TYPE_CHECKING:
    from isles.storage.eventstore import CheckResult, EventStore

projections_app = typer.Typer(
    help="Tables kept from event-sourced aggregates: list them, rebuild one from the events, check one.\n\n"
    "Example: isles projections rebuild order.orders --system shop.system:build",
    no_args_is_help=True,
)
app.add_typer(projections_app, name="projections")


def _all() -> dict[str, tuple[str, EventStore]]:
    """``service.projection`` -> (service, its store)."""
    return {
        f"{s.name}.{name}": (s.name, store)
        for s in load_system().services
        for store in s.event_stores
        for name in store.projections
    }


def _pick(name: str) -> tuple[str, EventStore, str]:
    found = _all()
    if name not in found:
        raise fail(f"no projection {name!r}: give SERVICE.PROJECTION, one of: {', '.join(found) or 'none'}")
    service, store = found[name]
    return service, store, name.split(".", 1)[1]


@projections_app.command("list")
def projections_list() -> None:
    """Every projection of every service: the tables it keeps and the aggregates whose
    events make it.

    Example: isles projections list --system shop.system:build
    """
    found = _all()
    if not found:
        out.print("no service of this system keeps an event-sourced aggregate")
        return
    table = Table("projection", "tables", "from the events of")
    for name, (_service, store) in found.items():
        projection = store.projections[name.split(".", 1)[1]]
        table.add_row(name, ", ".join(t.name for t in projection.tables), ", ".join(store.aggregates))
    out.print(table)


@projections_app.command("rebuild")
def projections_rebuild(
    name: Annotated[str, typer.Argument(help="The projection, as SERVICE.PROJECTION (see `isles projections list`).")],
) -> None:
    """Empty the projection's tables and replay every stored event into them, in one
    transaction (readers see the old rows until it commits).

    Example: isles projections rebuild order.orders
    """
    service, store, projection = _pick(name)
    tooling = make_tooling()

    async def go() -> int:
        return await store.rebuild(tooling[service].db, projection)

    out.print(f"{name}: rebuilt from {run_db(tooling, go)} event(s)", highlight=False)


@projections_app.command("check")
def projections_check(
    name: Annotated[str, typer.Argument(help="The projection, as SERVICE.PROJECTION.")],
) -> None:
    """Rebuild the projection in a transaction that is rolled back, and compare it with
    the live tables row by row. Exit code 1 if they differ (rows missing, extra or
    different are named by key).

    Example: isles projections check order.orders
    """
    service, store, projection = _pick(name)
    tooling = make_tooling()

    async def go() -> CheckResult:
        return await store.check(tooling[service].db, projection)

    result: CheckResult = run_db(tooling, go)
    for table, rows in result.rows.items():
        problems = [
            (what, keys)
            for what, keys in (
                ("missing", result.missing[table]),
                ("extra", result.extra[table]),
                ("different", result.different[table]),
            )
            if keys
        ]
        line = f"{table}: {rows} row(s) from {result.events} event(s)"
        out.print(line + (": " + "; ".join(f"{w} {', '.join(k)}" for w, k in problems) if problems else ": agrees"))
    if not result.agrees:
        err.print(f"{name} differs from its events: `isles projections rebuild {name}` makes it agree")
        raise typer.Exit(1)
