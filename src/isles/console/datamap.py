"""The data map, from the same declarations as ``isles map``: each service's tables,
the references it holds, the copies it keeps, the events it publishes and consumes,
its sagas; drawn as an SVG made here (no script, no CDN) and given as Mermaid text."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from isles.console.core import Console
from isles.service import datamap

#: Each kind of edge: its colour, dash and width.
KINDS = {
    "refers to": ("#0b5cad", "", 1.6),
    "copies": ("#8a5a00", "6 4", 1.6),
    "saga": ("#6f42c1", "", 3.2),
    "events": ("#57606a", "2 3", 1.2),
}
BOX_W, BOX_H = 150, 44


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: str
    labels: tuple[str, ...]


def edges(m: datamap.DataMap) -> list[Edge]:
    found = datamap.flows(m, events=True)
    return [Edge(a, b, k, tuple(dict.fromkeys(v))) for (a, b, k), v in found.items()]


#: Above this many arrows the labels go (each arrow keeps its tooltip; the tables say it in words).
MAX_LABELS = 14


def drawing(m: datamap.DataMap, kinds: tuple[str, ...] = tuple(KINDS)) -> dict[str, Any]:
    """Services on a circle, an arrow per kind of link between two of them (side by
    side when there are several), labelled with the tables, sagas or events."""
    names = [s.name for s in m.services]
    all_edges = [e for e in edges(m) if e.kind in kinds]
    for e in all_edges:
        if e.target not in names:
            names.append(e.target)
    n = max(len(names), 1)
    radius = max(170.0, n * 55.0)
    width = int(2 * radius + BOX_W + 260)
    height = int(2 * radius + BOX_H + 80)
    cx, cy = width / 2, height / 2
    at: dict[str, tuple[float, float]] = {}
    for i, name in enumerate(names):
        angle = -math.pi / 2 + 2 * math.pi * i / n
        at[name] = (cx + radius * math.cos(angle), cy + radius * math.sin(angle))
    tables = {s.name: len(s.owned) for s in m.services}
    nodes = [
        {
            "name": name,
            "x": round(x - BOX_W / 2, 1),
            "y": round(y - BOX_H / 2, 1),
            "cx": round(x, 1),
            "cy": round(y, 1),
            "note": f"{tables[name]} table(s)" if name in tables else "not in this system",
        }
        for name, (x, y) in at.items()
    ]
    pairs: dict[frozenset[str], int] = {}
    lines = []
    for e in all_edges:
        key = frozenset((e.source, e.target))
        k = pairs[key] = pairs.get(key, -1) + 1
        (x1, y1), (x2, y2) = at[e.source], at[e.target]
        dx, dy = x2 - x1, y2 - y1
        length = math.hypot(dx, dy) or 1.0
        ux, uy = dx / length, dy / length
        shift = (k - 0.0) * 12 * (1 if e.source < e.target else -1)  # parallel links apart
        px, py = -uy * shift, ux * shift
        start = _border(x1, y1, ux, uy)
        end = _border(x2, y2, -ux, -uy)
        colour, dash, stroke = KINDS[e.kind]
        label = f"{e.kind} {', '.join(e.labels[:3])}{'…' if len(e.labels) > 3 else ''}"
        lines.append(
            {
                "x1": round(start[0] + px, 1),
                "y1": round(start[1] + py, 1),
                "x2": round(end[0] + px, 1),
                "y2": round(end[1] + py, 1),
                "lx": round((start[0] + end[0]) / 2 + px * 1.4, 1),
                "ly": round((start[1] + end[1]) / 2 + py * 1.4 - 3, 1),
                "colour": colour,
                "dash": dash,
                "stroke": stroke,
                "kind": e.kind,
                "label": label,
                "title": f"{e.source} {e.kind} {e.target}: {', '.join(e.labels)}",
                "marker": "arrow-" + e.kind.replace(" ", "-"),
            }
        )
    return {
        "width": width,
        "height": height,
        "nodes": nodes,
        "lines": lines,
        "kinds": KINDS,
        "labels": len(lines) <= MAX_LABELS,
    }


def _border(x: float, y: float, ux: float, uy: float) -> tuple[float, float]:
    """Where a line leaving the box centred at (x, y) in direction (ux, uy) crosses its edge."""
    tx = (BOX_W / 2) / abs(ux) if ux else math.inf
    ty = (BOX_H / 2) / abs(uy) if uy else math.inf
    t = min(tx, ty) + 4
    return x + ux * t, y + uy * t


def add_routes(app: FastAPI, console: Console) -> None:
    the_map = datamap.build_map(console.runtime.system)  # declarations do not change while it runs
    mermaid = datamap.render_mermaid(the_map)
    picture = drawing(the_map)

    @app.get("/map/", response_class=HTMLResponse)
    async def data_map(request: Request) -> HTMLResponse:
        session = await console.guard(request)
        return console.render(request, "map.html", session, active="map", m=the_map, mermaid=mermaid, picture=picture)
