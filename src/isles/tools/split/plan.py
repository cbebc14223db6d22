"""The split plan: which service's table and column each monolith table and column
becomes. :func:`propose` makes one from the analysis and the target system, by name
(singular and plural, prefixes, known renames); :func:`write_plan` writes it as TOML
to be edited by hand; :func:`read_plan` reads it back (stdlib ``tomllib``) and
:func:`check_plan` lists what is wrong with it, each problem naming the plan's
table and column (and its line).

A plan's target columns are filled from a monolith column (``[tables.X.columns]``,
``source = "target"``) or by a default (``[tables.X.defaults]``; for a mapped column,
the value its NULLs take): a constant, ``"TODO"``
(still to decide: a problem for ``check``), ``{ via = "employee_id", column =
"company_id" }`` (the value of the related monolith row, found through a relation of the
table), ``{ copy = "employee.employees" }`` (a denormalized column the target keeps
from its owner's events: filled from the owner's migrated row), or, for the target's
UUID key of a monolith table with no one-column id, ``{ key = ["employee_id",
"project_id"] }`` / ``{ key = "rowid" }`` (the row's UUID made of those values:
:func:`isles.tools.split.ids.row_key_id`).

A column's **values** (``[tables.X.values.COLUMN]``, ``"monolith value" = "target
value"``) rewrite the monolith's words into the target's where they differ: a
``status`` of ``'approved'`` into the ``'APPROVED'`` the target's ``CHECK (status IN
(...))`` takes, a code ``1`` into ``'ACTIVE'``. A text or integer value is matched on
its text, exactly; a value not listed goes as it is. :func:`propose` lists, for a
column whose target takes a fixed set of values (a ``CHECK ... IN`` or an ``Enum``), the
monolith's values it would refuse, with the target's value of the same letters
(ignoring case, spaces, ``-`` and ``_``) or ``"TODO"``.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from isles.tools.split import SplitError
from isles.tools.split.analyse import ANOMALY_TEXT, Analysis, Column

if TYPE_CHECKING:
    from isles.service.declaration import System

ORPHANS = ("skip", "keep", "null")
BAD_VALUES = ("skip", "default")
TODO = "TODO"
#: Monolith column names that mean a target's column of another name.
RENAMES: dict[str, tuple[str, ...]] = {
    "employee_number": ("employee_id",),
    "employee_no": ("employee_id",),
    "job_title": ("position",),
    "title": ("position", "name"),
    "active": ("is_active",),
    "enabled": ("is_active",),
    "client_name": ("client",),
    "days_per_year": ("allowance_days",),
    "carry_over": ("carry_forward_cap",),
    "entitled": ("credited",),
    "used": ("taken",),
    "remaining": ("balance",),
    "work_date": ("day",),
    "date": ("day",),
    "mobile": ("phone",),
    "telephone": ("phone",),
    # a shop's (a newcomer's trial splitting one into the shop system)
    "body": ("comment", "content", "text"),
    "alt": ("alt_text",),
    "position": ("display_order", "sort_order"),
    "total": ("total_amount",),
    "qty": ("quantity",),
    "zip": ("postal_code",),
    "zip_code": ("postal_code",),
    "line1": ("address_line1",),
    "line2": ("address_line2",),
}
#: Prefixes an old schema puts on its table names.
PREFIXES = ("tbl_", "tb_", "t_", "hr_", "hrms_", "app_")
UUID_TYPES = ("Uuid", "UUID")
INT_TYPES = ("Integer", "BigInteger", "SmallInteger")
NUM_TYPES = ("Numeric", "Float", "Double", "DECIMAL", "Money")
DATE_TYPES = ("Date", "DateTime", "UTCDateTime", "Time")


# --- the target -----------------------------------------------------------------------


@dataclass(frozen=True)
class TargetColumn:
    name: str
    type: str
    nullable: bool
    primary_key: bool
    has_default: bool
    reference: str | None = None  # "service.table" (no foreign key)
    foreign_key: str | None = None  # "table.column" within the service
    copy_of: str | None = None  # a denormalized copy of "service.table"'s data
    #: the only values the column takes (a ``CHECK (c IN (...))`` or an ``Enum``), None: any
    choices: tuple[str, ...] | None = None

    @property
    def required(self) -> bool:
        """NOT NULL and nothing fills it by itself."""
        return not self.nullable and not self.has_default


@dataclass(frozen=True)
class TargetTable:
    service: str
    name: str
    columns: dict[str, TargetColumn]

    @property
    def full(self) -> str:
        return f"{self.service}.{self.name}"


@dataclass(frozen=True)
class Target:
    """What a plan maps onto: the system's authoritative tables, and the copies its
    services keep of them."""

    system: str
    tables: dict[str, TargetTable]  # "service.table"
    replicas: tuple[tuple[str, str], ...]  # ("service.copy_table", "owner.table")
    #: "service.table" -> what it is a projection of: an event-sourced service's tables,
    #: a read model's kept from archived events, which a run could fill with rows but
    #: not with the events they come from
    projections: dict[str, str] = field(default_factory=dict)


def target_of(system: System) -> Target:
    """The target from the services' metadata (types, nullability, defaults) and the
    data map (references, copies)."""
    from isles.service.datamap import build_map

    data_map = build_map(system)
    tables: dict[str, TargetTable] = {}
    replicas: list[tuple[str, str]] = []
    from isles.messaging.replicas import DenormalizedColumns

    for service, smap in zip(system.services, data_map.services, strict=True):
        copied = {(c.table, col): c.source for c in smap.copies if c.kind == "columns" for col in c.columns}
        # the version of copied columns is the owner's too (the run fills it so, and
        # --changed moves it with the owner's)
        copied.update(
            {
                (r.table.name, r.version_column): r.source
                for r in service.replicas
                if isinstance(r, DenormalizedColumns) and r.version_column
            }
        )
        replicas += [(f"{smap.name}.{c.table}", c.source) for c in smap.copies if c.kind == "table"]
        for info in smap.owned:
            sa_table = service.metadata.tables[info.name]
            columns = {}
            for col in info.columns:
                sa_col = sa_table.columns[col.name]
                columns[col.name] = TargetColumn(
                    col.name,
                    col.type,
                    col.nullable,
                    col.primary_key,
                    sa_col.default is not None or sa_col.server_default is not None,
                    col.reference,
                    col.foreign_key,
                    copied.get((info.name, col.name)),
                    _choices(sa_table, sa_col),
                )
            tables[f"{smap.name}.{info.name}"] = TargetTable(smap.name, info.name, columns)
    projections = {
        f"{service.name}.{table.name}": f"the {service.name} service's event store (projection {projection.name})"
        for service in system.services
        for store in service.event_stores
        for projection in store.projections.values()
        for table in projection.tables
    }
    # a read model kept from archived events is rebuilt from them: loaded rows would go
    projections.update(
        {
            f"{service.name}.{table.name}": f"the {service.name} service's event archive (read model {model.name})"
            for service in system.services
            if service.archive is not None
            for model in service.archive.read_models.values()
            for table in model.tables
        }
    )
    return Target(system.name, tables, tuple(replicas), projections)


_IN_LIST = re.compile(r"""^\s*"?(\w+)"?\s+IN\s*\(((?:\s*'(?:[^']|'')*'\s*,?)+)\)\s*$""", re.IGNORECASE)
_QUOTED = re.compile(r"'((?:[^']|'')*)'")


def _choices(sa_table: Any, sa_col: Any) -> tuple[str, ...] | None:
    """The values a column is limited to by a ``CHECK (column IN ('A', ...))`` of its
    table or by an ``Enum`` type; None where nothing limits it."""
    enums = getattr(sa_col.type, "enums", None)
    if enums:
        return tuple(str(e) for e in enums)
    from sqlalchemy import CheckConstraint

    for constraint in sa_table.constraints:
        if isinstance(constraint, CheckConstraint):
            m = _IN_LIST.match(str(constraint.sqltext))
            if m and m.group(1) == sa_col.name:
                return tuple(v.replace("''", "'") for v in _QUOTED.findall(m.group(2)))
    return None


def _letters(word: str) -> str:
    return re.sub(r"[\s_-]+", "", word).casefold()


# --- the plan ---------------------------------------------------------------------------


@dataclass
class TablePlan:
    source: str
    target: str  # "service.table"; "" skips the table; "TODO": to decide
    columns: dict[str, str] = field(default_factory=dict)  # monolith column -> target column
    skip: list[str] = field(default_factory=list)  # monolith columns left behind
    defaults: dict[str, Any] = field(default_factory=dict)  # target column -> how it is filled
    #: monolith column -> {the monolith's value (its text) -> the target's value}
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: monolith column -> its own ``[rejects] orphans`` / ``bad_values`` decision
    orphans: dict[str, str] = field(default_factory=dict)
    bad_values: dict[str, str] = field(default_factory=dict)


@dataclass
class Plan:
    monolith: str
    system: str
    orphans: str = "skip"
    bad_values: str = "default"
    threshold: float = 0.01
    tables: dict[str, TablePlan] = field(default_factory=dict)
    relations: list[dict[str, Any]] = field(default_factory=list)
    replicas: list[dict[str, Any]] = field(default_factory=list)
    #: comments written after a key, by its place ("tables.employees.columns.hire_date")
    notes: dict[str, str] = field(default_factory=dict)
    #: where each key was read from (line numbers), by the same places
    lines: dict[str, int] = field(default_factory=dict)

    @property
    def todos(self) -> list[str]:
        """The places still saying TODO."""
        found = [f"tables.{t.source}.target" for t in self.tables.values() if t.target == TODO]
        found += [
            f"tables.{t.source}.defaults.{c}" for t in self.tables.values() for c, v in t.defaults.items() if v == TODO
        ]
        found += [
            f"tables.{t.source}.values.{c}.{k}"
            for t in self.tables.values()
            for c, words in t.values.items()
            for k, v in words.items()
            if v == TODO
        ]
        return found


@dataclass(frozen=True)
class Problem:
    where: str  # the plan's place: "tables.employees.columns.job_titel"
    message: str
    line: int | None = None
    #: the plan names a table or column that is not there (in the monolith or the
    #: target): a plan for something else, or a typo — bad input, not a decision
    unknown: bool = False

    def __str__(self) -> str:
        at = f"line {self.line}: " if self.line else ""
        return f"{at}{self.where}: {self.message}"


# --- proposing ---------------------------------------------------------------------------


def _singular(name: str) -> str:
    if name.endswith("ies"):
        return name[:-3] + "y"
    if name.endswith(("ses", "xes")):
        return name[:-2]
    return name[:-1] if name.endswith("s") else name


def _table_score(source: str, target: str) -> float:
    for prefix in PREFIXES:
        if source.startswith(prefix):
            source = source[len(prefix) :]
    if source == target:
        return 1.0
    if _singular(source) == _singular(target):
        return 0.95
    if target.startswith(_singular(source) + "_") or target.startswith(source + "_"):
        return 0.85  # attendance -> attendance_days
    if source.startswith(_singular(target) + "_"):
        return 0.8
    if target.endswith("_" + source) or target.endswith("_" + _singular(source)):
        return 0.8  # addresses -> user_addresses: the owner's name before it
    return difflib.SequenceMatcher(None, source, target).ratio() * 0.9


def _pick_targets(analysis: Analysis, target: Target) -> tuple[dict[str, str], dict[str, str]]:
    """The target table proposed for each monolith table: every pair scored by name, the
    best pairs taken first, each table once on either side — not the monolith's tables in turn, where ``user_settings``
    took ``user.users`` before ``users`` came (a newcomer's trial). Projections of an
    event store are not proposed (a run cannot fill them): the second mapping names,
    for a monolith table that matched one best, the projection."""
    pairs = []
    for n, name in enumerate(analysis.tables):
        for at, (full, t) in enumerate(target.tables.items()):
            score = _table_score(name, t.name)
            if score >= 0.75:
                pairs.append((score, at, n, name, full))
    # equal scores: the system's order of its services and tables, as before (presence's
    # attendance_days before analytics' attendance_marks for an attendance table)
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    picked: dict[str, str] = {}
    projections: dict[str, str] = {}
    taken: set[str] = set()
    for _, _, _, name, full in pairs:
        if name in picked or name in projections or full in taken:
            continue
        taken.add(full)
        if full in target.projections:
            projections[name] = full
        else:
            picked[name] = full
    return picked, projections


def propose(analysis: Analysis, target: Target) -> Plan:
    """A first plan: tables and columns matched by name, the rest left as TODO."""
    plan = Plan(monolith=analysis.path.name, system=target.system)
    picks, projections = _pick_targets(analysis, target)
    for name, table in analysis.tables.items():
        tp = TablePlan(source=name, target=TODO)
        plan.tables[name] = tp
        where = f"tables.{name}"
        picked = picks.get(name)
        if name in projections:
            plan.notes[f"{where}.target"] = (
                f"{table.rows} rows; its match, {projections[name]}, is a projection of "
                f"{target.projections[projections[name]]}: a run cannot fill it (docs/split.md, Not done yet): "
                '"" to leave the table, or name another'
            )
            continue
        if picked is None:
            plan.notes[f"{where}.target"] = (
                f'{table.rows} rows; no target table found by name: name one ("service.table"), or "" to leave it'
            )
            continue
        tp.target = picked
        plan.notes[f"{where}.target"] = f"{table.rows} rows"
        tt = target.tables[picked]
        used: set[str] = set()
        for col in table.columns:
            to = _pick_column(col, tt, used)
            if to is None:
                tp.skip.append(col.name)
                continue
            used.add(to)
            tp.columns[col.name] = to
            plan.notes[f"{where}.columns.{col.name}"] = _column_note(analysis, name, col, tt.columns[to])
            if col.nulls and tt.columns[to].required:  # a default stands in for the NULLs
                tp.defaults[to] = TODO
                plan.notes[f"{where}.defaults.{to}"] = (
                    f"for the {col.nulls} NULL(s) of {col.name}: {tt.columns[to].type}, NOT NULL, no default"
                )
        for tc in tt.columns.values():
            if tc.name in used:
                continue
            key = f"{where}.defaults.{tc.name}"
            if tc.copy_of:
                tp.defaults[tc.name] = {"copy": tc.copy_of}
                plan.notes[key] = "denormalized: kept from the owner's events"
            elif tc.primary_key and tc.type in UUID_TYPES and not _one_id(table):
                # no one-column id to become the UUID: the row's key does
                tp.defaults[tc.name] = {"key": list(table.primary_key) if table.primary_key else "rowid"}
                plan.notes[key] = (
                    f"the row's UUID from its primary key ({', '.join(table.primary_key)})"
                    if table.primary_key
                    else "the row's UUID from its rowid (no primary key; VACUUM may renumber: name "
                    "the columns that tell rows apart if there are)"
                )
            elif tc.name == "version" and tc.type in INT_TYPES:
                plan.notes[key] = "the run writes 1, the row's first version (the platform's versions)"
            elif tc.required or (tc.primary_key and not tc.has_default):
                via = _via(analysis, name, tc.name)
                tp.defaults[tc.name] = via if via is not None else TODO
                plan.notes[key] = f"{tc.type}, NOT NULL, no default" + ("" if via else ": a value, or map a column")
            else:
                plan.notes[key] = "(nullable: NULL)" if tc.nullable else "(its default)"
        _propose_flags(analysis, tp, tt, plan.notes)
        _propose_values(analysis, tp, tt, plan.notes)
    plan.relations = _relations(analysis, plan, target)
    dirt = _dirtiest(analysis)
    if dirt is not None and dirt[1] > plan.threshold:
        plan.notes["rejects.threshold"] = (
            f"the analysis found up to {dirt[1]:.1%} of a table's rows with findings ({dirt[0]}), each a reject "
            "even where its row loads (an empty string as NULL): a first run stops at that table unless the "
            "threshold is above it"
        )
    mapped = {tp.target for tp in plan.tables.values()}
    plan.replicas = [
        {"table": copy, "source": owner, "from": _source_of(plan, owner)}
        for copy, owner in target.replicas
        if owner in mapped
    ]
    return plan


def _dirtiest(analysis: Analysis) -> tuple[str, float] | None:
    """The table with the greatest share of findings (anomalies and orphans, a bound
    of its rows with rejects) and that share; None without findings."""
    found: dict[str, int] = {}
    for a in analysis.anomalies:
        found[a.table] = found.get(a.table, 0) + a.count
    for r in analysis.relations:
        found[r.table] = found.get(r.table, 0) + r.orphans
    shares = [(t, n / analysis.tables[t].rows) for t, n in found.items() if n and analysis.tables[t].rows]
    return max(shares, key=lambda s: s[1]) if shares else None


#: a column with more distinct values than this is not a vocabulary: no values proposed
VOCABULARY = 100


def monolith_words(analysis: Analysis, table: str, column: str) -> list[Any] | None:
    """The distinct text and integer values of a monolith column (None: more than
    :data:`VOCABULARY` of them)."""
    from isles.tools.split.analyse import open_readonly, q

    with open_readonly(analysis.path) as db:
        found = db.execute(
            f"SELECT DISTINCT {q(column)} FROM {q(table)} WHERE typeof({q(column)}) IN ('text', 'integer') "
            f"LIMIT {VOCABULARY + 1}"
        ).fetchall()
    return None if len(found) > VOCABULARY else [r[0] for r in found]


#: the prefixes of a word that says "not <word>" (inactive, not_active, unpaid, nonbillable)
_NOT = ("in", "not", "non", "un")


def _propose_flags(analysis: Analysis, tp: TablePlan, tt: TargetTable, notes: dict[str, str]) -> None:
    """A skipped monolith column of a few words beside a target flag (a Boolean ``is_X``
    or ``X``) the plan does not fill, where one of the words is X: the column fills the
    flag, X is true, "not X" (inactive, not_active) false, any other word TODO. A
    monolith's ``status`` of 'active'/'inactive' would otherwise be left behind and
    every row take the flag's default."""
    filled = set(tp.columns.values()) | {c for c, v in tp.defaults.items() if v != TODO}
    flags = {
        _letters(c.name.removeprefix("is_")): c.name
        for c in tt.columns.values()
        if c.type == "Boolean" and c.name not in filled and not c.primary_key
    }
    if not flags:
        return
    for src in list(tp.skip):
        words = monolith_words(analysis, tp.source, src)
        if not words or len(words) > 12 or not all(isinstance(w, str) for w in words):
            continue
        letters = {w: _letters(w) for w in words}
        found = next((flags[x] for x in letters.values() if x in flags), None)
        if found is None or found in tp.columns.values():
            continue
        yes = next(x for x in letters.values() if flags.get(x) == found)
        wanted: dict[str, Any] = {}
        for word, x in sorted(letters.items()):
            if x == yes:
                wanted[word] = True
            elif any(x == p + yes for p in _NOT):
                wanted[word] = False
            else:
                wanted[word] = TODO
        tp.skip.remove(src)
        tp.columns[src] = found
        tp.values[src] = wanted
        where = f"tables.{tp.source}"
        notes[f"{where}.columns.{src}"] = f"its words fill the flag {tt.full}.{found}"
        notes[f"{where}.values.{src}"] = f"{tt.full}.{found} is true or false: each word's"


def _propose_values(analysis: Analysis, tp: TablePlan, tt: TargetTable, notes: dict[str, str]) -> None:
    """For each mapped column whose target takes a fixed set of values, the monolith's
    values it would refuse, each with the target's value of the same letters or TODO."""
    for src, to in tp.columns.items():
        choices = tt.columns[to].choices
        if not choices or tt.columns[to].type in UUID_TYPES:
            continue
        words = monolith_words(analysis, tp.source, src)
        if not words:
            continue
        by_letters = {_letters(c): c for c in choices}
        wanted: dict[str, Any] = {}
        for word in sorted(words, key=str):
            if str(word) in choices:
                continue
            wanted[str(word)] = by_letters.get(_letters(str(word)), TODO)
        if wanted:
            tp.values[src] = wanted
            notes[f"tables.{tp.source}.values.{src}"] = f"{tt.full}.{to} takes only: {', '.join(choices)}"


def _one_id(table: Any) -> bool:
    """Whether a monolith table's rows have a one-column integer id (its primary key)."""
    if len(table.primary_key) != 1:
        return False
    col = table.column(table.primary_key[0])
    return col is not None and col.kind in ("integer", "numeric")


def _pick_column(col: Column, table: TargetTable, used: set[str]) -> str | None:
    # a reference's column named for what it names (the shop's user_id_ref for a user_id)
    for name in (col.name, *RENAMES.get(col.name, ()), f"{col.name}_ref"):
        if name in table.columns and name not in used:
            return name
    return None


def _column_note(analysis: Analysis, table: str, col: Column, to: TargetColumn) -> str:
    bits = []
    if col.kind in ("integer", "numeric") and to.type in UUID_TYPES:
        bits.append("int -> UUID")
    rel = analysis.relation(table, col.name)
    if rel is not None and rel.orphans:
        bits.append(f"{rel.orphans} orphan(s), rowids {_ids(rel.orphan_samples)}")
    for a in analysis.anomalies:
        if a.table == table and a.column == col.name:
            bits.append(f"{a.count} {ANOMALY_TEXT[a.kind]}, rowids {_ids(a.samples)}")
    return "; ".join(bits)


def _ids(ids: tuple[int, ...]) -> str:
    return ", ".join(map(str, sorted(ids)))


def _via(analysis: Analysis, table: str, column: str) -> dict[str, str] | None:
    """A target column the table lacks but a related monolith row has: ``company_id``
    through ``employee_id``, ``leave_type_name`` as the leave type's ``name``."""
    for rel in analysis.relations:
        if rel.table != table:
            continue
        other = analysis.tables[rel.target]
        if other.column(column) is not None:
            return {"via": rel.column, "column": column}
        stem = rel.column[: -len("_id")] if rel.column.endswith("_id") else rel.column
        if column.startswith(stem + "_") and other.column(column[len(stem) + 1 :]) is not None:
            return {"via": rel.column, "column": column[len(stem) + 1 :]}
    return None


def _source_of(plan: Plan, target: str) -> str:
    return next((t.source for t in plan.tables.values() if t.target == target), "")


def _relations(analysis: Analysis, plan: Plan, target: Target) -> list[dict[str, Any]]:
    found = []
    for rel in analysis.relations:
        src, dst = plan.tables.get(rel.table), plan.tables.get(rel.target)
        if src is None or dst is None or src.target in ("", TODO) or dst.target in ("", TODO):
            continue
        to_col = src.columns.get(rel.column)
        crosses = src.target.split(".")[0] != dst.target.split(".")[0]
        entry: dict[str, Any] = {
            "from": f"{rel.table}.{rel.column}",
            "to": f"{rel.target}.{rel.target_column}",
            "target": f"{src.target}.{to_col} -> {dst.target}" if to_col else f"{src.target}: (column not mapped)",
            "crosses_services": crosses,
            "declared": rel.declared,
            "overlap": rel.overlap,
            "orphans": rel.orphans,
        }
        if crosses:
            entry["becomes"] = "reference (no foreign key; the int ids become UUIDs)"
        found.append(entry)
    return found


# --- TOML out and in ----------------------------------------------------------------------

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE.match(k) else json.dumps(k, ensure_ascii=False)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_key(str(k))} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {v!r} in a plan")


