"""``isles map``: which service owns which data, who refers to it and who keeps copies
of it, from the services' declarations (:mod:`isles.service.datamap`)."""

from __future__ import annotations

import difflib
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from isles.cli.common import app, err, fail, load_system


class MapFormat(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"
    mermaid = "mermaid"
    erd = "erd"


@app.command("map")
def data_map(
    fmt: Annotated[
        MapFormat | None,
        typer.Option(
            "--format",
            "-f",
            help="text (default on a terminal), json, markdown (default with --output or --check), mermaid "
            "(a flowchart of the services), or erd (a Mermaid erDiagram of one service's tables: give --service).",
        ),
    ] = None,
    service: Annotated[
        str | None,
        typer.Option("--service", help="The service whose tables --format erd draws (required with it)."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write to FILE. If it holds the markers <!-- isles map begin --> and <!-- isles map end -->, "
            "only the text between them is replaced; a new file is written whole (markdown: with the markers).",
        ),
    ] = None,
    check: Annotated[
        Path | None,
        typer.Option(
            "--check",
            help="Compare the block between the markers in FILE with what would be generated now: "
            "exit 0 if equal, 1 (with a diff) if stale, 2 if FILE has no markers.",
        ),
    ] = None,
) -> None:
    """The data map of the system: for each service the tables it owns, the references it
    holds to other services' rows, the copies it keeps of their data (and the events
    that keep them), its event-sourced aggregates, the events it publishes and
    consumes, its sagas and the services each spans; then, for each table, who refers
    to it and who copies it. Markdown draws an ERD of each service's tables too.
    Read from the declarations only: no database is opened.

    Example: isles map
    isles --system shop map --format mermaid
    isles map --format erd --service company
    isles map --format markdown --output docs/data-map.md
    isles map --check docs/data-map.md
    """
    from isles.service import datamap

    if output is not None and check is not None:
        raise fail("give --output or --check, not both")
    chosen = fmt or (MapFormat.markdown if output is not None or check is not None else MapFormat.text)
    if (chosen is MapFormat.erd) != (service is not None):
        raise fail("--format erd draws one service's tables: give it --service NAME (and --service only with it)")
    m = datamap.build_map(load_system())
    if service is not None and service not in [s.name for s in m.services]:
        raise fail(f"no service {service!r} in the system {m.system}: one of {', '.join(s.name for s in m.services)}")
    generated = datamap.render(m, chosen.value, service)

    if check is not None:
        if not check.exists():
            raise fail(f"{check}: no such file")
        try:
            current = datamap.block_of(check.read_text())
        except datamap.MarkersMissing as exc:
            raise fail(f"{check}: {exc}") from exc
        if current == generated:
            err.print(f"{check}: the data map is up to date", highlight=False)
            return
        diff = difflib.unified_diff(
            current.splitlines(keepends=True),
            generated.splitlines(keepends=True),
            fromfile=f"{check} (as written)",
            tofile="generated now",
        )
        sys.stdout.write("".join(diff))
        err.print(
            f"{check}: the data map is stale (it differs from what the declarations give now): regenerate it with "
            f"`isles map --format {chosen.value}{f' --service {service}' if service else ''} --output {check}`",
            highlight=False,
        )
        raise typer.Exit(1)

    if output is None:
        sys.stdout.write(generated)
        return
    if output.exists():
        page = output.read_text()
        try:
            output.write_text(datamap.with_block(page, generated))
        except datamap.MarkersMissing:
            if chosen is MapFormat.markdown:
                raise fail(
                    f"{output} exists without the markers {datamap.BEGIN} and {datamap.END}: "
                    "put them where the map goes (the text around them is kept)"
                ) from None
            output.write_text(generated)
    else:
        output.write_text(datamap.wrapped(generated) if chosen is MapFormat.markdown else generated)
    err.print(f"{output}: data map written ({chosen.value})", highlight=False)
