"""``isles split run`` on PostgreSQL goes by ``COPY``: straight into the table where
none of the batch's keys is there yet (and the role may: row-level security refuses
``COPY FROM`` to a role that does not bypass it), else into a staging table then
``INSERT ... SELECT ... ON CONFLICT DO NOTHING``; a batch all there is not written
again. The same rows and the same rejects file as SQLite's prepared inserts, a rerun
that writes nothing, and a batch the database refuses retried row by row with only
the refused rows as rejects."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from isles.cli.main import app
from isles.storage.db import connect_waiting
from isles.tools.split import run as split_run
from isles.tools.split.plan import write_plan
from isles.tools.split.run import read_rejects
from tests.fixtures.monolith import Stats, make_monolith
from tests.isles.test_split_run import (
    EMPLOYEES,
    HRMS,
    SERVICES,
    counts,
    env_of,
    expected_rejects,
    hr_plan,
    isles,
    prepare,
)
from tests.support import Backend, Templates, make_backend

pytestmark = pytest.mark.integration


@pytest.fixture
def monolith(tmp_path: Path) -> Stats:
    return make_monolith(tmp_path / "monolith.sqlite", employees=EMPLOYEES, seed=11)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many batches went each way (COPY, SQLite's executemany, SQLAlchemy's insert
    for a whole batch, row by row after a refusal), per table."""
    seen: Counter[str] = Counter()
    for way in ("_copy", "_copy_direct", "_copy_staged", "_insert", "_insert_many", "_insert_one", "write_text"):
        original = getattr(split_run.Writer, way)

        def counted(self: split_run.Writer, *args: Any, _way: str = way, _original: Any = original) -> Any:
            seen[_way] += 1
            seen[f"{_way}:{self.table.name}"] += 1
            return _original(self, *args)

        monkeypatch.setattr(split_run.Writer, way, counted)
    return seen


def pg_counts(backend: Backend) -> dict[str, int]:
    """Rows per table in every service's PostgreSQL database."""

    async def count() -> dict[str, int]:
        found = {}
        for service in SERVICES:
            conn = await connect_waiting(backend.url(service).replace("postgresql+asyncpg", "postgresql"))
            try:
                tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                for (table,) in tables:
                    found[f"{service}.{table}"] = await conn.fetchval(f'SELECT count(*) FROM "{table}"')
            finally:
                await conn.close()
        return found

    return asyncio.run(count())


async def _execute(backend: Backend, service: str, *sql: str) -> None:
    # the server's connections are shared with other suites: wait longer than a run's pools
    conn = await connect_waiting(backend.url(service).replace("postgresql+asyncpg", "postgresql"), wait=120)
    try:
        for statement in sql:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.mark.postgres