def render_plan(plan: Plan) -> str:
    out: list[str] = []

    def put(where: str, key: str, value: Any) -> None:
        line = f"{_key(key)} = {_value(value)}"
        note = plan.notes.get(f"{where}.{key}")
        out.append(f"{line}  # {note}" if note else line)

    out += [
        f"# isles split plan: {plan.monolith} -> system {plan.system}",
        "# Edit by hand, then: isles split check --plan THIS_FILE MONOLITH",
        "# [tables.X.columns]: monolith column = target column; [tables.X.defaults]: target column =",
        '#   a constant, "TODO" (to decide), { via = "x_id", column = "c" } (the related row\'s c),',
        '#   { copy = "service.table" } (a denormalized copy kept from the owner\'s events),',
        '#   or, for the key of rows with no one-column id, { key = ["a_id", "b_id"] } or { key = "rowid" }.',
        '# [tables.X.values.C]: "monolith value" = "target value" (the target\'s word for the monolith\'s).',
        "# Integer ids become UUIDs (the same UUID wherever an id is referred to).",
        "",
        "[source]",
    ]
    put("source", "monolith", plan.monolith)
    put("source", "system", plan.system)
    out += ["", "[rejects]"]
    out.append(f"orphans = {_value(plan.orphans)}  # a row naming a missing row: skip | keep | null")
    out.append(f"bad_values = {_value(plan.bad_values)}  # a value that does not convert: skip (the row) | default")
    out.append(f"threshold = {_value(plan.threshold)}  # stop when a table rejects more than this share of its rows")
    if "rejects.threshold" in plan.notes:
        out.append(f"# {plan.notes['rejects.threshold']}")
    for tp in plan.tables.values():
        where = f"tables.{tp.source}"
        out += ["", f"[{where}]"]
        put(where, "target", tp.target)
        if tp.skip:
            put(where, "skip", tp.skip)
        if tp.columns:
            out.append(f"[{where}.columns]")
            for k, v in tp.columns.items():
                put(f"{where}.columns", k, v)
        if tp.defaults or any(k.startswith(f"{where}.defaults.") for k in plan.notes):
            out.append(f"[{where}.defaults]")
            for k, v in tp.defaults.items():
                put(f"{where}.defaults", k, v)
            prefix = f"{where}.defaults."
            for k, note in plan.notes.items():
                if k.startswith(prefix) and k[len(prefix) :] not in tp.defaults:
                    out.append(f"# {k[len(prefix) :]}: {note.strip('()')}")
        for column, words in tp.values.items():
            vw = f"{where}.values.{_key(column)}"
            said = plan.notes.get(f"{where}.values.{column}")
            out.append(f"[{vw}]" + (f"  # {said}" if said else ""))
            for k, v in words.items():
                put(vw, k, v)
        for part, decisions in (("orphans", tp.orphans), ("bad_values", tp.bad_values)):
            if decisions:
                out.append(f"[{where}.{part}]")
                for k, v in decisions.items():
                    put(f"{where}.{part}", k, v)
    for kind, entries in (("relations", plan.relations), ("replicas", plan.replicas)):
        for entry in entries:
            out += ["", f"[[{kind}]]"]
            out += [f"{_key(k)} = {_value(v)}" for k, v in entry.items()]
    return "\n".join(out) + "\n"


