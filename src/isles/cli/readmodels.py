"""``isles readmodels``: the read models services keep from their event archive
(``isles.EventArchive``): list them with their state, rebuild one from the archive
while the system runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from isles.cli.common import app, err, fail, load_system, make_tooling, out, run_db

if TYPE_CHECKING:
    from isles.messaging.archive import EventArchive, ModelState, RebuildResult

readmodels_app = typer.Typer(
    help="Read models kept from an event archive: list them, rebuild one from the archive while the system runs."
    "\n\nExample: isles readmodels rebuild analytics.headcount",
    no_args_is_help=True,
)
app.add_typer(readmodels_app, name="readmodels")


def _all() -> dict[str, tuple[str, EventArchive]]:
    """``service.model`` -> (service, its archive)."""
    return {
        f"{s.name}.{name}": (s.name, s.archive)
        for s in load_system().services
        if s.archive is not None
        for name in s.archive.read_models
    }


@readmodels_app.command("list")
def readmodels_list() -> None:
    """Every read model of every service: its version (stored and in the code), the
    generation readers read, a rebuild in progress, the archive's size.

    Example: isles readmodels list
    """
    found = _all()
    if not found:
        out.print("no service of this system keeps an event archive with read models")
        return
    tooling = make_tooling()
    services = sorted({service for service, _ in found.values()})

    async def go() -> dict[str, tuple[list[ModelState], int]]:
        result = {}
        for service in services:
            archive = next(a for s, a in found.values() if s == service)
            db = tooling[service].db
            result[service] = (await archive.states(db), await archive.count(db))
        return result

    states = run_db(tooling, go)
    table = Table("read model", "version", "generation", "rebuilding", "built from", "archive", "state")
    for service in services:
        models, archived = states[service]
        for m in models:
            state = f"stale: code is v{m.code_version}, rebuild it" if m.stale else "current"
            table.add_row(
                f"{service}.{m.name}",
                str(m.version),
                str(m.active),
                str(m.building) if m.building is not None else "",
                f"{m.events:,} event(s)" if m.rebuilt_at else "live events",
                f"{archived:,} event(s)",
                state,
            )
    out.print(table)


@readmodels_app.command("rebuild")
def readmodels_rebuild(
    name: Annotated[str, typer.Argument(help="The read model, as SERVICE.MODEL (see `isles readmodels list`).")],
) -> None:
    """Replay the service's event archive into a new generation of the read model while
    events keep arriving, then swap it in (readers see the old one until then) and
    delete the old one. Safe to run while the system runs; a rebuild that dies leaves
    the active generation as it was (run it again).

    Example: isles readmodels rebuild analytics.headcount
    """
    found = _all()
    if name not in found:
        raise fail(f"no read model {name!r}: give SERVICE.MODEL, one of: {', '.join(found) or 'none'}")
    service, archive = found[name]
    tooling = make_tooling()
    model = name.split(".", 1)[1]

    async def go() -> RebuildResult:
        return await archive.rebuild(tooling[service].db, model)

    result: RebuildResult = run_db(tooling, go)
    out.print(
        f"{name}: generation {result.generation} built from {result.events:,} event(s) of the archive "
        f"({result.passes} pass(es)) and swapped in",
        highlight=False,
    )
    if result.events == 0:
        err.print(f"{name}: the archive is empty (nothing archived yet)")
