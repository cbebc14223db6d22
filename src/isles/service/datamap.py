"""The data map of a system: which service owns which data, who refers to it, who
keeps copies of it — computed from the services' declarations, never written by hand.

Each service's tables are sorted by what they are:

* ``owned`` — the service's own, authoritative data;
* ``copy`` — a replica of another service's table (:class:`isles.ReplicaTable`),
  kept from that service's events;
* ``projection`` — tables kept from the service's own event-sourced aggregates
  (authoritative too: the events are the truth, these are their read face);
* ``events`` — the event store itself (``event_store``);
* ``history`` — the change history of one of its tables (:func:`isles.add_history`).

Beside the tables: the references a service holds (``*_ref`` and other
:func:`isles.reference` columns: the id of a row of another service, no foreign key),
the copies it keeps (replica tables and denormalized columns, with the events that
keep them), its event-sourced aggregates, the events it publishes and consumes, and
the sagas it orchestrates (with the service each step calls, ``Step(service=...)``:
which services a saga spans). System-wide, :meth:`DataMap.tables` answers, for each
table a service owns, who references it and who copies it; :attr:`DataMap.dangling`
lists references and copies whose target no service of the system owns, and
:attr:`DataMap.undeclared_steps` the saga steps that call another service without
saying which.

The platform's own kernel tables (``isles_*``: outbox, inbox, sagas...) are left out:
every service has them and they hold no business data.

The renderings (text, JSON, Markdown with a Mermaid chart, Mermaid alone, and a
Mermaid ``erDiagram`` of one service's tables) live here
too, so ``isles map`` and any tool (the console, the auditor) draw the same thing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from sqlalchemy import Table

from isles.core.references import INFO_KEY
from isles.messaging.replicas import ReplicaTable
from isles.sagas.definition import Saga
from isles.service.declaration import Service, System
from isles.storage.history import HISTORY_INFO_KEY

TableKind = Literal["owned", "copy", "projection", "events", "history"]
CopyKind = Literal["table", "columns"]

#: Markers of the generated block in a hand-written page (``isles map --output/--check``).
BEGIN = "<!-- isles map begin -->"
END = "<!-- isles map end -->"


#: Between the names of an event type's publishers when several publish it.
PUBLISHERS_SEP = ", "


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str  # the SQLAlchemy type's class name (``Uuid``, ``String``, ``Numeric``...)
    nullable: bool
    primary_key: bool = False
    reference: str | None = None  # "service.table" this column refers to, if a reference
    foreign_key: str | None = None  # "table.column" of a real foreign key (within the service)


@dataclass(frozen=True)
class TableInfo:
    name: str
    kind: TableKind
    primary_key: tuple[str, ...]
    columns: tuple[ColumnInfo, ...]
    source: str | None = None  # a copy: "service.table" of the original; a projection: its name


@dataclass(frozen=True)
class ReferenceInfo:
    """``table.column`` of this service holds the id of a row of ``target`` (another
    service's ``service.table``)."""

    table: str
    column: str
    target: str
    nullable: bool
    #: What ``isles audit --repair`` does with a row holding an orphaned id ("report",
    #: "nullify", "mark <column>") and the target's column that says whether its row
    #: still counts (``deleted_at``, ``is_active``; None: existing is enough).
    on_orphan: str = "report"
    live: str | None = None


@dataclass(frozen=True)
class CopyInfo:
    """Data of ``source`` (``service.table``) kept here: a whole ``table`` (a replica
    table keyed by ``key_column``) or ``columns`` of a local table (denormalized, found
    by the reference ``key_column``), updated by ``events``."""

    kind: CopyKind
    table: str
    source: str
    key_column: str
    columns: tuple[str, ...]
    events: tuple[str, ...]


@dataclass(frozen=True)
class ProjectionInfo:
    name: str
    tables: tuple[str, ...]


@dataclass(frozen=True)
class AggregateInfo:
    """An aggregate kept as its events in the service's ``event_store``."""

    aggregate_type: str
    events: tuple[str, ...]
    projections: tuple[ProjectionInfo, ...]
    published: tuple[str, ...]  # those of its events that go to the outbox too


@dataclass(frozen=True)
class ConsumedInfo:
    """An event the service handles: who publishes it (several: their names joined by
    ``PUBLISHERS_SEP``; None: no service of the system
    declares it) and what the service does with it (handler names, copies kept)."""

    event: str
    publisher: str | None
    handlers: tuple[str, ...]


@dataclass(frozen=True)
class SagaInfo:
    """A saga the service orchestrates. ``step_services``, aligned with ``steps``: the
    service each step calls (the orchestrator itself for a local step; None for a step
    that calls another without saying which). ``spans``: the services it involves, the
    orchestrator first, then in the order its steps first call them. Both are empty in
    a map written before they were recorded."""

    name: str
    steps: tuple[str, ...]
    description: str = ""
    spans: tuple[str, ...] = ()
    step_services: tuple[str | None, ...] = ()

    def step_labels(self) -> list[str]:
        """Each step with the service it calls: ``create_user (auth)``; a local step
        bare; a step that does not say, ``(?)``."""
        if not self.spans or len(self.step_services) != len(self.steps):
            return list(self.steps)
        return [
            step if called == self.spans[0] else f"{step} ({called or '?'})"
            for step, called in zip(self.steps, self.step_services, strict=True)
        ]


@dataclass(frozen=True)
class ServiceMap:
    name: str
    description: str
    tables: tuple[TableInfo, ...]
    references: tuple[ReferenceInfo, ...]
    copies: tuple[CopyInfo, ...]
    aggregates: tuple[AggregateInfo, ...]
    publishes: tuple[str, ...]
    consumes: tuple[ConsumedInfo, ...]
    sagas: tuple[SagaInfo, ...]

    def table(self, name: str) -> TableInfo:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(f"service {self.name} has no table {name!r}")

    @property
    def owned(self) -> tuple[TableInfo, ...]:
        """The authoritative tables: its own data and its aggregates' projections."""
        return tuple(t for t in self.tables if t.kind in ("owned", "projection"))


@dataclass(frozen=True)
class TableUse:
    """One authoritative table of the system and who else holds its data: the
    references to it (``service.table.column``) and the copies of it."""

    owner: str
    table: str
    kind: TableKind
    referenced_by: tuple[str, ...]
    copied_by: tuple[tuple[str, CopyInfo], ...]  # (service, the copy)

    @property
    def name(self) -> str:
        return f"{self.owner}.{self.table}"


@dataclass(frozen=True)
class DataMap:
    system: str
    services: tuple[ServiceMap, ...]
    #: "service.table.column -> target" (or "service: copy of target") where the target
    #: is no table of any service of the system.
    dangling: tuple[str, ...] = field(default=())
    #: "saga.step" of each step that is not local and does not say which service it calls.
    undeclared_steps: tuple[str, ...] = field(default=())

    def service(self, name: str) -> ServiceMap:
        for s in self.services:
            if s.name == name:
                return s
        raise KeyError(f"no service {name!r} in system {self.system}")

    def tables(self) -> dict[str, TableUse]:
        """Every authoritative table (``service.table``), with its references and copies."""
        found: dict[str, TableUse] = {}
        for s in self.services:
            for t in s.owned:
                refs = tuple(
                    f"{o.name}.{r.table}.{r.column}"
                    for o in self.services
                    for r in o.references
                    if r.target == f"{s.name}.{t.name}"
                )
                copies = tuple((o.name, c) for o in self.services for c in o.copies if c.source == f"{s.name}.{t.name}")
                found[f"{s.name}.{t.name}"] = TableUse(s.name, t.name, t.kind, refs, copies)
        return found

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataMap:
        def table(t: Mapping[str, Any]) -> TableInfo:
            return TableInfo(
                name=t["name"],
                kind=t["kind"],
                primary_key=tuple(t["primary_key"]),
                columns=tuple(ColumnInfo(**c) for c in t["columns"]),
                source=t.get("source"),
            )

        def copy(c: Mapping[str, Any]) -> CopyInfo:
            return CopyInfo(**{**c, "columns": tuple(c["columns"]), "events": tuple(c["events"])})

        def aggregate(a: Mapping[str, Any]) -> AggregateInfo:
            return AggregateInfo(
                aggregate_type=a["aggregate_type"],
                events=tuple(a["events"]),
                projections=tuple(ProjectionInfo(p["name"], tuple(p["tables"])) for p in a["projections"]),
                published=tuple(a["published"]),
            )

        def service(s: Mapping[str, Any]) -> ServiceMap:
            return ServiceMap(
                name=s["name"],
                description=s["description"],
                tables=tuple(table(t) for t in s["tables"]),
                references=tuple(ReferenceInfo(**r) for r in s["references"]),
                copies=tuple(copy(c) for c in s["copies"]),
                aggregates=tuple(aggregate(a) for a in s["aggregates"]),
                publishes=tuple(s["publishes"]),
                consumes=tuple(ConsumedInfo(c["event"], c["publisher"], tuple(c["handlers"])) for c in s["consumes"]),
                sagas=tuple(
                    SagaInfo(
                        g["name"],
                        tuple(g["steps"]),
                        g.get("description", ""),
                        tuple(g.get("spans", ())),
                        tuple(g.get("step_services", ())),
                    )
                    for g in s["sagas"]
                ),
            )

        return cls(
            system=data["system"],
            services=tuple(service(s) for s in data["services"]),
            dangling=tuple(data.get("dangling", ())),
            undeclared_steps=tuple(data.get("undeclared_steps", ())),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"


# --- building the map from the declarations ---------------------------------------


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _columns(table: Table) -> tuple[ColumnInfo, ...]:
    return tuple(
        ColumnInfo(
            name=c.name,
            type=type(c.type).__name__,
            nullable=bool(c.nullable),
            primary_key=bool(c.primary_key),
            reference=c.info.get(INFO_KEY),
            foreign_key=min((fk.target_fullname for fk in c.foreign_keys), default=None),
        )
        for c in table.columns
    )


def _saga(service: str, saga: Saga) -> SagaInfo:
    called = tuple(service if st.local else st.service for st in saga.steps)
    return SagaInfo(
        saga.name,
        tuple(st.name for st in saga.steps),
        saga.description,
        _unique([service, *(c for c in called if c is not None)]),
        called,
    )


def _copies(service: Service) -> tuple[CopyInfo, ...]:
    """The service's replicas, one per (table, source, key): two replicas of one table
    kept by different events (created/updated, deactivated) are one copy."""
    merged: dict[tuple[str, str, str, str], CopyInfo] = {}
    for replica in service.replicas:
        kind: CopyKind = "table" if isinstance(replica, ReplicaTable) else "columns"
        key = (kind, replica.table.name, replica.source, replica.key_column)
        events = tuple(e.event_type for e in replica.events)
        held = merged.get(key)
        if held is None:
            merged[key] = CopyInfo(
                kind, replica.table.name, replica.source, replica.key_column, tuple(replica.columns), events
            )
        else:
            merged[key] = CopyInfo(
                kind,
                held.table,
                held.source,
                held.key_column,
                _unique((*held.columns, *replica.columns)),
                _unique((*held.events, *events)),
            )
    return tuple(merged.values())


def service_map(service: Service, publishers: Mapping[str, str]) -> ServiceMap:
    """One service's part of the map; ``publishers``: event type -> the service that publishes it."""
    replica_tables = {r.table.name: r.source for r in service.replicas if isinstance(r, ReplicaTable)}
    projected: dict[str, str] = {}
    aggregates: list[AggregateInfo] = []
    event_tables: set[str] = set()
    for store in service.event_stores:
        event_tables.add(store.table.name)
        projections = tuple(
            ProjectionInfo(name, tuple(t.name for t in p.tables)) for name, p in store.projections.items()
        )
        for p in projections:
            for t in p.tables:
                projected[t] = p.name
        for aggregate_type, sourced in store.aggregates.items():
            aggregates.append(
                AggregateInfo(
                    aggregate_type,
                    tuple(e.event_type for e in sourced.events),
                    projections,
                    tuple(e.event_type for e in sourced.events if store.publishes(e)),
                )
            )
    tables: list[TableInfo] = []
    for name in service.own_tables:
        if name.startswith("isles_"):
            continue
        table = service.metadata.tables[name]
        kind: TableKind = "owned"
        source: str | None = None
        if name in event_tables:
            kind = "events"
        elif HISTORY_INFO_KEY in table.info:
            kind, source = "history", table.info[HISTORY_INFO_KEY]
        elif name in replica_tables:
            kind, source = "copy", replica_tables[name]
        elif name in projected:
            kind, source = "projection", projected[name]
        pk = tuple(c.name for c in table.primary_key.columns)
        tables.append(TableInfo(name, kind, pk, _columns(table), source))
    references = tuple(
        ReferenceInfo(r.table, r.column, f"{r.target_service}.{r.target_table}", r.nullable, str(r.on_orphan), r.live)
        for r in service.references
    )
    references = tuple(sorted(references, key=lambda r: (r.table, r.column)))
    # Replica handlers are made anew on each call: name them by their replica's label.
    labels = {r.label: ("copy" if isinstance(r, ReplicaTable) else "denormalized") for r in service.replicas}
    consumed: dict[str, list[str]] = {}
    for handler in service.all_handlers():
        name = handler.name or getattr(handler.fn, "__name__", "handler")
        if handler.name in labels:
            name = f"{labels[handler.name]}: {handler.name}"
        consumed.setdefault(handler.event.event_type, [])
        if name not in consumed[handler.event.event_type]:
            consumed[handler.event.event_type].append(name)
    consumes = tuple(
        ConsumedInfo(event, publishers.get(event), tuple(names)) for event, names in sorted(consumed.items())
    )
    return ServiceMap(
        name=service.name,
        description=service.description,
        tables=tuple(tables),
        references=references,
        copies=_copies(service),
        aggregates=tuple(aggregates),
        publishes=_unique(
            [e.event_type for e in service.publishes]
            + [
                e.event_type
                for store in service.event_stores
                for k in store.aggregates.values()
                for e in k.events
                if store.publishes(e)
            ]
        ),
        consumes=consumes,
        sagas=tuple(_saga(service.name, s) for s in service.sagas),
    )


def build_map(system: System) -> DataMap:
    """The data map of ``system``, from its services' declarations."""
    found: dict[str, list[str]] = {}
    for s in system.services:
        published = [e.event_type for e in s.publishes]
        for store in s.event_stores:
            for kind in store.aggregates.values():
                published.extend(e.event_type for e in kind.events if store.publishes(e))
        for event_type in published:
            names = found.setdefault(event_type, [])
            if s.name not in names:
                names.append(s.name)
    # a type several services publish (isles.SagaFinished) names them all: "employee, project"
    publishers = {event_type: PUBLISHERS_SEP.join(names) for event_type, names in found.items()}
    services = tuple(service_map(s, publishers) for s in system.services)
    known = {f"{s.name}.{t.name}" for s in services for t in s.owned}
    dangling = [
        f"{s.name}.{r.table}.{r.column} -> {r.target}" for s in services for r in s.references if r.target not in known
    ]
    dangling += [f"{s.name}.{c.table}: copy of {c.source}" for s in services for c in s.copies if c.source not in known]
    undeclared = tuple(
        f"{g.name}.{step}"
        for s in services
        for g in s.sagas
        for step, called in zip(g.steps, g.step_services, strict=True)
        if called is None
    )
    return DataMap(system.name, services, tuple(dangling), undeclared)


# --- renderings ------------------------------------------------------------------


def _list(items: Iterable[str], empty: str = "none") -> str:
    items = list(items)
    return ", ".join(items) if items else empty


def _code(items: Iterable[str], empty: str = "none") -> str:
    return _list((f"`{i}`" for i in items), empty)


def _copy_what(c: CopyInfo) -> str:
    return f"table `{c.table}`" if c.kind == "table" else f"columns of `{c.table}` (by `{c.key_column}`)"


def render_text(m: DataMap) -> str:
    """For a terminal: one block per service, then who keeps copies of what."""
    lines = [f"system {m.system}: {len(m.services)} service(s)"]
    for s in m.services:
        lines.append("")
        lines.append(s.name + (f" — {s.description}" if s.description else ""))
        for t in s.tables:
            if t.kind == "copy":
                continue
            what = {
                "owned": "",
                "projection": f" (projection {t.source})",
                "events": " (event store)",
                "history": f" (history of {t.source})",
            }[t.kind]
            lines.append(f"  owns       {t.name}{what}: key {_list(t.primary_key)}; {len(t.columns)} column(s)")
        for r in s.references:
            extra = (" (nullable)" if r.nullable else "") + (f" (live: {r.live})" if r.live else "")
            extra += f" (orphans: {r.on_orphan})" if r.on_orphan != "report" else ""
            lines.append(f"  refers     {r.table}.{r.column} -> {r.target}{extra}")
        for c in s.copies:
            what = c.table if c.kind == "table" else f"{c.table}.{{{', '.join(c.columns)}}}"
            lines.append(f"  copies     {c.source} -> {what}, kept by {_list(c.events)}")
        for a in s.aggregates:
            lines.append(f"  aggregate  {a.aggregate_type} (events: {_list(a.events)})")
        lines.append(f"  publishes  {_list(s.publishes)}")
        for e in s.consumes:
            lines.append(f"  consumes   {e.event} (from {e.publisher or '?'}): {_list(e.handlers)}")
        for g in s.sagas:
            lines.append(f"  saga       {g.name}: {' > '.join(g.step_labels())}")
            if g.spans:
                lines.append(f"             spans {_list(g.spans)}")
    copies = [(u, by, c) for u in m.tables().values() for by, c in u.copied_by]
    if copies:
        lines += ["", "who keeps copies of what"]
        for u, by, c in copies:
            lines.append(
                f"  {u.name} -> {by}.{c.table}" + ("" if c.kind == "table" else f" {{{', '.join(c.columns)}}}")
            )
    if m.dangling:
        lines += ["", "references and copies of tables no service owns"]
        lines += [f"  {d}" for d in m.dangling]
    if m.undeclared_steps:
        lines += ["", "warning: saga steps that call another service without saying which (Step(service=...))"]
        lines += [f"  {d}" for d in m.undeclared_steps]
    return "\n".join(lines) + "\n"


def flows(m: DataMap, *, events: bool = False) -> dict[tuple[str, str, str], list[str]]:
    """The links between services, by (from, to, kind): "refers to" (the tables whose
    rows it names), "copies" (the tables it copies), "saga" (the sagas whose steps call
    the other's API) and, with ``events``, "events" (from a publisher to a consumer:
    the events), in the order the services declare them; a name may repeat."""
    found: dict[tuple[str, str, str], list[str]] = {}
    for s in m.services:
        for r in s.references:
            target, _, table = r.target.partition(".")
            if target != s.name:
                found.setdefault((s.name, target, "refers to"), []).append(table)
        for c in s.copies:
            target, _, table = c.source.partition(".")
            found.setdefault((s.name, target, "copies"), []).append(table)
        for g in s.sagas:
            for called in g.spans:
                if called != s.name:
                    found.setdefault((s.name, called, "saga"), []).append(g.name)
        if events:
            for e in s.consumes:
                for publisher in e.publisher.split(PUBLISHERS_SEP) if e.publisher else ():
                    if publisher != s.name:
                        found.setdefault((publisher, s.name, "events"), []).append(e.event)
    return found


def render_mermaid(m: DataMap) -> str:
    """A ``flowchart``: a node per service; a solid arrow from a service to one whose
    rows it refers to, a dotted one to one whose data it copies (labelled with the
    tables), a thick one to one whose API a step of a saga it orchestrates calls
    (labelled with the sagas)."""
    lines = ["flowchart LR"]
    for s in m.services:
        owned = len(s.owned)
        lines.append(f'  {s.name}["{s.name}<br/>{owned} table(s)"]')
    edges = flows(m)
    known = {s.name for s in m.services}
    arrows = {"refers to": "-->", "copies": "-.->", "saga": "==>"}
    for (source, target, kind), tables in edges.items():
        if target not in known:
            lines.append(f'  {target}["{target}<br/>(not in this system)"]')
            known.add(target)
        lines.append(f'  {source} {arrows[kind]}|"{kind} {", ".join(_unique(tables))}"| {target}')
    return "\n".join(lines) + "\n"


def render_markdown(m: DataMap) -> str:
    """The page's generated block (without the markers): the chart, who keeps copies
    of what, who refers to what, then a section per service."""
    out: list[str] = [
        f"<!-- Generated by `isles map` from the declarations of the system {m.system}: "
        "change the declarations and regenerate, never edit this block. -->",
        "",
        "## Services and their data",
        "",
        "```mermaid",
        render_mermaid(m).rstrip("\n"),
        "```",
        "",
        "A solid arrow: the service holds references to the other's rows (their ids, no foreign key). "
        "A dotted arrow: it keeps copies of the other's data, updated by its events. "
        "Each of these points at the owner. "
        "A thick arrow: a saga the service orchestrates has a step that calls the other (it points at the one called).",
        "",
        "## Who keeps copies of what",
        "",
    ]
    uses = m.tables()
    copies = [(u, by, c) for u in uses.values() for by, c in u.copied_by]
    if copies:
        out += ["| data (owner) | copied by | into | columns | kept by the events |", "|---|---|---|---|---|"]
        for u, by, c in copies:
            out.append(f"| `{u.name}` | {by} | {_copy_what(c)} | {_code(c.columns)} | {_code(c.events)} |")
    else:
        out.append("No service keeps a copy of another's data.")
    out += ["", "## Who refers to what", ""]
    referenced = [u for u in uses.values() if u.referenced_by]
    if referenced:
        out += ["| data (owner) | referenced from |", "|---|---|"]
        for u in referenced:
            out.append(f"| `{u.name}` | {_code(u.referenced_by)} |")
    else:
        out.append("No service refers to another's data.")
    if m.dangling:
        out += ["", "**Refer to or copy a table no service of this system owns:**", ""]
        out += [f"- `{d}`" for d in m.dangling]
    out += ["", "## Sagas across services", ""]
    sagas = [(s.name, g) for s in m.services for g in s.sagas]
    if sagas:
        out += ["| saga | orchestrated by | spans | steps (the service each calls) |", "|---|---|---|---|"]
        for by, g in sagas:
            out.append(f"| `{g.name}` | {by} | {_list(g.spans, '?')} | {' → '.join(g.step_labels())} |")
    else:
        out.append("No service orchestrates a saga.")
    if m.undeclared_steps:
        out += ["", "**Saga steps that call another service without saying which** (declare `Step(service=...)`):", ""]
        out += [f"- `{d}`" for d in m.undeclared_steps]
    for s in m.services:
        out += ["", f"## Service `{s.name}`", ""]
        if s.description:
            out += [s.description, ""]
        own = [t for t in s.tables if t.kind != "copy"]
        out.append("**Owns**" + (":" if own else ": no table."))
        if own:
            out += ["", "| table | key | columns | what |", "|---|---|---|---|"]
            for t in own:
                what = {
                    "owned": "its data",
                    "projection": f"projection `{t.source}` of its aggregates' events (rebuildable)",
                    "events": "the events of its event-sourced aggregates",
                    "history": f"the change history of `{t.source}` (previous versions, who, why)",
                }[t.kind]
                for c in s.copies:
                    if c.kind == "columns" and c.table == t.name:
                        what += f"; {_code(c.columns)} copied from `{c.source}`"
                cols = ", ".join(c.name for c in t.columns)
                out.append(f"| `{t.name}` | {_code(t.primary_key)} | {cols} | {what} |")
        if s.tables:
            out += ["", "**Its tables** (copies included; a reference to another service's table, dotted):", ""]
            out += ["```mermaid", render_erd(m, s.name).rstrip("\n"), "```"]
        out += ["", "**Refers to**" + (":" if s.references else ": nothing of another service.")]
        if s.references:
            out += [
                "",
                "| column | the id of a row of | nullable | an orphan is | audit repair |",
                "|---|---|---|---|---|",
            ]
            for r in s.references:
                orphan = "missing" + (f", or `{r.live}` says gone" if r.live else "")
                nullable = "yes" if r.nullable else "no"
                out.append(f"| `{r.table}.{r.column}` | `{r.target}` | {nullable} | {orphan} | {r.on_orphan} |")
        out += ["", "**Keeps copies**" + (":" if s.copies else ": none.")]
        if s.copies:
            out += ["", "| of | into | columns | kept by the events |", "|---|---|---|---|"]
            for c in s.copies:
                out.append(f"| `{c.source}` | {_copy_what(c)} | {_code(c.columns)} | {_code(c.events)} |")
        if s.aggregates:
            out += ["", "**Event-sourced aggregates**:", ""]
            for a in s.aggregates:
                projections = _list(f"`{p.name}` ({_code(p.tables)})" for p in a.projections)
                if not a.published:
                    published = "none published"
                elif len(a.published) == len(a.events):
                    published = "all published"
                else:
                    published = "published: " + ", ".join(f"`{e}`" for e in a.published)
                out.append(f"- `{a.aggregate_type}`: events {_code(a.events)} ({published}); projections {projections}")
        out += ["", f"**Publishes**: {_code(s.publishes)}."]
        out += ["", "**Consumes**" + (":" if s.consumes else ": nothing.")]
        if s.consumes:
            out += ["", "| event | from | what it does |", "|---|---|---|"]
            for e in s.consumes:
                out.append(f"| `{e.event}` | {e.publisher or '?'} | {'; '.join(e.handlers)} |")
        if s.sagas:
            out += ["", "**Orchestrates the sagas**:", ""]
            for g in s.sagas:
                spans = f"; spans {_list(g.spans)}" if g.spans else ""
                out.append(f"- `{g.name}`: {' → '.join(g.step_labels())}{spans}")
    return "\n".join(out) + "\n"


_WORD = re.compile(r"[^A-Za-z0-9_]")


def _word(name: str) -> str:
    """A name Mermaid's ``erDiagram`` takes as one word (an entity, a type, an attribute)."""
    word = _WORD.sub("_", name) or "_"
    return word if word[0].isalpha() or word[0] == "_" else f"_{word}"


def render_erd(m: DataMap, service: str) -> str:
    """A Mermaid ``erDiagram`` of ``service``'s tables (kernel tables left out), each
    with its columns (type, ``PK``/``FK``, a reference's target as the comment); a
    solid relationship per foreign key between its tables (``|o`` when the column is
    nullable), a dotted one per reference to another service's table, drawn as an
    entity ``service__table`` without attributes. Raises KeyError for an unknown
    service."""
    s = m.service(service)
    tables = {t.name for t in s.tables}
    lines = ["erDiagram"]
    for t in s.tables:
        lines.append(f"  {_word(t.name)} {{")
        for c in t.columns:
            key = " PK" if c.primary_key else (" FK" if c.foreign_key else "")
            comment = f' "ref {c.reference}"' if c.reference else ""
            lines.append(f"    {_word(c.type)} {_word(c.name)}{key}{comment}")
        lines.append("  }")
    for t in s.tables:
        for c in t.columns:
            if c.foreign_key:
                target = c.foreign_key.rpartition(".")[0].rpartition(".")[2]  # schema.table.column -> table
                if target in tables:
                    one = "|o" if c.nullable else "||"
                    lines.append(f'  {_word(target)} {one}--o{{ {_word(t.name)} : "{c.name}"')
            if c.reference:
                owner, _, table = c.reference.partition(".")
                # another service's table: an entity of its own (service__table), without attributes
                entity = _word(table) if owner == s.name and table in tables else _word(f"{owner}__{table}")
                one = "o|" if c.nullable else "||"
                lines.append(f'  {_word(t.name)} }}o..{one} {entity} : "ref {c.name}"')
    return "\n".join(lines) + "\n"


def render(m: DataMap, fmt: str, service: str | None = None) -> str:
    """``m`` in ``fmt``; ``erd`` draws the tables of ``service`` (required for it)."""
    if fmt == "erd":
        if service is None:
            raise ValueError("format erd: name the service")
        return render_erd(m, service)
    renderers = {"text": render_text, "json": DataMap.to_json, "markdown": render_markdown, "mermaid": render_mermaid}
    if fmt not in renderers:
        raise ValueError(f"format {fmt!r}: one of {', '.join([*renderers, 'erd'])}")
    return renderers[fmt](m)


# --- the generated block of a hand-written page ----------------------------------------


class MarkersMissing(ValueError):
    """The page has no ``<!-- isles map begin -->`` ... ``<!-- isles map end -->`` block."""


def _bounds(page: str) -> tuple[int, int]:
    begin = page.find(BEGIN)
    end = page.find(END, begin + len(BEGIN)) if begin >= 0 else -1
    if begin < 0 or end < 0:
        raise MarkersMissing(f"the page has no block between {BEGIN} and {END}")
    return begin + len(BEGIN), end


def block_of(page: str) -> str:
    """What stands between the markers (without the newlines right inside them)."""
    start, end = _bounds(page)
    return page[start:end].strip("\n") + "\n"


def with_block(page: str, block: str) -> str:
    """``page`` with the text between the markers replaced by ``block``."""
    start, end = _bounds(page)
    return page[:start] + "\n" + block.strip("\n") + "\n" + page[end:]


def wrapped(block: str) -> str:
    """``block`` between the markers: a new page's whole text."""
    return f"{BEGIN}\n{block.strip(chr(10))}\n{END}\n"