def write_plan(plan: Plan, path: str | Path) -> None:
    Path(path).write_text(render_plan(plan), encoding="utf-8")


_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_KEYLINE = re.compile(r'^\s*("(?:[^"\\]|\\.)*"|[A-Za-z0-9_-]+)\s*=')


def _line_index(text: str) -> dict[str, int]:
    lines: dict[str, int] = {}
    section = ""
    for n, line in enumerate(text.splitlines(), 1):
        if m := _HEADER.match(line):
            section = m.group(1).replace(" ", "")
            lines.setdefault(section, n)
        elif m := _KEYLINE.match(line):
            key = m.group(1)
            key = json.loads(key) if key.startswith('"') else key
            lines.setdefault(f"{section}.{key}", n)
    return lines


def read_plan(path: str | Path) -> Plan:
    """A plan file: a bad file is a :class:`SplitError` naming it (and the line)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SplitError(f"{path}: cannot read the plan: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SplitError(f"{path}: not a TOML plan: {exc}") from exc
    try:
        return _from_dict(data, _line_index(text))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SplitError(f"{path}: not a split plan: {exc}") from exc


def _from_dict(data: Mapping[str, Any], lines: dict[str, int]) -> Plan:
    source = data.get("source", {})
    rejects = data.get("rejects", {})
    plan = Plan(
        monolith=str(source.get("monolith", "")),
        system=str(source.get("system", "")),
        orphans=rejects.get("orphans", "skip"),
        bad_values=rejects.get("bad_values", "default"),
        threshold=rejects.get("threshold", 0.01),
        relations=list(data.get("relations", [])),
        replicas=list(data.get("replicas", [])),
        lines=lines,
    )
    tables = data.get("tables")
    if not isinstance(tables, Mapping) or not tables:
        raise ValueError("no [tables.NAME] sections")
    for name, t in tables.items():
        if not isinstance(t, Mapping):
            raise ValueError(f"tables.{name} is not a table")
        for part in ("columns", "defaults", "values", "orphans", "bad_values"):
            if not isinstance(t.get(part, {}), Mapping):
                raise ValueError(f"tables.{name}.{part} is not a table")
        for column, words in dict(t.get("values", {})).items():
            if not isinstance(words, Mapping):
                raise ValueError(f"tables.{name}.values.{column} is not a table of values")
        skip = t.get("skip", [])
        if not isinstance(skip, list) or not all(isinstance(c, str) for c in skip):
            raise ValueError(f"tables.{name}.skip is not a list of column names")
        plan.tables[name] = TablePlan(
            source=name,
            target=str(t.get("target", TODO)),
            columns={str(k): v for k, v in dict(t.get("columns", {})).items()},
            skip=list(t.get("skip", [])),
            defaults=dict(t.get("defaults", {})),
            values={str(c): {str(k): v for k, v in w.items()} for c, w in dict(t.get("values", {})).items()},
            orphans={str(k): str(v) for k, v in dict(t.get("orphans", {})).items()},
            bad_values={str(k): str(v) for k, v in dict(t.get("bad_values", {})).items()},
        )
    return plan


# --- checking --------------------------------------------------------------------------------


def _convertible(col: Column, to: TargetColumn) -> str | None:
    """Why a monolith column cannot fill a target column, or None."""
    kind, t = col.kind, to.type
    if t in UUID_TYPES:
        if kind in ("integer", "numeric"):
            if to.primary_key or to.reference or to.foreign_key:
                return None
            return "int -> UUID only for an id or a reference column"
        return f"{kind} -> UUID: only integer ids are rewritten to UUIDs"
    if t in INT_TYPES and kind not in ("integer", "numeric"):
        return f"{kind} -> {t}: values would have to be parsed"
    if t in NUM_TYPES and kind not in ("integer", "real", "numeric"):
        return f"{kind} -> {t}: values would have to be parsed"
    if t == "Boolean" and kind not in ("integer", "numeric"):
        return f"{kind} -> Boolean"
    if t in DATE_TYPES and kind not in ("date", "text"):
        return f"{kind} -> {t}"
    return None


def _names_the_wrong_table(
    plan: Plan, analysis: Analysis, target: Target, table: str, column: str, tt: TargetTable, to: str
) -> str | None:
    """Why ``table.column``'s ids would land in the wrong table: the target column is a
    foreign key or a reference to one table, and the monolith's relation (found by the
    analysis, or the plan's) names rows of a monolith table mapped onto another one (a
    category's ``parent_id`` taken for a user's id: its values overlap more)."""
    tc = tt.columns[to]
    if tc.type not in UUID_TYPES or tc.primary_key:
        return None
    if tc.foreign_key:
        wanted = f"{tt.service}.{tc.foreign_key.split('.')[0]}"
    elif tc.reference:
        wanted = tc.reference
    else:
        return None
    rel = analysis.relation(table, column)
    if rel is None:
        return None
    theirs = plan.tables.get(rel.target)
    mapped = theirs.target if theirs is not None else ""
    if mapped == wanted or mapped not in target.tables:  # left behind, TODO, or named wrong (said apart)
        return None
    return (
        f"{table}.{column} names rows of {rel.target} (mapped onto {mapped}), but {tt.full}.{to} refers to "
        f"{wanted}: give the relation in [[relations]] (from = {table + '.' + column!r}, to = the monolith "
        f"table of {wanted}'s id)"
    )


def _check_key(value: Any, to: TargetColumn, analysis: Analysis, table: str) -> str | None:
    """A ``{ key = [...] }`` / ``{ key = "rowid" }`` default: the row's own UUID."""
    if not to.primary_key or to.type not in UUID_TYPES:
        return "{ key = ... } fills only the target's primary key, a UUID"
    if value == "rowid":
        return None
    if not isinstance(value, list) or not value or not all(isinstance(c, str) for c in value):
        return '{ key = ... }: a list of the monolith columns that tell its rows apart, or "rowid"'
    missing = [c for c in value if analysis.tables[table].column(c) is None]
    if missing:
        return f"{{ key = ... }}: no column {missing[0]!r} in monolith table {table}"
    return None


