"""Analytics benchmark (issue 23): the event archive's ingest rate, the rebuild of every
read model and the headcount query over five years, on SQLite and PostgreSQL side
by side in one run; and DuckDB beside the database's own SQL for the same series.

A seeded history: a company of 10,000 employees and two of 1,000 over five years
(2021-2025): hires spread over the years into 12 departments each, transfers, other
changes, leavers and returns (the employee events the headcount model reads), and up
to ``--events`` in all with the other contract events of every HR service (attendance,
leave, tasks, assignments, contracts, documents, users, teams...; the archive keeps
them all, the headcount model reads none of them).

* **ingest**: every event through the analytics service's real consumer (its inbox,
  the archive's set-wise insert and the read model in one transaction per batch), as
  the embedded bus hands them over: events/s (the generation of the envelopes is not
  timed). Beside it, ``EventArchive.take`` alone in transactions of 5,000 into a
  database of its own (no inbox, no consumer): the cost of the archive and the model.
* **rebuild**: ``ARCHIVE.rebuild(db, model)`` of every read model over the whole
  archive, one after the other: seconds, the model's events (a rebuild reads only
  the types it keeps anything from) and their rate.
* **query**: ``GET /api/analytics/companies/{id}/headcount?from=2021-01-01&to=2025-12-31
  &interval=month&by=department`` for the 10,000-employee company through the ASGI
  app: each request a miss (the company's stamp replaced before it, as an event of the
  company does), each a hit (the same figure again), and ``queries.headcount`` alone:
  p50/p95 over ``--requests``; and DuckDB's one statement (every figure in one pass)
  run by the database itself on the read model: the engine, or the shape of the SQL?
* **DuckDB** (``pip install duckdb``, pinned in pyproject's dev extras): the same
  series computed by DuckDB in one statement from the company's spans copied out of
  the database (``COPY ... TO STDOUT`` on PostgreSQL, Python rows on SQLite; a CSV
  file DuckDB reads), the copy included, checked equal to the SQL's; and the whole
  archive loaded into DuckDB (what "DuckDB over the archive" costs before any query).

    python benchmarks/analytics.py                       # 1,000,000 events
    python benchmarks/analytics.py --quick               # 50,000 events, 2,000 employees
    python benchmarks/analytics.py --events 200000 --backends postgres

The databases are unique-named and dropped at the end, also on failure.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import dataclasses
import heapq
import os
import random
import statistics
import sys
import tempfile
import time
import types
import typing
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from sqlalchemy import text, update  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from hrms.contracts.employee import EmployeeCreated, EmployeeDeactivated, EmployeeUpdated  # noqa: E402
from hrms.services.analytics import queries  # noqa: E402
from hrms.services.analytics.archive import ARCHIVE  # noqa: E402
from hrms.services.analytics.headcount import NAME as HEADCOUNT  # noqa: E402
from hrms.services.analytics.models import HeadcountSpan  # noqa: E402
from isles import ACROSS_TENANTS, Event, System  # noqa: E402
from isles.core.events import Envelope  # noqa: E402
from isles.core.logging import configure  # noqa: E402
from isles.core.settings import IslesSettings  # noqa: E402
from isles.runtime.system import SystemRuntime, event_owners  # noqa: E402
from isles.storage.db import drop_postgres_database, drop_postgres_databases  # noqa: E402

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432"
FIRST, LAST = date(2021, 1, 1), date(2025, 12, 31)
DAYS = (LAST - FIRST).days + 1
DEPARTMENTS = 12
EMPLOYEE_EVENTS = {EmployeeCreated, EmployeeDeactivated, EmployeeUpdated}


# --- the history -----------------------------------------------------------------------


def _at(day: date, rng: random.Random) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC) + timedelta(seconds=rng.randrange(8 * 3600, 18 * 3600))


def _sample(annotation: Any, name: str) -> Any:
    """A valid JSON value for a contract field (an event's template)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return args[0]
    if origin in (typing.Union, types.UnionType):
        return _sample(next(a for a in args if a is not type(None)), name)
    if origin is list:
        return [_sample(args[0], name)] if args else []
    if origin is dict:
        return {"key": "value"}
    if annotation is uuid.UUID:
        return str(uuid.uuid4())
    if annotation is bool:
        return True
    if annotation is int:
        return 3
    if annotation is float:
        return 2.5
    if origin is tuple:
        return []
    if annotation is Decimal:
        return "40.0"
    if annotation is date:
        return "2024-03-01"
    if annotation is datetime:
        return "2024-03-01T09:00:00+00:00"
    if "email" in name:
        return "someone@example.com"
    if name == "sha256":
        return "0" * 64
    if name == "currency":
        return "EUR"
    return f"{name} text"


def _templates() -> list[tuple[type[Event], dict[str, Any], str]]:
    """(class, a valid data template, publishing service) of every other contract event."""
    from hrms.system import build

    owners = event_owners(build())
    out = []
    for kind in ARCHIVE.events:
        if kind in EMPLOYEE_EVENTS:
            continue
        data = {n: _sample(f.annotation, n) for n, f in kind.model_fields.items()}
        data = kind.model_validate(data).model_dump(mode="json")  # checked: the consumer decodes it
        out.append((kind, data, owners.get(kind.event_type, kind.event_type.split(".")[0])))
    return out


@dataclass
class History:
    companies: list[uuid.UUID]
    departments: dict[uuid.UUID, list[uuid.UUID]]
    employees: dict[uuid.UUID, list[uuid.UUID]]  # per company
    employee_events: list[tuple[datetime, int, Envelope]]  # (time, order, envelope)
    total: int
    active_at_end: dict[uuid.UUID, int] = field(default_factory=dict)  # per company

    @property
    def main(self) -> uuid.UUID:
        return self.companies[0]


def _env(event: Event, employee: uuid.UUID, version: int, when: datetime, company: uuid.UUID) -> Envelope:
    env = Envelope.new(
        event,
        source="/isles/employee",
        aggregate_type="employee",
        aggregate_id=str(employee),
        aggregate_version=version,
        tenant_id=str(company),
    )
    return dataclasses.replace(env, time=when)


def make_history(total: int, sizes: tuple[int, ...], seed: int = 23) -> History:
    """The employee events of ``sizes`` employees per company (in time order per
    employee, versions rising), and how many other events make ``total``."""
    rng = random.Random(seed)
    companies = [uuid.UUID(int=rng.getrandbits(128)) for _ in sizes]
    departments = {c: [uuid.UUID(int=rng.getrandbits(128)) for _ in range(DEPARTMENTS)] for c in companies}
    employees: dict[uuid.UUID, list[uuid.UUID]] = {c: [] for c in companies}
    events: list[tuple[datetime, int, Envelope]] = []
    active: dict[uuid.UUID, int] = dict.fromkeys(companies, 0)
    order = 0
    for company, size in zip(companies, sizes, strict=True):
        depts = departments[company]
        for i in range(size):
            eid = uuid.UUID(int=rng.getrandbits(128))
            employees[company].append(eid)
            hired = FIRST + timedelta(days=int(rng.random() ** 0.8 * (DAYS - 30)))  # more hires later: growth
            dept = rng.choice(depts)
            who = {"first_name": "Pat", "last_name": f"P{i}", "email": f"p{i}.{eid.hex[:8]}@example.com"}
            created = EmployeeCreated(
                id=eid,
                employee_number=f"E-{i}",
                company_id=company,
                user_id=uuid.UUID(int=rng.getrandbits(128)),
                department_id=dept,
                hire_date=hired,
                **who,
            )
            steps: list[tuple[str, date]] = []
            day = hired
            is_in = True
            while True:
                day = day + timedelta(days=rng.randrange(60, 900))
                if day > LAST:
                    break
                r = rng.random()
                if is_in:
                    kind = "transfer" if r < 0.35 else "change" if r < 0.75 else "leave"
                else:
                    if r < 0.3:
                        kind = "return"
                    else:
                        break
                steps.append((kind, day))
                is_in = kind != "leave"
            version = 1
            order += 1
            events.append((_at(hired, rng), order, _env(created, eid, version, _at(hired, rng), company)))
            for kind, day in steps:
                version += 1
                when = _at(day, rng)
                if kind == "leave":
                    event: Event = EmployeeDeactivated(id=eid, deactivated_at=when, company_id=company, **who)
                else:
                    if kind in ("transfer", "return"):
                        dept = rng.choice([d for d in depts if d != dept]) if kind == "transfer" else dept
                    event = EmployeeUpdated(
                        id=eid,
                        is_active=True,
                        company_id=company,
                        department_id=dept,
                        position=f"Level {version}",
                        changes=["department_id"] if kind == "transfer" else ["position"],
                        **who,
                    )
                order += 1
                events.append((when, order, _env(event, eid, version, when, company)))
            active[company] += int(is_in)
    events.sort(key=lambda x: (x[0], x[1]))
    return History(companies, departments, employees, events, max(total, len(events)), active)


def stream(history: History, seed: int = 23) -> Iterator[Envelope]:
    """The whole history in time order: the employee events, and other events of
    every other contract spread over the five years (attendance the most)."""
    rng = random.Random(seed + 1)
    templates = _templates()
    weights = [40 if kind.event_type == "presence.AttendanceMarked" else 2 for kind, _, _ in templates]
    n_other = history.total - len(history.employee_events)
    span = DAYS * 86400
    times = sorted(rng.random() * span for _ in range(n_other))
    start = datetime.combine(FIRST, datetime.min.time(), UTC)
    picks = rng.choices(range(len(templates)), weights=weights, k=n_other)
    people = [(c, e) for c, es in history.employees.items() for e in es]

    def others() -> Iterator[tuple[datetime, int, Envelope]]:
        for i, (offset, pick) in enumerate(zip(times, picks, strict=True)):
            kind, template, owner = templates[pick]
            company, employee = people[rng.randrange(len(people))]
            when = start + timedelta(seconds=offset)
            data = dict(template)
            aggregate = str(uuid.uuid4())
            for key in ("id", "saga_id"):  # one aggregate each (a saga, a ledger entry, a day...)
                if key in data:
                    data[key] = aggregate
            for key in ("company_id", "tenant", "employee_id", "assignee_id"):
                if key in data:
                    data[key] = str(employee if key in ("employee_id", "assignee_id") else company)
            for key in ("day", "start_date", "effective_on"):
                if key in data:
                    data[key] = when.date().isoformat()
            for key in ("finished_at",):
                if key in data:
                    data[key] = when.isoformat()
            env = Envelope(
                id=str(uuid.uuid4()),
                source=f"/isles/{owner}",
                type=kind.event_type,
                aggregatetype=owner,
                aggregateid=aggregate,
                aggregateversion=1,
                schemaversion=kind.schema_version,
                data=data,
                time=when,
                tenantid=str(company),
            )
            yield when, -i, env

    for _, _, env in heapq.merge(history.employee_events, others(), key=lambda x: (x[0], x[1])):
        yield env


def chunks(envelopes: Iterator[Envelope], size: int) -> Iterator[list[Envelope]]:
    chunk: list[Envelope] = []
    for env in envelopes:
        chunk.append(env)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- one backend -----------------------------------------------------------------------


@dataclass
class Result:
    backend: str
    events: int = 0
    ingest_s: float = 0.0
    take_events: int = 0
    take_s: float = 0.0
    rebuild_s: float = 0.0  # the headcount's
    rebuild_events: int = 0
    rebuilds: dict[str, tuple[float, int]] = field(default_factory=dict)  # model -> (s, its events)
    miss_ms: list[float] = field(default_factory=list)
    hit_ms: list[float] = field(default_factory=list)
    direct_ms: list[float] = field(default_factory=list)
    one_ms: list[float] = field(default_factory=list)
    points: int = 0
    duck_spans: dict[str, float] = field(default_factory=dict)
    duck_archive: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _system() -> System:
    from hrms.system import build

    full = build()
    return System(name="bench-analytics", services=[s for s in full.services if s.name == "analytics"])


def _settings(backend: str, tmp: Path, prefix: str) -> IslesSettings:
    options: dict[str, Any] = {"keys_dir": tmp / "keys", "generate_keys": True, "jobs_enabled": False}
    if backend == "sqlite":
        return IslesSettings(data_dir=tmp, **options)
    return IslesSettings(data_dir=tmp, database_url=f"{PG}/{prefix}_{{service}}", **options)


def _pct(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def ingest(rt: SystemRuntime, history: History, result: Result, progress: bool) -> None:
    consumer = rt["analytics"].consumer
    assert consumer is not None
    taken = 0
    for chunk in chunks(stream(history), 5000):
        started = time.perf_counter()
        await asyncio.gather(*(consumer.deliver(env) for env in chunk))
        result.ingest_s += time.perf_counter() - started
        taken += len(chunk)
        if progress and taken % 100_000 < 5000:
            print(f"  {result.backend}: {taken:,} events in {result.ingest_s:.0f} s", file=sys.stderr, flush=True)
    result.events = taken
    archived = await ARCHIVE.count(rt["analytics"].db)
    if archived != taken:
        raise SystemExit(f"{result.backend}: {archived:,} archived of {taken:,} delivered")


async def take_alone(backend: str, tmp: Path, prefix: str, history: History, n: int, result: Result) -> None:
    """``EventArchive.take`` in transactions of 5,000, on a database of its own."""
    rt = SystemRuntime(_system(), _settings(backend, tmp / "take", f"{prefix}_take"), environ={})
    try:
        await rt.prepare()
        db = rt["analytics"].db
        taken = 0
        for chunk in chunks(stream(history), 5000):
            chunk = chunk[: n - taken]
            pairs = [(env, ARCHIVE.types[env.type].from_envelope(env)) for env in chunk]
            started = time.perf_counter()
            async with db.writing(tenant=ACROSS_TENANTS) as session, session.begin():
                await ARCHIVE.take(session, pairs)
            result.take_s += time.perf_counter() - started
            taken += len(chunk)
            if taken >= n:
                break
        result.take_events = taken
    finally:
        for srt in rt.services.values():
            await srt.db.dispose()
        if backend == "postgres":
            await drop_postgres_database(make_url(f"{PG}/{prefix}_take_analytics"))


async def query(rt: SystemRuntime, history: History, result: Result, requests: int) -> list[queries.Point]:
    company = history.main
    db = rt["analytics"].db
    params = {"from": FIRST.isoformat(), "to": LAST.isoformat(), "interval": "month", "by": "department"}
    path = f"/api/analytics/companies/{company}/headcount"
    stamps = ARCHIVE.stamps
    assert stamps is not None
    points: list[queries.Point] = []
    for _ in range(requests):
        started = time.perf_counter()
        async with db.read_session(tenant=ACROSS_TENANTS) as session:
            points = await queries.headcount(session, company, FIRST, LAST, "month", "department")
        result.direct_ms.append((time.perf_counter() - started) * 1000)
    result.points = len(points)
    async with rt.client() as api:
        for _ in range(requests):  # a miss each: the stamp replaced as an event of the company does
            async with db.writing(tenant=ACROSS_TENANTS) as session, session.begin():
                await session.execute(
                    update(stamps)
                    .where(stamps.c.model == HEADCOUNT, stamps.c.tenant_id == str(company))
                    .values(stamp=uuid.uuid4().hex)
                )
            started = time.perf_counter()
            r = await api.get(path, params=params)
            result.miss_ms.append((time.perf_counter() - started) * 1000)
            assert r.status_code == 200, r.text
            assert r.headers["cache-status"].startswith("isles; fwd=miss"), r.headers["cache-status"]
        for _ in range(requests):
            started = time.perf_counter()
            r = await api.get(path, params=params)
            result.hit_ms.append((time.perf_counter() - started) * 1000)
            assert r.headers["cache-status"] == "isles; hit", r.headers["cache-status"]
    last = [p for p in points if p.ends_on == LAST]
    headcount = sum(p.headcount for p in last)
    if headcount != history.active_at_end[company]:
        expected = history.active_at_end[company]
        raise SystemExit(f"{result.backend}: headcount {headcount} at the end, expected {expected}")
    return points


# --- DuckDB ----------------------------------------------------------------------------

DUCK_SQL = """
SELECT p.n, s.department_id,
  count(*) FILTER (WHERE s.starts_on <= p.before AND (s.ends_on IS NULL OR s.ends_on > p.before)) AS opening,
  count(*) FILTER (WHERE s.starts_on <= p.ends_on AND (s.ends_on IS NULL OR s.ends_on > p.ends_on)) AS headcount,
  count(*) FILTER (WHERE s.starts_on BETWEEN p.starts_on AND p.ends_on
                   AND s.started_by IN ('hire', 'return')) AS hires,
  count(*) FILTER (WHERE s.ends_on BETWEEN p.starts_on AND p.ends_on AND s.ended_by = 'left') AS leavers,
  count(*) FILTER (WHERE s.starts_on BETWEEN p.starts_on AND p.ends_on AND s.started_by = 'transfer') AS t_in,
  count(*) FILTER (WHERE s.ends_on BETWEEN p.starts_on AND p.ends_on AND s.ended_by = 'transfer') AS t_out
FROM periods p JOIN spans s ON s.starts_on <= p.ends_on AND coalesce(s.ends_on, DATE '9999-12-31') >= p.before
GROUP BY p.n, s.department_id
"""


def _duck_series(path: Path, cut: list[tuple[date, date]]) -> list[tuple[Any, ...]]:
    import duckdb

    con = duckdb.connect()
    try:
        con.execute(
            "CREATE TABLE spans AS SELECT * FROM read_csv(?, header=false, columns={"
            "'department_id': 'VARCHAR', 'starts_on': 'DATE', 'ends_on': 'DATE', "
            "'started_by': 'VARCHAR', 'ended_by': 'VARCHAR'})",
            [str(path)],
        )
        values = ", ".join(
            f"({i}, DATE '{a}', DATE '{b}', DATE '{a - timedelta(days=1)}')" for i, (a, b) in enumerate(cut)
        )
        con.execute(f"CREATE TABLE periods AS SELECT * FROM (VALUES {values}) AS v(n, starts_on, ends_on, before)")
        rows = con.execute(DUCK_SQL).fetchall()
    finally:
        con.close()
    return [r for r in rows if any(r[2:])]


async def _copy_out(rt: SystemRuntime, backend: str, sql: str, params: dict[str, Any], path: Path) -> None:
    """``sql``'s rows into the CSV file ``path``: COPY ... TO STDOUT on PostgreSQL,
    Python rows written by csv on SQLite."""
    db = rt["analytics"].db
    if backend == "postgres":
        async with db.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            pg = raw.driver_connection
            inline = sql
            for key, value in params.items():
                inline = inline.replace(f":{key}", f"'{value}'")
            with path.open("wb") as out:
                await pg.copy_from_query(inline, output=out, format="csv")  # type: ignore[union-attr]
        return
    async with db.read_session(tenant=ACROSS_TENANTS) as session:
        rows = (await session.execute(text(sql), params)).all()
    with path.open("w", newline="") as out:
        csv.writer(out).writerows(rows)


async def duck_spans(
    rt: SystemRuntime, backend: str, history: History, points: list[queries.Point], tmp: Path, result: Result
) -> None:
    """The 5-year series by DuckDB from the company's spans, the copy out included."""
    try:
        import duckdb  # noqa: F401
    except ImportError:
        result.notes.append("duckdb: not installed (pip install duckdb); no comparison")
        return
    async with rt["analytics"].db.read_session(tenant=ACROSS_TENANTS) as session:
        generation = await ARCHIVE.generation(session, HEADCOUNT)
    t = HeadcountSpan.__table__
    company = history.main if backend == "postgres" else history.main.hex  # SQLite keeps a Uuid as 32 hex digits
    sql = (
        f"SELECT department_id, starts_on, ends_on, started_by, ended_by FROM {t.name} "
        "WHERE generation = :generation AND company_id = :company"
    )
    cut = queries.periods(FIRST, LAST, "month")
    path = tmp / f"spans-{backend}.csv"
    copy_ms, duck_ms = [], []
    rows: list[tuple[Any, ...]] = []
    for _ in range(5):
        started = time.perf_counter()
        await _copy_out(rt, backend, sql, {"generation": generation, "company": company}, path)
        copied = time.perf_counter()
        rows = await asyncio.to_thread(_duck_series, path, cut)
        done = time.perf_counter()
        copy_ms.append((copied - started) * 1000)
        duck_ms.append((done - copied) * 1000)
    result.duck_spans = {
        "copy_ms": statistics.median(copy_ms),
        "duck_ms": statistics.median(duck_ms),
        "total_ms": statistics.median(a + b for a, b in zip(copy_ms, duck_ms, strict=True)),
        "spans": sum(1 for _ in path.open()),
    }

    _check(backend, "DuckDB's", rows, points, cut)


def _check(
    backend: str, what: str, rows: list[tuple[Any, ...]], points: list[queries.Point], cut: list[tuple[date, date]]
) -> None:
    """``rows`` (n, department, opening, headcount, hires, leavers, in, out) are
    ``queries.headcount``'s ``points``."""

    def norm(dept: Any) -> str:
        return uuid.UUID(str(dept)).hex if dept not in (None, "") else ""

    ours = {(int(r[0]), norm(r[1])): tuple(int(x) for x in r[2:]) for r in rows if any(r[2:])}
    index = {a: i for i, (a, _) in enumerate(cut)}
    theirs = {
        (index[p.starts_on], norm(p.department_id)): (
            p.opening,
            p.headcount,
            p.hires,
            p.leavers,
            p.transfers_in,
            p.transfers_out,
        )
        for p in points
    }
    if ours != theirs:
        diff = sorted(set(ours.items()) ^ set(theirs.items()))[:6]
        raise SystemExit(f"{backend}: {what} series differs from queries.headcount: {diff}")


async def one_statement(
    rt: SystemRuntime, backend: str, history: History, points: list[queries.Point], result: Result
) -> None:
    """DuckDB's statement run by the database itself on the read model (every figure
    in one pass, the periods a VALUES list): the engine, or the shape of the SQL?"""
    cut = queries.periods(FIRST, LAST, "month")
    day = "DATE " if backend == "postgres" else ""
    values = ", ".join(f"({i}, {day}'{a}', {day}'{b}', {day}'{a - timedelta(days=1)}')" for i, (a, b) in enumerate(cut))
    t = HeadcountSpan.__table__
    sql = DUCK_SQL.replace(
        "FROM periods p JOIN spans s",
        f"FROM (VALUES {values}) AS p(n, starts_on, ends_on, before) JOIN {t.name} s",
    ).replace("GROUP BY", "AND s.generation = :generation AND s.company_id = :company\nGROUP BY")
    if backend == "sqlite":  # no column names for VALUES in SQLite: a CTE names them
        sql = f"WITH p(n, starts_on, ends_on, before) AS (VALUES {values}) " + sql.replace(
            f"FROM (VALUES {values}) AS p(n, starts_on, ends_on, before)", "FROM p"
        )
    sql = sql.replace("DATE '9999-12-31'", f"{day}'9999-12-31'")
    db = rt["analytics"].db
    rows: list[tuple[Any, ...]] = []
    for _ in range(max(5, len(result.direct_ms))):
        started = time.perf_counter()
        async with db.read_session(tenant=ACROSS_TENANTS) as session:
            generation = await ARCHIVE.generation(session, HEADCOUNT)
            company = history.main if backend == "postgres" else history.main.hex
            found = await session.execute(text(sql), {"generation": generation, "company": company})
            rows = [tuple(r) for r in found]
        result.one_ms.append((time.perf_counter() - started) * 1000)
    _check(backend, "the one statement's", rows, points, cut)


def _duck_archive(path: Path) -> tuple[float, int]:
    import duckdb

    con = duckdb.connect()
    try:
        started = time.perf_counter()
        con.execute(
            "CREATE TABLE archive AS SELECT * FROM read_csv(?, header=false, columns={"
            "'position': 'BIGINT', 'event_type': 'VARCHAR', 'tenant_id': 'VARCHAR', "
            "'occurred_at': 'VARCHAR', 'envelope': 'VARCHAR'}, max_line_size=10000000)",
            [str(path)],
        )
        loaded = time.perf_counter() - started
        months = con.execute(
            "SELECT count(*) FROM (SELECT event_type, substr(occurred_at, 1, 7) AS month, count(*) "
            "FROM archive GROUP BY ALL)"
        ).fetchone()
    finally:
        con.close()
    return loaded, int(months[0]) if months else 0


async def duck_archive(rt: SystemRuntime, backend: str, tmp: Path, result: Result) -> None:
    """The whole archive into DuckDB: the copy out, DuckDB's load and one grouping."""
    try:
        import duckdb  # noqa: F401
    except ImportError:
        return
    path = tmp / f"archive-{backend}.csv"
    t = ARCHIVE.table
    sql = f"SELECT position, event_type, tenant_id, occurred_at, envelope FROM {t.name}"
    started = time.perf_counter()
    await _copy_out(rt, backend, sql, {}, path)
    copied = time.perf_counter() - started
    loaded, _groups = await asyncio.to_thread(_duck_archive, path)
    result.duck_archive = {"copy_s": copied, "load_s": loaded, "mib": path.stat().st_size / 2**20}
    path.unlink()


async def run_backend(backend: str, history: History, args: argparse.Namespace) -> Result:
    tmp_dir = tempfile.TemporaryDirectory(prefix="isles-bench-analytics-")
    tmp = Path(tmp_dir.name)
    prefix = f"isles_bench_an_{uuid.uuid4().hex[:10]}"
    result = Result(backend)
    rt = SystemRuntime(_system(), _settings(backend, tmp, prefix), environ={})
    try:
        await rt.start()
        print(f"{backend}: ingesting {history.total:,} events ...", file=sys.stderr, flush=True)
        await ingest(rt, history, result, progress=not args.quick)
        await rt.settle(timeout=60)
        for model in ARCHIVE.read_models:
            print(f"{backend}: rebuilding {model} ...", file=sys.stderr, flush=True)
            started = time.perf_counter()
            rebuilt = await ARCHIVE.rebuild(rt["analytics"].db, model)
            result.rebuilds[model] = (time.perf_counter() - started, rebuilt.events)
        result.rebuild_s, result.rebuild_events = result.rebuilds[HEADCOUNT]
        print(f"{backend}: querying ...", file=sys.stderr, flush=True)
        points = await query(rt, history, result, args.requests)
        await one_statement(rt, backend, history, points, result)
        await duck_spans(rt, backend, history, points, tmp, result)
        if not args.no_archive_copy:
            await duck_archive(rt, backend, tmp, result)
        print(f"{backend}: EventArchive.take alone ...", file=sys.stderr, flush=True)
        await take_alone(backend, tmp, prefix, history, min(history.total, args.take_events), result)
        return result
    finally:
        try:
            await rt.stop()
        finally:  # the databases go even when stopping fails
            if backend == "postgres":
                names = [*rt.services, "take_analytics"]
                await drop_postgres_databases(make_url(f"{PG}/{prefix}_{name}") for name in names)
            tmp_dir.cleanup()


# --- the table -------------------------------------------------------------------------


def table(results: list[Result]) -> str:
    names = [r.backend for r in results]
    width = 34
    lines = [f"{'':<{width}}" + "".join(f"{n:>14}" for n in names), "-" * (width + 14 * len(names))]

    def row(label: str, values: list[str]) -> None:
        lines.append(f"{label:<{width}}" + "".join(f"{v:>14}" for v in values))

    row("events archived", [f"{r.events:,}" for r in results])
    row("ingest (consumer) s", [f"{r.ingest_s:.1f}" for r in results])
    row("ingest events/s", [f"{r.events / r.ingest_s:,.0f}" for r in results])
    row("EventArchive.take alone: events", [f"{r.take_events:,}" for r in results])
    row("EventArchive.take alone events/s", [f"{r.take_events / r.take_s:,.0f}" for r in results])
    for model in results[0].rebuilds:
        row(f"rebuild {model} s", [f"{r.rebuilds[model][0]:.2f}" for r in results])
        row(f"  {model}: its events", [f"{r.rebuilds[model][1]:,}" for r in results])
        row(f"  {model}: its events/s", [f"{r.rebuilds[model][1] / r.rebuilds[model][0]:,.0f}" for r in results])
    row("query points (months x depts)", [f"{r.points:,}" for r in results])
    row("queries.headcount p50 ms", [f"{statistics.median(r.direct_ms):.1f}" for r in results])
    row("queries.headcount p95 ms", [f"{_pct(r.direct_ms, 95):.1f}" for r in results])
    row("one statement (SQL) p50 ms", [f"{statistics.median(r.one_ms):.1f}" for r in results])
    row("one statement (SQL) p95 ms", [f"{_pct(r.one_ms, 95):.1f}" for r in results])
    row("GET miss p50 ms", [f"{statistics.median(r.miss_ms):.1f}" for r in results])
    row("GET miss p95 ms", [f"{_pct(r.miss_ms, 95):.1f}" for r in results])
    row("GET hit p50 ms", [f"{statistics.median(r.hit_ms):.2f}" for r in results])
    row("GET hit p95 ms", [f"{_pct(r.hit_ms, 95):.2f}" for r in results])
    if all(r.duck_spans for r in results):
        row("DuckDB: spans copied out", [f"{int(r.duck_spans['spans']):,}" for r in results])
        row("DuckDB: copy out ms", [f"{r.duck_spans['copy_ms']:.1f}" for r in results])
        row("DuckDB: load + series ms", [f"{r.duck_spans['duck_ms']:.1f}" for r in results])
        row("DuckDB: total ms", [f"{r.duck_spans['total_ms']:.1f}" for r in results])
    if all(r.duck_archive for r in results):
        row("archive -> DuckDB: copy out s", [f"{r.duck_archive['copy_s']:.1f}" for r in results])
        row("archive -> DuckDB: CSV MiB", [f"{r.duck_archive['mib']:,.0f}" for r in results])
        row("archive -> DuckDB: load s", [f"{r.duck_archive['load_s']:.1f}" for r in results])
    for r in results:
        if r.duck_spans:
            ratio = r.duck_spans["total_ms"] / statistics.median(r.direct_ms)
            lines.append(f"{r.backend}: DuckDB (copy included) / queries.headcount: {ratio:.2f}x")
        lines.append(
            f"{r.backend}: miss / hit p50: {statistics.median(r.miss_ms) / statistics.median(r.hit_ms):.0f}x; "
            f"take alone / consumer events/s: {(r.take_events / r.take_s) / (r.events / r.ingest_s):.2f}x"
        )
        lines.extend(f"{r.backend}: {note}" for note in r.notes)
    if len(results) == 2:
        a, b = results
        lines.append(
            f"ratio {b.backend}/{a.backend}: ingest events/s {(b.events / b.ingest_s) / (a.events / a.ingest_s):.2f}x, "
            f"rebuild s {b.rebuild_s / a.rebuild_s:.2f}x, "
            f"miss p50 {statistics.median(b.miss_ms) / statistics.median(a.miss_ms):.2f}x"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="archived events in all (default 1,000,000)")
    parser.add_argument(
        "--quick", action="store_true", help="50,000 events, 2,000 employees, 20 requests (about two minutes)"
    )
    parser.add_argument("--employees", type=int, default=10_000, help="of the queried company (two more of a tenth)")
    parser.add_argument("--requests", type=int, default=50, help="requests per query figure (p50/p95)")
    parser.add_argument("--take-events", type=int, default=100_000, help="events EventArchive.take takes alone")
    parser.add_argument("--no-archive-copy", action="store_true", help="skip the whole archive into DuckDB")
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    args = parser.parse_args()
    if args.quick:
        args.events, args.employees, args.requests, args.take_events = 50_000, 2_000, 20, 20_000
    configure("error")
    os.environ.setdefault("ISLES_POOL_IDLE_TIMEOUT", "2")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    bad = [b for b in backends if b not in ("sqlite", "postgres")]
    if bad:
        parser.error(f"unknown backend(s): {', '.join(bad)}")
    small = max(1, args.employees // 10)
    started = time.perf_counter()
    history = make_history(args.events, (args.employees, small, small))
    moves = len(history.employee_events)
    print(
        f"analytics: {history.total:,} events ({moves:,} employee events of "
        f"{args.employees + 2 * small:,} employees in 3 companies, {DEPARTMENTS} departments each; "
        f"the rest other HR events), {FIRST}..{LAST}; history made in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    results = [asyncio.run(run_backend(b, history, args)) for b in backends]
    print(table(results))


if __name__ == "__main__":
    main()
