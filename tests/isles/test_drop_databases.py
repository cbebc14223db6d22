"""``drop_postgres_databases``: several databases dropped side by side (a DROP DATABASE
waits for a checkpoint; drops in flight together share one)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.engine import make_url

from isles.storage.db import drop_postgres_databases
from tests.support import HeldDrops, require_postgres

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


async def test_the_drops_are_in_flight_together_and_every_database_goes() -> None:
    require_postgres()
    held = HeldDrops(4)
    await held.hold()
    try:
        dropping = asyncio.create_task(drop_postgres_databases([make_url(u) for u in held.urls], at_once=4))
        seen = await held.in_flight()
    finally:
        await held.release()
    await asyncio.wait_for(dropping, 300)
    assert seen == set(held.names), f"only {sorted(seen)} of {len(held.names)} drops were in flight at once"
    assert await held.left() == []


async def test_at_once_bounds_the_connections() -> None:
    require_postgres()
    held = HeldDrops(3)
    await held.hold()
    try:
        dropping = asyncio.create_task(drop_postgres_databases([make_url(u) for u in held.urls], at_once=2))
        seen = await held.in_flight(within=3.0)
    finally:
        await held.release()
    await asyncio.wait_for(dropping, 300)
    assert len(seen) == 2, f"{sorted(seen)} in flight; at most two were allowed"
    assert await held.left() == []


async def test_a_failed_drop_is_raised_after_the_others_are_dropped() -> None:
    require_postgres()
    held = HeldDrops(2)
    await held.hold()
    await held.release()
    urls = [make_url(held.urls[0]), make_url(held.urls[1]).set(database="bad name;"), make_url(held.urls[1])]
    with pytest.raises(Exception, match="unusual database name"):
        await drop_postgres_databases(urls)
    assert await held.left() == []