def _check_default(value: Any, to: TargetColumn, analysis: Analysis, table: str) -> str | None:
    if isinstance(value, Mapping):
        if set(value) == {"key"}:
            return _check_key(value["key"], to, analysis, table)
        if set(value) == {"copy"}:
            if to.copy_of is None:
                return "{ copy = ... }: the target declares no copy in this column"
            if value["copy"] != to.copy_of:
                return f"{{ copy = ... }}: the column copies {to.copy_of}, not {value['copy']}"
            return None
        if set(value) == {"via", "column"}:
            rel = analysis.relation(table, str(value["via"]))
            if rel is None:
                return f"via {value['via']!r}: no relation of monolith table {table} in that column"
            if analysis.tables[rel.target].column(str(value["column"])) is None:
                return f"column {value['column']!r}: not in monolith table {rel.target}"
            return None
        return 'a default is a constant, "TODO", { via = ..., column = ... }, { copy = ... } or { key = [...] }'
    if value == TODO:
        return "still TODO: give a value, or map a monolith column to it"
    if to.type in INT_TYPES + NUM_TYPES and (isinstance(value, bool) or not isinstance(value, int | float)):
        return f"{value!r} is not a number ({to.type})"
    if to.type == "Boolean" and not isinstance(value, bool):
        return f"{value!r} is not true or false"
    return None