def test_postgres_loads_by_copy_like_sqlite(
    monolith: Stats, templates: Templates, tmp_path: Path, calls: Counter[str]
) -> None:
    lite = make_backend("sqlite", tmp_path / "lite")
    prepare(lite, templates)
    pg = make_backend("postgres", tmp_path / "pg")
    prepare(pg, templates)
    try:
        plan_file = tmp_path / "plan.toml"
        plan = hr_plan(monolith, plan_file)
        # the mapper's way for every row (the record COPY this file is about; the fast
        # path's COPY text: test_split_fast.py)
        argv = ["split", "run", "--plan", str(plan_file), str(monolith.path), "--no-fast"]

        ran = isles(lite, *argv, "--rejects", str(tmp_path / "lite.csv"))
        assert ran.exit_code == 0, ran.output
        assert calls["_insert"] > 0
        assert calls["_copy"] == 0
        calls.clear()
        before = pg_counts(pg)
        # a plan (and id mapping) of its own: the id mapping is of the databases its
        # runs wrote to, and refuses others
        refused = isles(pg, *argv, "--rejects", str(tmp_path / "pg.csv"))
        assert refused.exit_code == 2, refused.output
        assert "the runs of this id mapping wrote auth to sqlite" in refused.output
        pg_plan = tmp_path / "pg-plan.toml"
        shutil.copy(plan_file, pg_plan)
        argv[3] = str(pg_plan)
        ran = isles(pg, *argv, "--rejects", str(tmp_path / "pg.csv"))
        assert ran.exit_code == 0, ran.output
        # every batch of every table and copy went by COPY, none by INSERT: straight
        # into the table (the test's role is a superuser: row-level security is bypassed)
        assert calls["_copy"] >= len(plan.tables) + 10
        assert calls["_copy_direct"] == calls["_copy"]
        assert calls["_copy_staged"] == 0
        assert calls["_insert"] == calls["_insert_many"] == calls["_insert_one"] == 0
        # the same rejects, byte for byte, and the dirt counted exactly
        assert (tmp_path / "pg.csv").read_bytes() == (tmp_path / "lite.csv").read_bytes()
        rejects = read_rejects(tmp_path / "pg.csv")
        assert Counter((r.table, r.column, r.decision) for r in rejects) == expected_rejects(monolith)
        # the same rows in the same tables
        after, lite_after = pg_counts(pg), counts(lite)
        skipped = Counter(r.table for r in rejects if r.decision == "skip")
        for name, tp in plan.tables.items():
            assert after[tp.target] - before[tp.target] == monolith.rows[name] - skipped[name], name
            assert after[tp.target] == lite_after[tp.target], name
        assert after["tasks.task_users"] == lite_after["tasks.task_users"] == EMPLOYEES
        # the defaults SQLAlchemy would have filled (updated_at, a flag) are there
        with sqlite3.connect(monolith.path) as db:
            assert db.execute("SELECT count(*) FROM leave_types").fetchone()[0] == after["leave.leave_types"]
        verified = isles(pg, "split", "verify", "--plan", str(plan_file), str(monolith.path))
        assert verified.exit_code == 0, verified.output

        # a rerun writes nothing (every batch found there: no COPY at all) and reports the same
        calls.clear()
        again = isles(pg, *argv, "--rejects", str(tmp_path / "pg2.csv"))
        assert again.exit_code == 0, again.output
        assert calls["_copy"] >= len(plan.tables) + 10
        assert calls["_copy_direct"] == calls["_copy_staged"] == 0
        assert pg_counts(pg) == after
        assert (tmp_path / "pg2.csv").read_bytes() == (tmp_path / "pg.csv").read_bytes()
        assert isles(pg, "split", "verify", "--plan", str(plan_file), str(monolith.path)).exit_code == 0

        # a batch partly there (rows deleted since): the staging table, the rest left as it is
        asyncio.run(
            _execute(pg, "leave", "DELETE FROM leave_requests WHERE ctid IN (SELECT ctid FROM leave_requests LIMIT 7)")
        )
        calls.clear()
        again = isles(pg, *argv, "--rejects", str(tmp_path / "pg3.csv"))
        assert again.exit_code == 0, again.output
        assert calls["_copy_staged"] == calls["_copy_staged:leave_requests"] == 1
        assert calls["_copy_direct"] == 0
        assert pg_counts(pg) == after
        assert (tmp_path / "pg3.csv").read_bytes() == (tmp_path / "pg.csv").read_bytes()
        assert isles(pg, "split", "verify", "--plan", str(plan_file), str(monolith.path)).exit_code == 0
    finally:
        pg.drop_later(SERVICES)


