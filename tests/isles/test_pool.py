"""The connection pool of a service's PostgreSQL database: sized for a busy service,
and it pings a connection only after it sat idle (no extra round trip per transaction),
replacing one that died meanwhile."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from isles.core.settings import IslesSettings, PoolSettings
from isles.storage.db import ServiceDatabase, connect_waiting, drop_postgres_database, resolve_pool
from tests.support import PG_SERVER, require_postgres


def test_defaults_keep_ten_connections_and_ping_after_ten_idle_seconds(tmp_path: Path) -> None:
    settings = IslesSettings(data_dir=tmp_path)
    assert resolve_pool("employee", settings, {}) == PoolSettings(
        size=10, max_overflow=10, timeout=30.0, recycle=1800.0, ping_idle=10.0
    )
    env = {"ISLES_EMPLOYEE_POOL_PING_IDLE": "0"}
    assert resolve_pool("employee", settings, env).ping_idle == 0.0
    assert resolve_pool("project", IslesSettings(data_dir=tmp_path, pool_ping_idle=2.5), env).ping_idle == 2.5


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[ServiceDatabase]:
    require_postgres()
    url = f"{PG_SERVER}/isles_t_{uuid.uuid4().hex[:12]}_pool"
    db = ServiceDatabase("pool", url, IslesSettings(data_dir=tmp_path), PoolSettings(size=2, ping_idle=0.2))
    await db.ensure_exists()
    try:
        yield db
    finally:
        await db.dispose()
        await drop_postgres_database(make_url(url))


def count_pings(db: ServiceDatabase) -> list[int]:
    pings = [0]
    dialect: Any = db.engine.dialect
    real = dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings[0] += 1
        return bool(real(dbapi_connection))

    dialect.do_ping = counted
    return pings


async def backend_pid(db: ServiceDatabase) -> int:
    async with db.writing() as session, session.begin():
        return int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())


@pytest.mark.postgres
async def test_a_connection_in_steady_use_is_not_pinged(database: ServiceDatabase) -> None:
    pings = count_pings(database)
    pids = {await backend_pid(database) for _ in range(5)}
    assert len(pids) == 1  # the same pooled connection each time
    assert pings[0] == 0


@pytest.mark.postgres
async def test_a_connection_that_died_while_idle_is_replaced_before_use(database: ServiceDatabase) -> None:
    import asyncpg

    pings = count_pings(database)
    first = await backend_pid(database)
    admin = await asyncpg.connect(
        make_url(PG_SERVER).set(drivername="postgresql", database="postgres").render_as_string()
    )
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", first)
    finally:
        await admin.close()
    await asyncio.sleep(0.3)  # idle past ping_idle

    second = await backend_pid(database)  # no error: the dead connection was replaced
    assert second != first
    assert pings[0] >= 1


@pytest.mark.postgres
async def test_a_server_with_no_connection_to_spare_is_waited_for_up_to_the_pool_timeout(tmp_path: Path) -> None:
    """PostgreSQL refuses a connection past its limit (SQLSTATE 53300, here a role's
    CONNECTION LIMIT 1): a new connection is tried again with the backoff until one is
    free, within the pool's timeout; past it, the error comes through."""
    import asyncpg

    require_postgres()
    role = f"isles_t_full_{uuid.uuid4().hex[:8]}"
    admin = make_url(PG_SERVER).set(drivername="postgresql", database="postgres").render_as_string(False)
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 1')
    url = make_url(PG_SERVER).set(username=role, database="postgres")
    holder = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(False))
    settings = IslesSettings(data_dir=tmp_path)
    dbs: list[ServiceDatabase] = []

    async def query(pool_timeout: float) -> float:
        db = ServiceDatabase("full", url.render_as_string(False), settings, PoolSettings(size=1, timeout=pool_timeout))
        dbs.append(db)
        started = asyncio.get_running_loop().time()
        async with db.engine.connect() as c:
            assert (await c.execute(text("SELECT current_user"))).scalar() == role
        return asyncio.get_running_loop().time() - started

    dsn = url.set(drivername="postgresql").render_as_string(False)
    try:
        with pytest.raises(Exception, match="too many connections"):
            await query(pool_timeout=0.5)  # nobody lets go: the error, after the wait
        # The administration's connections (create, drop, look) wait alike.
        with pytest.raises(asyncpg.TooManyConnectionsError):
            await connect_waiting(dsn, wait=0.3)
        waiting = asyncio.create_task(query(pool_timeout=10.0))
        await asyncio.sleep(0.6)
        assert not waiting.done(), "it waits while the server is full"
        await holder.close()
        assert await asyncio.wait_for(waiting, 10) >= 0.6
        for db in dbs:
            await db.dispose()
        blocker = await connect_waiting(dsn)
        admin_waits = asyncio.create_task(connect_waiting(dsn, wait=10.0))
        await asyncio.sleep(0.3)
        assert not admin_waits.done()
        await blocker.close()
        await (await asyncio.wait_for(admin_waits, 10)).close()
    finally:
        for db in dbs:
            await db.dispose()
        if not holder.is_closed():
            await holder.close()
        await conn.execute(f'DROP ROLE "{role}"')
        await conn.close()