def _check_values(tp: TablePlan, tt: TargetTable, analysis: Analysis, problem: Callable[[str, str], None]) -> None:
    """The table's ``values``: each for a mapped column that is not an id, each target
    value one the column takes; and a column whose target takes a fixed set of values
    the monolith's values do not all belong to has its ``values`` (else the run would
    reject those rows)."""
    where = f"tables.{tp.source}"
    for src, words in tp.values.items():
        vw = f"{where}.values.{src}"
        to = tp.columns.get(src)
        if not isinstance(to, str) or to not in tt.columns:
            problem(vw, f"{src} is not a mapped column of {tp.source}: values are for the columns it maps")
            continue
        tc = tt.columns[to]
        if tc.type in UUID_TYPES:
            problem(vw, f"{tt.full}.{to} is an id: its values are rewritten to UUIDs, not mapped")
            continue
        for word, value in words.items():
            kw = f"{vw}.{word}"
            if value == TODO:
                problem(kw, f"still TODO: the value of {tt.full}.{to} for the monolith's {word!r}")
            elif not isinstance(value, str | int | float | bool) and not (
                tc.type == "StringList" and isinstance(value, list) and all(isinstance(v, str) for v in value)
            ):
                lists = ", or a list of strings (the column is a StringList)" if tc.type == "StringList" else ""
                problem(kw, f"{value!r}: a value is a string, a number or true/false{lists}")
            elif tc.choices is not None and str(value) not in tc.choices:
                problem(kw, f"{value!r} is not a value {tt.full}.{to} takes ({', '.join(tc.choices)})")
            elif why := _check_default(value, tc, analysis, tp.source):
                problem(kw, why)
    for src, to in tp.columns.items():
        if src in tp.values or not isinstance(to, str) or to not in tt.columns:
            continue
        tc = tt.columns[to]
        if not tc.choices or tc.type in UUID_TYPES or analysis.tables[tp.source].column(src) is None:
            continue
        found = monolith_words(analysis, tp.source, src)
        refused = sorted({str(w) for w in found or ()} - set(tc.choices))
        if refused:
            problem(
                f"{where}.columns.{src}",
                f"{tp.source}.{src} has values {tt.full}.{to} does not take ({', '.join(map(repr, refused[:5]))}; "
                f"it takes {', '.join(tc.choices)}): map them in [{where}.values.{src}], or skip the column",
            )