@pytest.mark.parametrize("backend_name", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_refused_batch_goes_row_by_row(
    backend_name: str, monolith: Stats, templates: Templates, tmp_path: Path, calls: Counter[str]
) -> None:
    """Leave requests' status mapped as is: the target's CHECK knows the upper-case
    words; three rows keep a word it does not know. Their batch is refused whole, then
    written row by row: those three are rejects, the others loaded."""
    with sqlite3.connect(monolith.path) as db:
        db.execute("UPDATE leave_requests SET status = upper(status)")
        db.execute("UPDATE leave_requests SET status = 'lost' WHERE id IN (4, 17, 30)")
    backend = make_backend(backend_name, tmp_path / "db")
    prepare(backend, templates)
    try:
        plan_file = tmp_path / "plan.toml"
        plan = hr_plan(monolith, plan_file)
        requests = plan.tables["leave_requests"]
        requests.skip.remove("status")
        requests.columns["status"] = "status"
        requests.values["status"] = {}  # decided: the words the target does not take are rejects
        write_plan(plan, plan_file)
        ran = isles(backend, "split", "run", "--plan", str(plan_file), str(monolith.path), "--no-fast")
        assert ran.exit_code == 0, ran.output
        rejects = read_rejects(tmp_path / "rejects.csv")
        refused = [r for r in rejects if r.reason.startswith("refused by the database")]
        assert sorted(r.rowid for r in refused) == [4, 17, 30]
        assert {(r.table, r.decision) for r in refused} == {("leave_requests", "skip")}
        assert all("status_known" in r.reason for r in refused)
        fast = "_insert" if backend_name == "sqlite" else "_copy"
        assert calls[f"{fast}:leave_requests"] == 1  # the one batch, refused
        assert calls["_insert_one:leave_requests"] == monolith.rows["leave_requests"]  # one by one
        found = counts(backend) if backend_name == "sqlite" else pg_counts(backend)
        skipped = sum(1 for r in rejects if r.table == "leave_requests" and r.decision == "skip")
        assert found["leave.leave_requests"] == monolith.rows["leave_requests"] - skipped
        verified = isles(backend, "split", "verify", "--plan", str(plan_file), str(monolith.path))
        assert verified.exit_code == 0, verified.output
    finally:
        backend.drop_later(SERVICES)


@pytest.mark.postgres
@pytest.mark.parametrize("way", ["--no-fast", "--fast"])
def test_a_role_under_row_level_security_loads_through_the_staging_table(
    monolith: Stats, templates: Templates, tmp_path: Path, calls: Counter[str], way: str
) -> None:
    """The platform's runtime roles do not bypass row-level security, which refuses
    them ``COPY FROM`` into a tenant table: the run falls back to the staging table
    there (once per table, then goes that way) and loads the same rows, the same
    rejects — the records of the mapper's way and the fast path's COPY text alike."""
    pg = make_backend("postgres", tmp_path / "pg")
    prepare(pg, templates)
    role = f"{pg.prefix}_splitter"
    try:
        grants = [
            f'GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO "{role}"',
            f'GRANT USAGE ON SCHEMA public TO "{role}"',
        ]
        asyncio.run(_execute(pg, "auth", f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS'))
        for service in SERVICES:
            asyncio.run(
                _execute(
                    pg, service, f'GRANT CONNECT, TEMPORARY ON DATABASE "{pg.prefix}_{service}" TO "{role}"', *grants
                )
            )
        plan_file = tmp_path / "plan.toml"
        plan = hr_plan(monolith, plan_file)
        url = (pg.settings.database_url or "").replace("postgres@", f"{role}@")
        env = {"ISLES_DATABASE_URL": url}
        ran = CliRunner().invoke(
            app, ["split", "run", "--plan", str(plan_file), str(monolith.path), way, *HRMS], env={**env_of(pg), **env}
        )
        assert ran.exit_code == 0, ran.output
        if way == "--no-fast":
            assert calls["_copy_staged:employees"] == calls["_copy:employees"] >= 1  # a tenant table
            assert calls["_copy_direct:employees"] == 1  # refused once, not tried again
        else:
            assert calls["write_text:employees"] >= 1
        rejects = read_rejects(tmp_path / "rejects.csv")
        assert Counter((r.table, r.column, r.decision) for r in rejects) == expected_rejects(monolith)
        after = pg_counts(pg)
        skipped = Counter(r.table for r in rejects if r.decision == "skip")
        for name, tp in plan.tables.items():
            assert after[tp.target] == monolith.rows[name] - skipped[name], name
        assert after["tasks.task_users"] == EMPLOYEES
        verified = isles(pg, "split", "verify", "--plan", str(plan_file), str(monolith.path))
        assert verified.exit_code == 0, verified.output
    finally:
        for service in SERVICES:
            asyncio.run(_execute(pg, service, f'DROP OWNED BY "{role}"'))
        asyncio.run(_execute(pg, "auth", f'DROP ROLE IF EXISTS "{role}"'))
        pg.drop_later(SERVICES)


@pytest.mark.postgres
def test_a_run_holds_four_connections_at_most(
    monolith: Stats, templates: Templates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run writes ten services' databases, the copies of a table side by side, while
    its converter runs ahead: at no write do the services' pools hold more than four
    PostgreSQL connections (the server's are shared with everything else), and the
    result is the one a run one table after the other gives."""
    pools: dict[int, Any] = {}
    most = 0
    original = split_run.Writer.write

    async def write(self: split_run.Writer, rows: Any) -> Any:
        nonlocal most
        pools[id(self.db)] = self.db.engine.pool
        held = sum(pool.checkedin() + pool.checkedout() for pool in pools.values())
        most = max(most, held)
        return await original(self, rows)

    original_text = split_run.Writer.write_text

    async def write_text(self: split_run.Writer, *args: Any) -> Any:  # the fast path's writes
        nonlocal most
        pools[id(self.db)] = self.db.engine.pool
        most = max(most, sum(pool.checkedin() + pool.checkedout() for pool in pools.values()))
        return await original_text(self, *args)

    monkeypatch.setattr(split_run.Writer, "write", write)
    monkeypatch.setattr(split_run.Writer, "write_text", write_text)
    monkeypatch.setattr(split_run, "AHEAD", 1)
    pg = make_backend("postgres", tmp_path / "pg")
    prepare(pg, templates)
    try:
        plan_file = tmp_path / "plan.toml"
        plan = hr_plan(monolith, plan_file)
        ran = isles(pg, "split", "run", "--plan", str(plan_file), str(monolith.path), "--batch", "20")
        assert ran.exit_code == 0, ran.output
        assert len(pools) >= 8  # the services written
        assert 1 <= most <= split_run.OPEN_SERVICES
        rejects = read_rejects(tmp_path / "rejects.csv")
        assert Counter((r.table, r.column, r.decision) for r in rejects) == expected_rejects(monolith)
        after = pg_counts(pg)
        skipped = Counter(r.table for r in rejects if r.decision == "skip")
        for name, tp in plan.tables.items():
            assert after[tp.target] == monolith.rows[name] - skipped[name], name
        verified = isles(pg, "split", "verify", "--plan", str(plan_file), str(monolith.path))
        assert verified.exit_code == 0, verified.output
    finally:
        pg.drop_later(SERVICES)


class _SlowPool:
    """A service database whose pool takes a while to close (closing its connections
    waits on the network), counting its pools' connections: ``open`` per pool."""

    is_sqlite = False

    def __init__(self, name: str, log: list[str]) -> None:
        self.service, self.log = name, log
        self.pools = [0]  # connections held by each pool the database had; the last is the engine's
        self.closing = asyncio.Event()

    def connect(self) -> None:
        self.pools[-1] += 1

    async def dispose(self) -> None:
        self.log.append(f"dispose {self.service}")
        await self.closing.wait()  # the old pool's connections closing
        self.pools[-1] = 0
        self.pools.append(0)  # a new pool replaces the old one only once they are closed


async def test_a_service_is_not_opened_again_while_its_pool_is_being_closed() -> None:
    """The run closes the pool of the service it used least recently before opening a
    fifth. A write to that very service arriving while the close is under way took a
    connection from the pool being closed, which went back to a pool nobody uses any
    more and stayed open: five connections held (a CI run saw it). Such a write now
    waits for the close to finish and opens the service again."""
    log: list[str] = []
    dbs = {name: _SlowPool(name, log) for name in "abcde"}
    connections = split_run._Connections(dbs)  # type: ignore[arg-type]
    for name in "abcd":
        async with connections.use(name):
            dbs[name].connect()

    async def write(name: str) -> None:
        async with connections.use(name):
            log.append(f"write {name}")
            dbs[name].connect()

    fifth = asyncio.create_task(write("e"))  # closes a's pool: the least recently used
    await asyncio.sleep(0.01)
    assert log == ["dispose a"]
    again = asyncio.create_task(write("a"))  # a, while its pool is being closed
    await asyncio.sleep(0.01)
    assert "write a" not in log, "no write to a service whose pool is being closed"
    dbs["a"].closing.set()
    dbs["b"].closing.set()
    await asyncio.gather(fifth, again)
    assert log.index("write a") > log.index("dispose a")
    assert dbs["a"].pools[:-1] == [0], "the old pool holds no connection"
    held = sum(db.pools[-1] for db in dbs.values())
    assert held <= split_run.OPEN_SERVICES
