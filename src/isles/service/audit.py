"""``isles audit`` (issue 20): consistency across service databases, checked from the
services' declarations — references, replicas and denormalized columns — and the
health of the event pipeline, read from the kernel tables.

Databases cannot be joined across services, so every check streams rows ordered by
key, in chunks (keyset pagination: ``WHERE key > :last ORDER BY key LIMIT n``), and
merges the two sides in Python: memory stays bounded by the chunk size whatever the
tables hold.

* **orphaned references** — a reference column's distinct values, a chunk at a
  time, looked up in the owner's table by its primary key (an index lookup per
  chunk): values the owner does not have are orphans (``orphan``); where the
  reference declares ``live`` (the target's ``deleted_at`` or ``is_active``), a row
  the owner has but has deleted or deactivated too (``inactive``).
* **copies** (:class:`isles.ReplicaTable`) — the copy's ``(key, version)`` and the
  owner's ``(key, version)`` merged in key order: a copy behind the owner's version
  is *stale*, a row the owner has and the copy lacks is *missing*, a copy of a row
  the owner no longer has is *extra*. Owner rows at version 0 have had no event, so
  no copy can know them yet (a row being created by a saga): they are not missing.
* **denormalized columns** (:class:`isles.DenormalizedColumns`) — per key, the
  oldest version held, against the owner's: behind is *stale*.
* **in flight** — a change being propagated is not a finding: every stale or
  missing copy is looked at again after ``settle`` seconds, and reported only if
  the copy has still not reached the version the owner had at the first look.

The pipeline part reads each service's kernel tables: the outbox backlog and its
oldest unpublished row, dead letters by event type (count and oldest), and sagas
failed or compensated in the window.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, Literal

from sqlalchemy import Boolean, String, Table, Uuid, and_, cast, func, select, text, true, tuple_
from sqlalchemy import inspect as sa_inspect

from isles.core.clock import utcnow
from isles.core.references import Orphans
from isles.messaging.archive import EventArchive
from isles.messaging.replicas import DenormalizedColumns, ReplicaTable
from isles.service.declaration import System
from isles.service.orphans import fix_orphans
from isles.service.resend import resend
from isles.storage.db import ServiceDatabase
from isles.storage.schema import dead_letters_table, inbox_table, outbox_table, sagas_table
from isles.storage.tenancy import ACROSS_TENANTS

FindingKind = Literal["orphan", "inactive", "stale", "ahead", "differs", "missing", "extra"]
CheckKind = Literal["reference", "copy", "denormalized", "archive"]
CHUNK = 5_000
SAMPLES = 20


@dataclass(frozen=True)
class Finding:
    """One inconsistency: ``key`` is the id at fault (the referenced id of an orphan,
    the copied row's key otherwise); versions where they tell."""

    kind: FindingKind
    key: str
    held: int | None = None  # the copy's version
    owner: int | None = None  # the owner's version
    detail: str = ""  # what is wrong beyond the kind ("deleted", "name: 'A' != 'B'")


@dataclass
class CheckReport:
    """One declaration checked: how many keys were looked at, what was found (a count
    per kind, and the first ``samples`` findings)."""

    service: str
    kind: CheckKind
    name: str  # "project.assignments.employee_id -> employee.employees"
    checked: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    samples: list[Finding] = field(default_factory=list)
    skipped: str = ""  # why it was not checked (the owner is not in this system)
    note: str = ""  # what was not checked of it (values, when they could not be compared)
    source: str = ""  # a copy's owner table ("service.table")
    #: A copy's stale and missing keys, all of them (what a repair re-sends); a
    #: reference's orphaned ids (what a repair nullifies or marks, by its policy).
    repairable: list[str] = field(default_factory=list, repr=False)
    #: A copy's keys ahead of their owner's rows, with the copy's version (what a
    #: repair brings the owner's version up to).
    ahead: dict[str, int] = field(default_factory=dict, repr=False)
    policy: str = ""  # a reference's orphan policy ("report", "nullify", "mark <column>")

    @property
    def findings(self) -> int:
        return sum(self.counts.values())


@dataclass
class PipelineReport:
    """A service's event pipeline as its kernel tables show it."""

    service: str
    outbox_backlog: int = 0
    oldest_unpublished_seconds: float = 0.0
    dead_letters: dict[str, int] = field(default_factory=dict)  # event type -> count
    oldest_dead_letter_seconds: float = 0.0
    dead_letter_ages: dict[str, float] = field(default_factory=dict)  # event type -> its oldest's age (s)
    sagas_failed: int = 0
    sagas_compensated: int = 0
    #: In the window: events this service's consumer took (applied or parked), and
    #: parked (failed for good: a dead letter first failed in the window).
    consumed_in_window: int = 0
    failed_in_window: int = 0
    #: Consumer lag from the kernel tables: per publishing service, its events of the
    #: types this service handles, published in the window (the newest ``LAG_EVENTS``
    #: of them), that are in none of this service's inbox rows yet; and the age of the
    #: oldest of them.
    consumer_lag: dict[str, int] = field(default_factory=dict)
    consumer_lag_seconds: float = 0.0

    @property
    def failure_rate(self) -> float:
        """Parked / taken, in the window (0 when nothing was taken)."""
        return self.failed_in_window / self.consumed_in_window if self.consumed_in_window else 0.0

    @property
    def findings(self) -> int:
        return sum(self.dead_letters.values()) + self.sagas_failed


@dataclass
class AuditReport:
    system: str
    checks: list[CheckReport]
    pipeline: list[PipelineReport]
    seconds: float = 0.0
    #: service -> the database role its data was read as (empty on SQLite).
    read_as: dict[str, str] = field(default_factory=dict)

    @property
    def findings(self) -> int:
        return sum(c.findings for c in self.checks) + sum(p.findings for p in self.pipeline)

    def to_json(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "findings": self.findings,
            "seconds": round(self.seconds, 3),
            "read_as": self.read_as,
            "checks": [
                {**{k: v for k, v in asdict(c).items() if k != "repairable"}, "findings": c.findings}
                for c in self.checks
            ],
            "pipeline": [
                {**asdict(p), "failure_rate": round(p.failure_rate, 6), "findings": p.findings} for p in self.pipeline
            ],
        }


def _add(report: CheckReport, finding: Finding, samples: int) -> None:
    report.counts[finding.kind] = report.counts.get(finding.kind, 0) + 1
    if len(report.samples) < samples:
        report.samples.append(finding)


def _key(value: Any) -> Any:
    """A key comparable across backends (a UUID read from SQLite or PostgreSQL alike)."""
    return _maybe_uuid(value) if isinstance(value, str) else value


def _maybe_uuid(value: str) -> Any:
    try:
        return uuid.UUID(value)
    except ValueError:
        return value


async def _chunks(
    db: ServiceDatabase,
    table: Table,
    key: str,
    columns: Sequence[str],
    chunk: int,
    *,
    distinct_keys: bool = False,
    where: Any = None,
) -> AsyncIterator[list[Any]]:
    """``table``'s rows (``key`` then ``columns``; those ``where`` selects), ordered by
    ``key``, ``chunk`` at a time (keyset pagination; with ``distinct_keys``, each key
    once with the smallest of ``columns``' values)."""
    k = table.c[key]
    last: Any = None
    while True:
        if distinct_keys and columns:
            q = select(k, *(func.min(table.c[c]) for c in columns)).where(k.is_not(None)).group_by(k)
        elif distinct_keys:
            q = select(k).distinct().where(k.is_not(None))
        else:
            q = select(k, *(table.c[c] for c in columns))
        if where is not None:
            q = q.where(where)
        if last is not None:
            q = q.where(k > last)
        q = q.order_by(k).limit(chunk)
        async with db.read_session(tenant=ACROSS_TENANTS) as session:
            rows = list((await session.execute(q)).all())
        if not rows:
            return
        yield rows
        if len(rows) < chunk:
            return
        last = rows[-1][0]


async def _stream(
    db: ServiceDatabase,
    table: Table,
    key: str,
    columns: Sequence[str],
    chunk: int,
    *,
    distinct_keys: bool = False,
) -> AsyncIterator[tuple[Any, ...]]:
    async for rows in _chunks(db, table, key, columns, chunk, distinct_keys=distinct_keys):
        for row in rows:
            yield (_key(row[0]), *row[1:])


#: Hex digits of a UUID key that name its bucket: 16**4 = 65,536 buckets.
BUCKET_DIGITS = 4


async def _buckets(db: ServiceDatabase, table: Table, key: str, version: str) -> dict[str, tuple[int, int]]:
    """PostgreSQL: per bucket of keys (their first hex digits), the row count and a sum
    of hashes of (key, version), computed by the server in one scan: two databases
    agree on a bucket only if they hold the same keys at the same versions (to a
    60-bit hash's chance)."""
    k, v = f'"{key}"', f'"{version}"'
    sql = (
        f"SELECT substr({k}::text, 1, {BUCKET_DIGITS}) AS b, count(*),"
        f" sum(('x' || substr(md5({k}::text || ':' || coalesce({v}, -1)::text), 1, 15))::bit(60)::bigint)"
        f' FROM "{table.name}" GROUP BY 1'
    )
    async with db.read_session(tenant=ACROSS_TENANTS) as session:
        rows = (await session.execute(text(sql))).all()
    return {str(b): (int(n), int(h)) for b, n, h in rows}


#: Differing buckets whose rows one query reads.
BUCKETS_PER_QUERY = 4096


async def _in_buckets(
    db: ServiceDatabase, table: Table, key: str, columns: Sequence[str], buckets: Sequence[str]
) -> AsyncIterator[tuple[Any, ...]]:
    k = table.c[key]
    q = (
        select(k, *(table.c[c] for c in columns))
        .where(func.substr(cast(k, String), 1, BUCKET_DIGITS).in_(buckets))
        .order_by(k)
    )
    async with db.read_session(tenant=ACROSS_TENANTS) as session:
        rows = (await session.execute(q)).all()
    for row in rows:
        yield (_key(row[0]), *row[1:])


async def _bucketed(
    copy_db: ServiceDatabase,
    copy: Table,
    copy_key: str,
    copy_version: str,
    owner_db: ServiceDatabase,
    owner: Table,
    owner_key: str,
    owner_columns: Sequence[str],
) -> tuple[int, AsyncIterator[tuple[Any, tuple[Any, ...] | None, tuple[Any, ...] | None]]]:
    """Both sides' buckets compared on the servers; only the rows of buckets that
    differ are read and merged. Returns the rows the buckets hold and the merge."""
    theirs, ours = await asyncio.gather(
        _buckets(owner_db, owner, owner_key, owner_columns[0]), _buckets(copy_db, copy, copy_key, copy_version)
    )
    rows = sum(n for n, _h in theirs.values()) + sum(n for b, (n, _h) in ours.items() if b not in theirs)
    differ = sorted(b for b in set(theirs) | set(ours) if theirs.get(b) != ours.get(b))

    async def merged() -> AsyncIterator[tuple[Any, tuple[Any, ...] | None, tuple[Any, ...] | None]]:
        # The differing buckets' rows, many buckets a query (a scan filtered on the
        # server beats a round trip per bucket), in key order.
        for i in range(0, len(differ), BUCKETS_PER_QUERY):
            group = differ[i : i + BUCKETS_PER_QUERY]
            copy_rows = _in_buckets(copy_db, copy, copy_key, [copy_version], group)
            owner_rows = _in_buckets(owner_db, owner, owner_key, owner_columns, group)
            async for item in _merge(copy_rows, owner_rows):
                yield item

    return rows, merged()


def _owner(system: System, target: str) -> tuple[str, str] | None:
    service, _dot, table = target.partition(".")
    for s in system.services:
        if s.name == service and table in s.metadata.tables:
            return service, table
    return None


async def check_reference(
    dbs: Mapping[str, ServiceDatabase],
    system: System,
    service: str,
    table: str,
    column: str,
    target: str,
    *,
    chunk: int = CHUNK,
    samples: int = SAMPLES,
    live: str | None = None,
    policy: Orphans | None = None,
) -> CheckReport:
    """Values of ``service.table.column`` that ``target``'s owner does not have (or,
    with ``live``, has deleted or deactivated)."""
    report = CheckReport(service, "reference", f"{service}.{table}.{column} -> {target}")
    report.policy = str(policy or Orphans())
    owner = _owner(system, target)
    if owner is None:
        report.skipped = f"{target} is not a table of a service of this system"
        return report
    owner_service, owner_table = owner
    if owner_service not in dbs:
        report.skipped = f"{owner_service}'s database is not open here"
        return report
    source = _metadata_table(system, service, table)
    target_table = _metadata_table(system, owner_service, owner_table)
    (pk,) = target_table.primary_key.columns
    alive = target_table.c.get(live) if live else None
    if live and alive is None:
        report.skipped = f"the reference declares live={live!r}, a column {target} does not have"
        return report
    # Rows a repair has marked (policy "mark") are known orphans, no longer findings.
    where = None
    if policy is not None and policy.column is not None:
        marked = source.c[policy.column]
        where = marked.is_not(true()) if isinstance(marked.type, Boolean) else marked.is_(None)
    async for values in _chunks(dbs[service], source, column, (), chunk, distinct_keys=True, where=where):
        keys = [row[0] for row in values]
        report.checked += len(keys)
        async with dbs[owner_service].read_session(tenant=ACROSS_TENANTS) as session:
            if alive is None:
                found = {_key(v): None for v in (await session.scalars(select(pk).where(pk.in_(keys)))).all()}
            else:
                rows = (await session.execute(select(pk, alive).where(pk.in_(keys)))).all()
                found = {_key(k): state for k, state in rows}
        for value in keys:
            k = _key(value)
            if k not in found:
                _add(report, Finding("orphan", str(value)), samples)
                report.repairable.append(str(value))
            elif alive is not None and (gone := _gone(found[k])):
                _add(report, Finding("inactive", str(value), detail=gone), samples)
                report.repairable.append(str(value))
    return report


def _gone(state: Any) -> str:
    """What a target's liveness column says: "" alive, else how it went."""
    if isinstance(state, bool):
        return "" if state else "deactivated"
    return "" if state is None else "deleted"


def _metadata_table(system: System, service: str, table: str) -> Table:
    for s in system.services:
        if s.name == service:
            return s.metadata.tables[table]
    raise KeyError(f"no service {service}")


async def _merge(
    copy: AsyncIterator[tuple[Any, ...]], owner: AsyncIterator[tuple[Any, ...]]
) -> AsyncIterator[tuple[Any, tuple[Any, ...] | None, tuple[Any, ...] | None]]:
    """Two key-ordered streams merged: (key, copy row or None, owner row or None)."""
    a = await anext(copy, None)
    b = await anext(owner, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a[0] < b[0]):
            assert a is not None
            yield a[0], a, None
            a = await anext(copy, None)
        elif a is None or b[0] < a[0]:
            yield b[0], None, b
            b = await anext(owner, None)
        else:
            yield a[0], a, b
            a, b = await anext(copy, None), await anext(owner, None)


async def check_copy(
    dbs: Mapping[str, ServiceDatabase],
    system: System,
    service: str,
    replica: ReplicaTable | DenormalizedColumns,
    *,
    chunk: int = CHUNK,
    samples: int = SAMPLES,
    settle: float = 0.0,
    values: bool = False,
    values_slice: tuple[int, int] | None = None,
    progress: Callable[[str], None] | None = None,
    later: list[Later] | None = None,
) -> CheckReport:
    """A copy against its owner: stale, missing and extra rows (a ReplicaTable), or
    stale keys (DenormalizedColumns), confirmed after ``settle`` seconds; with
    ``values``, rows at the owner's version whose values differ from it too — of
    every row, or, with ``values_slice`` ``(i, n)``, of the UUID keys in the i-th of
    n equal slices of the key space (the versions of every row still). With
    ``later``, the second look is not waited for here: it is added to ``later`` (see
    :func:`settle_later`), and the report is whole once it has run."""
    denormalized = isinstance(replica, DenormalizedColumns)
    table = replica.table
    report = CheckReport(service, "denormalized" if denormalized else "copy", copy_name(service, replica))
    owner = _owner(system, replica.source)
    if owner is None:
        report.skipped = f"{replica.source} is not a table of a service of this system"
        return report
    owner_service, owner_table_name = owner
    if owner_service not in dbs:
        report.skipped = f"{owner_service}'s database is not open here"
        return report
    owner_table = _metadata_table(system, owner_service, owner_table_name)
    (pk,) = owner_table.primary_key.columns
    owner_version = "version" if "version" in owner_table.c else None
    # A soft-deleted owner row need not be copied (its copy may have been dropped).
    soft = "deleted_at" if "deleted_at" in owner_table.c else None
    key = replica.key_column
    owner_columns = [c for c in (owner_version or "", soft or "") if c]
    soft_at = len(owner_columns) if soft else 0  # its place in an owner row (after the key)
    complete = isinstance(replica, ReplicaTable) and replica.complete
    copy_db, owner_db = dbs[service], dbs[owner_service]
    plan = _value_plan(system, service, replica, owner_service, owner_table_name) if values else None
    if isinstance(plan, str):
        report.note = f"values not compared: {plan}"
        plan = None
    sliced = plan if values_slice is not None and isinstance(table.c[key].type, Uuid) else None
    if sliced is not None:
        plan = None  # the versions as usual; the values of one slice, after
    bucketed = (
        plan is None
        and complete
        and owner_version is not None
        and copy_db.dialect == owner_db.dialect == "postgresql"
        and isinstance(pk.type, Uuid)
        and isinstance(table.c[key].type, Uuid)
    )
    pairs: AsyncIterator[tuple[Any, tuple[Any, ...] | None, tuple[Any, ...] | None]]
    if bucketed:
        rows, pairs = await _bucketed(
            copy_db, table, key, replica.version_column, owner_db, owner_table, pk.name, owner_columns
        )
        report.checked = rows
    elif plan is not None:
        # Every row's values: the copy's rows with their columns, grouped by key, and
        # the owner's rows as its model's objects (what its Resend makes events of).
        copy_rows = _grouped(_rows(copy_db, table, key, [replica.version_column, *replica.columns], chunk))
        pairs = _merge(copy_rows, _objects(owner_db, plan.model, owner_columns, chunk))
    else:
        copy_rows = _stream(copy_db, table, key, [replica.version_column], chunk, distinct_keys=denormalized)
        pairs = _merge(copy_rows, _stream(owner_db, owner_table, pk.name, owner_columns, chunk))
    suspects: list[Finding] = []
    ahead: list[Finding] = []
    async for k, held, has in pairs:
        if not bucketed:
            report.checked += 1
        owner_at = int(has[1]) if has is not None and owner_version else None
        if has is not None and soft and has[soft_at] is not None:
            continue  # deleted by its owner: a copy may keep it or not
        if held is None:
            # Denormalized columns copy rows that refer to the owner's; an incomplete copy
            # only some; an owner row at version 0 was never published.
            if denormalized or not complete or owner_at == 0:
                continue
            suspects.append(Finding("missing", str(k), None, owner_at))
        elif has is None:
            if not denormalized:  # an orphaned denormalized key is the reference check's
                _add(report, Finding("extra", str(k), int(held[1])), samples)
        elif (complete or denormalized) and owner_at is not None and int(held[1]) < owner_at:
            suspects.append(Finding("stale", str(k), int(held[1]), owner_at))
        elif (complete or denormalized) and owner_at is not None and int(held[1]) > owner_at:
            # Newer than its owner: the owner lost changes its copies had taken (a
            # restore to an earlier point); its next events would be ignored here.
            ahead.append(Finding("ahead", str(k), int(held[1]), owner_at, "the owner's row is older than its copy"))
        elif plan is not None and owner_at is not None:
            differs = plan.compare(has[-1], owner_at, held[2])
            if differs:
                _add(report, Finding("differs", str(k), owner_at, owner_at, differs), samples)
                report.repairable.append(str(k))

    async def confirm(look_again: bool) -> None:
        nonlocal suspects, ahead
        if look_again:
            suspects = await _still_behind(dbs[service], table, key, replica.version_column, suspects, denormalized)
            if ahead and owner_version is not None:
                # The owner was read before the copy: a change of both in between is no finding.
                ahead = await _still_ahead(owner_db, owner_table, pk.name, owner_version, ahead)
        for finding in suspects:
            _add(report, finding, samples)
            report.repairable.append(finding.key)
        for finding in ahead:
            _add(report, finding, samples)
            report.repairable.append(finding.key)
            report.ahead[finding.key] = int(finding.held or 0)

    first = ", ".join(f"{n} {what}" for n, what in ((len(suspects), "behind"), (len(ahead), "ahead")) if n)
    await _confirm(confirm, settle, later, progress, f"{report.name}: {first} on the first look" if first else None)
    if sliced is not None and values_slice is not None and owner_version is not None:
        where = _slice(values_slice)
        copy_rows = _grouped(
            _rows(copy_db, table, key, [replica.version_column, *replica.columns], chunk, where(table.c[key]))
        )
        owners = _objects(owner_db, sliced.model, owner_columns, chunk, where)
        async for k, held, has in _merge(copy_rows, owners):
            if held is None or has is None or (soft and has[soft_at] is not None):
                continue
            differs = sliced.compare(has[-1], int(has[1]), held[2])
            if differs:
                _add(report, Finding("differs", str(k), int(has[1]), int(has[1]), differs), samples)
                report.repairable.append(str(k))
        i, n = values_slice
        report.note = f"values compared in slice {i + 1} of {n} of the keys"
    report.source = replica.source
    return report


def _slice(values_slice: tuple[int, int]) -> Any:
    """A function of a UUID key column: the condition that its value is in the i-th of
    n equal slices of the key space."""
    i, n = values_slice
    if not 0 <= i < n:
        raise ValueError(f"values slice {i} of {n}")
    space = 1 << 128  # every UUID
    lo = uuid.UUID(int=i * space // n)
    hi = uuid.UUID(int=(i + 1) * space // n) if i + 1 < n else None

    def where(column: Any) -> Any:
        return and_(column >= lo, column < hi) if hi is not None else column >= lo

    return where


def copy_name(service: str, replica: ReplicaTable | DenormalizedColumns) -> str:
    """A copy check's name, as reports show it and ``only`` matches it:
    ``project.employee_copies <- employee.employees``, ``project.assignments
    {employee_name, employee_active} <- employee.employees``, ``project.company_policies
    (some rows) <- company.companies`` (a copy of only some of the owner's rows)."""
    name = f"{service}.{replica.table.name}"
    if isinstance(replica, DenormalizedColumns):
        name += f" {{{', '.join(replica.columns)}}}"
    elif not replica.complete:
        name += " (some rows)"
    return f"{name} <- {replica.source}"


@dataclass(frozen=True)
class _ValuePlan:
    """How a copy's values are checked: the owner's rows (``model``) made into the
    events its :class:`isles.Resend` publishes, projected as the copy's declaration
    projects them."""

    model: type[Any]
    event: Any  # the Resend's row -> Event
    projects: Mapping[type, Any]  # event class -> the copy's projection
    columns: tuple[str, ...]

    def compare(self, obj: Any, version: int, rows: Sequence[tuple[Any, ...]]) -> str:
        """ "" when every copy row at ``version`` holds what the owner's row says, else
        the first difference ("column: copy 'x', owner 'y'")."""
        event = self.event(obj)
        project = self.projects.get(type(event))
        if project is None:
            return ""
        expected = project(event)
        for row in rows:
            if row[0] is None or int(row[0]) != version:
                continue  # another version: the version check's business
            for column, held in zip(self.columns, row[1:], strict=True):
                if not _same(held, expected[column]):
                    return f"{column}: copy {held!r}, owner {expected[column]!r}"
        return ""


def _value_plan(
    system: System, service: str, replica: ReplicaTable | DenormalizedColumns, owner_service: str, owner_table: str
) -> _ValuePlan | str:
    """The plan to compare a copy's values, or why there is none."""
    owner = next(s for s in system.services if s.name == owner_service)
    declaration = next((r for r in owner.resend if r.table == owner_table), None)
    if declaration is None:
        return f"{owner_service} declares no Resend for {owner_table}"
    keeper = next(s for s in system.services if s.name == service)
    projects: dict[type, Any] = {}
    for r in keeper.replicas:
        if r.table is replica.table and r.source == replica.source and set(r.columns) == set(replica.columns):
            for event in r.events:
                projects.setdefault(event, r.project)
    return _ValuePlan(declaration.model, declaration.event, projects, tuple(replica.columns))


def _norm(value: Any) -> Any:
    """A value comparable however it was read or made (an event's field, a column)."""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value)).normalize()
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return tuple(_norm(v) for v in value)
    return value


def _same(a: Any, b: Any) -> bool:
    if a == b:
        return True
    x, y = _norm(a), _norm(b)
    return bool(x == y or str(x) == str(y))


async def _rows(
    db: ServiceDatabase, table: Table, key: str, columns: Sequence[str], chunk: int, where: Any = None
) -> AsyncIterator[tuple[Any, ...]]:
    """Every row of ``table`` (``key`` then ``columns``), in key order — several rows
    of one key too (keyset on the key and the primary key)."""
    k = table.c[key]
    pk = list(table.primary_key.columns)
    order = [k, *(c for c in pk if c is not k)]
    last: tuple[Any, ...] | None = None
    while True:
        q = select(*order, *(table.c[c] for c in columns)).where(k.is_not(None))
        if where is not None:
            q = q.where(where)
        if last is not None:
            q = q.where(tuple_(*order) > tuple_(*last))
        q = q.order_by(*order).limit(chunk)
        async with db.read_session(tenant=ACROSS_TENANTS) as session:
            rows = list((await session.execute(q)).all())
        for row in rows:
            yield (_key(row[0]), *row[len(order) :])
        if len(rows) < chunk:
            return
        last = tuple(rows[-1][: len(order)])


async def _grouped(rows: AsyncIterator[tuple[Any, ...]]) -> AsyncIterator[tuple[Any, ...]]:
    """Rows (key, version, values...) in key order as one item per key: (key, the
    smallest version, [(version, values...) ...])."""
    key: Any = None
    group: list[tuple[Any, ...]] = []
    async for row in rows:
        if group and row[0] != key:
            yield (key, min(int(r[0] or 0) for r in group), group)
            group = []
        key = row[0]
        group.append(row[1:])
    if group:
        yield (key, min(int(r[0] or 0) for r in group), group)


async def _objects(
    db: ServiceDatabase, model: type[Any], columns: Sequence[str], chunk: int, where: Any = None
) -> AsyncIterator[tuple[Any, ...]]:
    """The owner's rows as objects of ``model``, in key order: (key, ``columns``'
    values..., the object); ``where``: a function of the key column, the condition.

    The rows are read as plain rows (the columns' types still apply: an encrypted
    column comes decrypted) and made into detached objects of the model by hand:
    about twice as fast as the session's loading, which keeps an identity map this
    read-only pass has no use for. Their column attributes, properties and methods
    work; a relationship does not (it would need a session)."""
    mapper = sa_inspect(model)
    (pk,) = mapper.primary_key
    table = mapper.local_table
    attrs = [(c, a.key) for a in mapper.column_attrs for c in a.columns if c.table is table]
    at = {c.name: i for i, (c, _a) in enumerate(attrs)}
    keys = [a for _c, a in attrs]
    new = mapper.class_manager.new_instance
    last: Any = None
    while True:
        q = select(*(c for c, _a in attrs)).order_by(pk).limit(chunk)
        if where is not None:
            q = q.where(where(pk))
        if last is not None:
            q = q.where(pk > last)
        async with db.read_session(tenant=ACROSS_TENANTS) as session:
            rows = (await session.execute(q)).all()
        for row in rows:
            obj = new()
            obj.__dict__.update(zip(keys, row, strict=True))
            yield (_key(row[at[pk.name]]), *(row[at[c]] for c in columns), obj)
        if len(rows) < chunk:
            return
        last = rows[-1][at[pk.name]]


async def _still_ahead(
    db: ServiceDatabase, table: Table, key: str, version: str, suspects: list[Finding]
) -> list[Finding]:
    """Of ``suspects`` (copies ahead of their owner's row), those whose owner's row is
    still older than the copy held at the first look."""
    k, v = table.c[key], table.c[version]
    now: dict[Any, int] = {}
    for i in range(0, len(suspects), CHUNK):
        keys = [_maybe_uuid(f.key) for f in suspects[i : i + CHUNK]]
        async with db.read_session(tenant=ACROSS_TENANTS) as session:
            rows = (await session.execute(select(k, v).where(k.in_(keys)))).all()
        now.update({_key(row[0]): int(row[1]) for row in rows})
    left = []
    for f in suspects:
        owner = now.get(_maybe_uuid(f.key))
        if owner is not None and f.held is not None and owner < f.held:
            left.append(Finding("ahead", f.key, f.held, owner, f.detail))
    return left


async def _still_behind(
    db: ServiceDatabase, table: Table, key: str, version: str, suspects: list[Finding], denormalized: bool
) -> list[Finding]:
    """Of ``suspects``, those whose copy has still not reached the owner's version of
    the first look (a change in flight then has landed since)."""
    k, v = table.c[key], table.c[version]
    held: dict[Any, int] = {}
    for i in range(0, len(suspects), CHUNK):
        keys = [_maybe_uuid(f.key) for f in suspects[i : i + CHUNK]]
        q = select(k, func.min(v)).where(k.in_(keys)).group_by(k)
        async with db.read_session(tenant=ACROSS_TENANTS) as session:
            held.update({_key(row[0]): int(row[1]) for row in (await session.execute(q)).all()})
    left = []
    for f in suspects:
        now = held.get(_maybe_uuid(f.key))
        if now is None or (f.owner is not None and now < f.owner):
            left.append(Finding(f.kind if now is None else "stale", f.key, now, f.owner))
    return left


async def check_pipeline(db: ServiceDatabase, service: str, window: timedelta) -> PipelineReport:
    report = PipelineReport(service)
    now = utcnow()
    o, d, s = outbox_table, dead_letters_table, sagas_table
    async with db.read_session(tenant=ACROSS_TENANTS) as session:
        backlog, oldest = (
            await session.execute(select(func.count(), func.min(o.c.created_at)).where(o.c.published_at.is_(None)))
        ).one()
        report.outbox_backlog = int(backlog or 0)
        report.oldest_unpublished_seconds = (now - oldest).total_seconds() if oldest is not None else 0.0
        rows = (
            await session.execute(
                select(d.c.event_type, func.count(), func.min(d.c.first_failed_at)).group_by(d.c.event_type)
            )
        ).all()
        report.dead_letters = {str(t): int(n) for t, n, _f in rows}
        report.dead_letter_ages = {str(t): round((now - first).total_seconds(), 3) for t, _n, first in rows}
        report.oldest_dead_letter_seconds = max(report.dead_letter_ages.values(), default=0.0)
        since = now - window
        counts = (
            await session.execute(
                select(s.c.status, func.count())
                .where(and_(s.c.status.in_(("failed", "compensated")), s.c.updated_at >= since))
                .group_by(s.c.status)
            )
        ).all()
        by_status = {str(st): int(n) for st, n in counts}
        report.sagas_failed = by_status.get("failed", 0)
        report.sagas_compensated = by_status.get("compensated", 0)
        i = inbox_table
        report.consumed_in_window = int(
            await session.scalar(select(func.count()).select_from(i).where(i.c.processed_at >= since)) or 0
        )
        report.failed_in_window = int(
            await session.scalar(select(func.count()).select_from(d).where(d.c.first_failed_at >= since)) or 0
        )
    return report


#: The newest events per (publisher, consumer) the consumer-lag check looks at.
LAG_EVENTS = 10_000


async def check_lag(
    system: System, dbs: Mapping[str, ServiceDatabase], report: PipelineReport, window: timedelta
) -> None:
    """Fill ``report``'s consumer lag: the events its service handles that their
    publishers (whose databases are open here) published in the window and that its
    inbox does not hold yet (neither applied nor parked). The newest ``LAG_EVENTS`` a
    publisher published are looked at, their ids checked in the inbox a chunk at a time."""
    consumer = next(s for s in system.services if s.name == report.service)
    handled = sorted({h.event.event_type for h in consumer.all_handlers()})
    if not handled:
        return
    now = utcnow()
    since = now - window
    o, i = outbox_table, inbox_table
    oldest: Any = None
    for publisher, db in dbs.items():
        q = (
            select(o.c.event_id, o.c.published_at)
            .where(o.c.event_type.in_(handled), o.c.published_at.is_not(None), o.c.published_at >= since)
            .order_by(o.c.id.desc())
            .limit(LAG_EVENTS)
        )
        async with db.read_session(tenant=ACROSS_TENANTS) as session:
            sent = (await session.execute(q)).all()
        if not sent:
            continue
        pending = 0
        for start in range(0, len(sent), CHUNK):
            part = sent[start : start + CHUNK]
            async with dbs[report.service].read_session(tenant=ACROSS_TENANTS) as session:
                have = set(
                    (await session.scalars(select(i.c.event_id).where(i.c.event_id.in_([e for e, _t in part])))).all()
                )
            for event_id, published_at in part:
                if event_id not in have:
                    pending += 1
                    oldest = published_at if oldest is None or published_at < oldest else oldest
        if pending:
            report.consumer_lag[publisher] = pending
    report.consumer_lag_seconds = (now - oldest).total_seconds() if oldest is not None else 0.0


def archive_name(service: str, archive: EventArchive) -> str:
    return f"archive {service}.{archive.table.name}"


async def check_archive(
    dbs: Mapping[str, ServiceDatabase],
    service: str,
    archive: EventArchive,
    *,
    chunk: int = CHUNK,
    samples: int = SAMPLES,
    settle: float = 0.0,
    progress: Callable[[str], None] | None = None,
    later: list[Later] | None = None,
) -> CheckReport:
    """Every event of an archived type that a producer (whose database is open here)
    still holds in its outbox and has published is in ``service``'s archive. Events
    found missing are looked for again after ``settle`` seconds (a consumer behind);
    ``later``: as :func:`check_copy`'s."""
    report = CheckReport(service, "archive", archive_name(service, archive))
    types = sorted(archive.types)
    o, a = outbox_table, archive.table
    missing: list[tuple[str, str, str]] = []  # (event id, type, producer)
    for producer, db in dbs.items():
        if producer == service:
            continue
        after = 0
        while True:
            q = (
                select(o.c.id, o.c.event_id, o.c.event_type)
                .where(o.c.event_type.in_(types), o.c.published_at.is_not(None), o.c.id > after)
                .order_by(o.c.id)
                .limit(chunk)
            )
            async with db.read_session(tenant=ACROSS_TENANTS) as session:
                rows = (await session.execute(q)).all()
            if not rows:
                break
            after = rows[-1][0]
            report.checked += len(rows)
            ids = [str(r[1]) for r in rows]
            async with dbs[service].read_session(tenant=ACROSS_TENANTS) as session:
                have = set((await session.scalars(select(a.c.event_id).where(a.c.event_id.in_(ids)))).all())
            missing.extend((str(r[1]), r[2], producer) for r in rows if str(r[1]) not in have)
            if len(rows) < chunk:
                break

    async def confirm(look_again: bool) -> None:
        nonlocal missing
        if look_again:
            still: list[tuple[str, str, str]] = []
            for start in range(0, len(missing), chunk):
                part = missing[start : start + chunk]
                async with dbs[service].read_session(tenant=ACROSS_TENANTS) as session:
                    have = set(
                        (
                            await session.scalars(select(a.c.event_id).where(a.c.event_id.in_([m[0] for m in part])))
                        ).all()
                    )
                still.extend(m for m in part if m[0] not in have)
            missing = still
        for event_id, event_type, producer in missing:
            _add(report, Finding("missing", event_id, detail=f"{event_type} from {producer}"), samples)

    first = f"{report.name}: {len(missing)} event(s) not archived yet" if missing else None
    await _confirm(confirm, settle, later, progress, first)
    return report


@dataclass(frozen=True)
class Later:
    """A check's second look, deferred (:func:`settle_later`): when its first look
    ended, and what looks again and completes its report."""

    first_look: float
    look_again: Callable[[], Awaitable[None]]


async def _confirm(
    confirm: Callable[[bool], Awaitable[None]],
    settle: float,
    later: list[Later] | None,
    progress: Callable[[str], None] | None,
    first: str | None,
) -> None:
    """A check's findings of its first look (``first`` says them; None: nothing in
    flight) confirmed: a second look after ``settle`` seconds — waited here, or added
    to ``later`` (:func:`settle_later`) — or, with nothing to look at again, at once."""
    if first is None or settle <= 0:
        await confirm(False)
        return
    if progress is not None:
        when = f"in {settle:g} s" if later is None else f"{settle:g} s after it, once the other checks have looked"
        progress(f"{first}; looking again {when}")
    if later is not None:
        later.append(Later(asyncio.get_running_loop().time(), functools.partial(confirm, True)))
        return
    await asyncio.sleep(settle)
    await confirm(True)


async def settle_later(later: Sequence[Later], settle: float) -> None:
    """Run the deferred second looks once ``settle`` seconds have passed since the last
    first look: one wait for a whole audit, not one per check with rows in flight (a
    newcomer's trial: nine copies behind after a restore waited 45 s)."""
    if not later:
        return
    wait = max(c.first_look for c in later) + settle - asyncio.get_running_loop().time()
    if wait > 0:
        await asyncio.sleep(wait)
    for c in later:
        await c.look_again()


async def audit(
    system: System,
    dbs: Mapping[str, ServiceDatabase],
    *,
    only: Sequence[str] = (),
    chunk: int = CHUNK,
    samples: int = SAMPLES,
    settle: float = 0.0,
    window: timedelta = timedelta(hours=1),
    values: bool = False,
    values_slice: tuple[int, int] | None = None,
    progress: Callable[[str], None] | None = None,
) -> AuditReport:
    """Every reference and copy of ``system`` checked, and every service's pipeline;
    ``only`` keeps the checks whose name (as reports show it; a service's pipeline is
    ``pipeline <service>``) contains one of its strings; ``values``:
    copies' values compared with their owners' at the same version too (every row
    read: slower than the versions alone; ``values_slice`` ``(i, n)``: only the keys
    of the i-th of n slices of the key space, as the continuous audit does);
    ``progress`` is told when a check waits out its settle time."""
    started = asyncio.get_running_loop().time()
    checks: list[CheckReport] = []

    def wanted(name: str) -> bool:
        return not only or any(o in name for o in only)

    seen: set[tuple[str, str, str]] = set()
    later: list[Later] = []  # the second looks, after one wait for all (settle_later)
    for s in system.services:
        if s.name not in dbs:  # a process serving some of the services audits theirs
            continue
        for r in s.references:
            name = f"{s.name}.{r.table}.{r.column} -> {r.target_service}.{r.target_table}"
            if wanted(name):
                checks.append(
                    await check_reference(
                        dbs,
                        system,
                        s.name,
                        r.table,
                        r.column,
                        f"{r.target_service}.{r.target_table}",
                        chunk=chunk,
                        samples=samples,
                        live=r.live,
                        policy=r.on_orphan,
                    )
                )
        for replica in s.replicas:
            if not isinstance(replica, ReplicaTable | DenormalizedColumns):
                continue
            # One table may be kept by several declarations (by event type): check it once.
            once = (s.name, replica.table.name, replica.source)
            if once in seen:
                continue
            seen.add(once)
            if wanted(copy_name(s.name, replica)):
                checks.append(
                    await check_copy(
                        dbs,
                        system,
                        s.name,
                        replica,
                        chunk=chunk,
                        samples=samples,
                        settle=settle,
                        values=values,
                        values_slice=values_slice,
                        progress=progress,
                        later=later,
                    )
                )
        if s.archive is not None and wanted(archive_name(s.name, s.archive)):
            checks.append(
                await check_archive(
                    dbs, s.name, s.archive, chunk=chunk, samples=samples, settle=settle, progress=progress, later=later
                )
            )
    await settle_later(later, settle)
    pipeline = [
        await check_pipeline(dbs[s.name], s.name, window)
        for s in system.services
        if s.name in dbs and wanted(f"pipeline {s.name}")
    ]
    for p in pipeline:
        await check_lag(system, dbs, p, window)
    report = AuditReport(system.name, checks, pipeline)
    report.seconds = asyncio.get_running_loop().time() - started
    return report


@dataclass(frozen=True)
class Repair:
    """What a repair did (or, dry, would do) for one declaration: a copy's keys
    re-sent by their owner, or the rows holding a reference's orphaned ids changed by
    its policy (``changed``; ``resent``: their new state re-published)."""

    check: str
    owner: str  # "service.table" whose events mend it
    keys: int
    resent: int
    note: str = ""
    changed: int = 0


async def repair(
    system: System, dbs: Mapping[str, ServiceDatabase], report: AuditReport, *, dry_run: bool = False
) -> list[Repair]:
    """Re-sync every stale, missing or differing copy the audit found: the owner
    re-publishes the current state of the rows concerned through its outbox
    (:func:`isles.service.resend.resend`, as repairs: a copy at that very version takes
    it too), so the copies are mended by normal, version-guarded, idempotent traffic. Orphaned
    references follow their declared policy (:mod:`isles.service.orphans`: report only,
    nullify or mark); extra copies are reported only (their owner has no row to send)."""
    done: list[Repair] = []
    for c in report.checks:
        if not c.repairable:
            continue
        if c.kind == "reference":
            done.extend(await _repair_orphans(system, dbs, c, dry_run=dry_run))
            continue
        owner = _owner(system, c.source)
        if owner is None:
            continue
        service_name, table = owner
        service = next(s for s in system.services if s.name == service_name)
        declaration = next((r for r in service.resend if r.table == table), None)
        keys = sorted(set(c.repairable))
        if declaration is None:
            done.append(Repair(c.name, c.source, len(keys), 0, f"{service_name} declares no Resend for {table}"))
            continue
        if dry_run:
            done.append(Repair(c.name, c.source, len(keys), 0, "dry run"))
            continue
        # As repairs: a copy at the row's version whose values differ takes it too.
        # A copy ahead of its owner: the owner's row is brought up to the newest version
        # any copy of it holds, so that the copies take its state and its next changes.
        ids = [_maybe_uuid(k) for k in keys]
        forward = _ahead_of(report, c.source)
        sent = await resend(
            dbs[service_name],
            service.source,
            declaration,
            ids,
            repair=True,
            at_least={_maybe_uuid(k): v for k, v in forward.items() if k in c.repairable},
        )
        note = f"{len(forward)} owner row(s) brought up to their copies' version" if forward else ""
        done.append(Repair(c.name, c.source, len(keys), sent, note))
    return done


def _ahead_of(report: AuditReport, source: str) -> dict[str, int]:
    """Of every copy of ``source`` the audit checked, the keys ahead of the owner's row
    and the newest version a copy holds of each."""
    newest: dict[str, int] = {}
    for c in report.checks:
        if c.source == source:
            for k, v in c.ahead.items():
                newest[k] = max(v, newest.get(k, 0))
    return newest


async def _repair_orphans(
    system: System, dbs: Mapping[str, ServiceDatabase], c: CheckReport, *, dry_run: bool
) -> list[Repair]:
    service = next(s for s in system.services if s.name == c.service)
    ref = next(r for r in service.references if str(r) == c.name)
    keys = sorted(set(c.repairable))
    if ref.on_orphan.policy == "report":
        return []
    changed, resent = await fix_orphans(dbs[service.name], service, ref, keys, dry_run=dry_run)
    note = f"dry run: {ref.on_orphan} would change {changed} row(s)" if dry_run else str(ref.on_orphan)
    return [Repair(c.name, f"{service.name}.{ref.table}", len(keys), resent, note, changed)]


def export(report: AuditReport, metrics: Any, differs: Mapping[str, int] | None = None) -> None:
    """Set the audit gauges of ``metrics`` (an :class:`isles.ops.metrics.Metrics`) from
    ``report``: one series per declaration checked. ``differs``: per copy check, the
    rows whose values differ, as last counted in each slice of the keys (the audit
    compares one slice a round), instead of this report's own count."""
    # A gauge per kind of finding; an inactive target counts as an orphan, a copy
    # whose values differ at the owner's version as stale.
    for c in report.checks:
        if c.skipped:
            continue
        n = c.counts.get
        if c.kind == "reference":
            metrics.orphaned_references.labels(c.service, c.name).set(n("orphan", 0) + n("inactive", 0))
            continue
        held = differs.get(c.name, n("differs", 0)) if differs is not None else n("differs", 0)
        metrics.stale_copies.labels(c.service, c.name).set(n("stale", 0) + n("ahead", 0) + held)
        if c.kind == "copy":
            metrics.missing_copies.labels(c.service, c.name).set(n("missing", 0))
            metrics.extra_copies.labels(c.service, c.name).set(n("extra", 0))
    for p in report.pipeline:
        metrics.audit_consumer_lag.labels(p.service).set(sum(p.consumer_lag.values()))
        metrics.audit_failure_rate.labels(p.service).set(p.failure_rate)
    metrics.audit_duration.set(report.seconds)