def _pin_relations(plan: Plan, analysis: Analysis, problem: Callable[..., None]) -> None:
    """The plan's ``[[relations]]`` hold, whatever the monolith's values show now: the
    analysis finds an undeclared relation by its values (most of them keys of the other
    table), and a monolith that deleted a row many others name (during the cut-over) or
    a column not named ``*_id`` hides it. Each relation of the plan the analysis did not
    find as it is written is added to it (its counts read again), in place of what the
    analysis found for that column; the run and verify follow it. An entry naming what
    is not there is a problem (bad input)."""
    from isles.tools.split.analyse import open_readonly, relation_of

    pinned: list[tuple[str, str, str, str]] = []
    for n, entry in enumerate(plan.relations):
        where = f"relations[{n}]"
        if not isinstance(entry, Mapping):
            problem(where, 'a relation is a table: from = "table.column", to = "table.id"', unknown=True)
            continue
        ends = []
        for side in ("from", "to"):
            text = entry.get(side)
            if not isinstance(text, str) or text.count(".") != 1:
                problem(f"{where}.{side}", f'{text!r}: "table.column" of the monolith', unknown=True)
                break
            table, column = text.split(".")
            if table not in analysis.tables or analysis.tables[table].column(column) is None:
                problem(f"{where}.{side}", f"no column {text!r} in the monolith", unknown=True)
                break
            ends.append((table, column))
        if len(ends) != 2:
            continue
        (table, column), (to, key) = ends
        if not _one_id(analysis.tables[to]) or analysis.tables[to].primary_key != (key,):
            problem(f"{where}.to", f"{to}.{key} is not {to}'s integer id: a relation names the rows by their id")
            continue
        found = analysis.relation(table, column)
        if found is None or (found.target, found.target_column) != (to, key):
            pinned.append((table, column, to, key))
    if not pinned:
        return
    with open_readonly(analysis.path) as db:
        for table, column, to, key in pinned:
            rel = relation_of(db, table, column, to, key)
            analysis.relations = [r for r in analysis.relations if (r.table, r.column) != (table, column)] + [rel]


def _check_replicas(plan: Plan, target: Target, problem: Callable[..., None]) -> None:
    """Each ``[[replicas]]`` entry names a copy table the target keeps (``table``), of
    the owner it copies (``source``), filled from a monolith table the plan maps to
    that owner (``from``)."""
    owners = dict(target.replicas)
    for n, entry in enumerate(plan.replicas):
        where = f"replicas[{n}]"
        if not isinstance(entry, Mapping):
            problem(where, 'a replica is a table: table = "service.copy", source = "service.table"', unknown=True)
            continue
        table, source, origin = entry.get("table"), entry.get("source"), entry.get("from")
        if table not in owners:
            known = ", ".join(sorted(owners)) or "none"
            problem(f"{where}.table", f"{table!r}: not a copy table of system {target.system} ({known})", unknown=True)
            continue
        if source != owners[table]:
            problem(f"{where}.source", f"{source!r}: {table} copies {owners[table]}")
            continue
        mapped = plan.tables.get(origin) if isinstance(origin, str) else None
        if mapped is None or mapped.target != source:
            problem(f"{where}.from", f"{origin!r}: no monolith table of the plan is mapped to {source} by that name")


def check_plan(plan: Plan, analysis: Analysis, target: Target | System) -> list[Problem]:
    """What is wrong with ``plan`` for this monolith and target (empty: nothing)."""
    if not isinstance(target, Target):
        target = target_of(target)
    problems: list[Problem] = []

    def problem(where: str, message: str, *, unknown: bool = False) -> None:
        line = plan.lines.get(where)
        if line is None and "." in where:
            line = plan.lines.get(where.rsplit(".", 1)[0])
        problems.append(Problem(where, message, line, unknown))

    _pin_relations(plan, analysis, problem)
    _check_replicas(plan, target, problem)
    if plan.system and plan.system != target.system:
        problem("source.system", f"the plan is for system {plan.system!r}, the target is {target.system!r}")
    if plan.orphans not in ORPHANS:
        problem("rejects.orphans", f"{plan.orphans!r}: one of {', '.join(ORPHANS)}")
    if plan.bad_values not in BAD_VALUES:
        problem("rejects.bad_values", f"{plan.bad_values!r}: one of {', '.join(BAD_VALUES)}")
    if isinstance(plan.threshold, bool) or not isinstance(plan.threshold, int | float) or not 0 <= plan.threshold <= 1:
        problem("rejects.threshold", f"{plan.threshold!r}: a share of rows, 0 to 1")
    for name in analysis.tables:
        if name not in plan.tables:
            problem(f"tables.{name}", f'monolith table {name} is not in the plan (map it, or target = "")')
    targets: dict[str, str] = {}
    for name, tp in plan.tables.items():
        where = f"tables.{name}"
        table = analysis.tables.get(name)
        if table is None:
            problem(where, f"no table {name!r} in the monolith", unknown=True)
            continue
        if tp.target == "":
            continue
        if tp.target == TODO:
            problem(f"{where}.target", 'still TODO: name the target ("service.table"), or "" to leave it')
            continue
        tt = target.tables.get(tp.target)
        if tt is None:
            problem(f"{where}.target", f"{tp.target!r}: no such service table in system {target.system}", unknown=True)
            continue
        if tp.target in targets:
            problem(f"{where}.target", f"{tp.target} is mapped twice (also from monolith table {targets[tp.target]})")
        targets[tp.target] = name
        if tp.target in target.projections:
            problem(
                f"{where}.target",
                f"{tp.target} is a projection of {target.projections[tp.target]}: a run would write its rows "
                "without the events they come from (the service loads an aggregate from its events, and a "
                'rebuild writes the rows again from them); target = "" to leave it (docs/split.md, Not done yet)',
            )
        covered: dict[str, str] = {}
        for src, to in tp.columns.items():
            cw = f"{where}.columns.{src}"
            col = table.column(src)
            if col is None:
                problem(cw, f"no column {src!r} in monolith table {name}", unknown=True)
            if not isinstance(to, str) or to not in tt.columns:
                problem(cw, f"{to!r}: no column of that name in {tp.target}", unknown=True)
                continue
            if to in covered:
                problem(cw, f"{tp.target}.{to} is mapped twice (also from {covered[to]})")
                continue
            covered[to] = src
            # a column with values: its words are the user's to convert ('A' -> true)
            if col is not None and src not in tp.values and (why := _convertible(col, tt.columns[to])):
                problem(cw, f"{name}.{src} ({col.declared_type or col.kind}) -> {tp.target}.{to}: {why}")
            if col is not None and (why := _names_the_wrong_table(plan, analysis, target, name, src, tt, to)):
                problem(cw, why)
            if col is not None and col.nulls and tt.columns[to].required and to not in tp.defaults:
                problem(
                    cw,
                    f"{col.nulls} NULL(s) in {name}.{src}, and {tp.target}.{to} is NOT NULL without a default: "
                    f"give one for them in [tables.{name}.defaults]",
                )
        for src in tp.skip:
            if table.column(src) is None:
                problem(f"{where}.skip", f"no column {src!r} in monolith table {name}", unknown=True)
            elif src in tp.columns:
                problem(f"{where}.skip", f"{src} is both skipped and mapped")
        for col in table.columns:
            if col.name not in tp.columns and col.name not in tp.skip:
                problem(f"{where}.columns", f"monolith column {name}.{col.name} is neither mapped nor in skip")
        _check_values(tp, tt, analysis, problem)
        for part, decisions, allowed in (("orphans", tp.orphans, ORPHANS), ("bad_values", tp.bad_values, BAD_VALUES)):
            for src, decision in decisions.items():
                pw = f"{where}.{part}.{src}"
                if table.column(src) is None:
                    problem(pw, f"no column {src!r} in monolith table {name}", unknown=True)
                elif src not in tp.columns:
                    problem(pw, f"{src} is not a mapped column of {name}: a decision is for the columns it maps")
                elif decision not in allowed:
                    problem(pw, f"{decision!r}: one of {', '.join(allowed)}")
        for to, value in tp.defaults.items():
            dw = f"{where}.defaults.{to}"
            if to not in tt.columns:
                problem(dw, f"no column {to!r} in {tp.target}", unknown=True)
            elif why := _check_default(value, tt.columns[to], analysis, name):
                problem(dw, why)
        for tc in tt.columns.values():
            needed = tc.required or (tc.primary_key and not tc.has_default)
            written = tc.name == "version" and tc.type in INT_TYPES  # the run writes 1 (docs/split.md)
            if needed and not written and tc.name not in covered and tc.name not in tp.defaults:
                problem(
                    f"{where}.defaults", f"{tp.target}.{tc.name} (NOT NULL, no default) is neither mapped nor defaulted"
                )
    return problems
