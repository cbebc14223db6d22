"""``drop_postgres_databases``: several databases dropped side by side (a DROP DATABASE
waits for a checkpoint; drops in flight together share one), ``at_once`` at most, every
drop tried before a failure is raised. One scenario: each drop waits for a checkpoint,
tens of seconds when the suite loads the server."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.engine import make_url

from isles.storage.db import DatabaseConfigError, drop_postgres_databases
from tests.support import HeldDrops, require_postgres

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


async def test_drops_run_side_by_side_at_most_at_once_and_every_one_is_tried() -> None:
    require_postgres()
    held = HeldDrops(3)
    await held.hold()
    bad = make_url(held.urls[0]).set(database="bad name;")
    try:
        dropping = asyncio.create_task(drop_postgres_databases([bad, *(make_url(u) for u in held.urls)], at_once=2))
        seen = await held.in_flight(within=3.0)
    finally:
        await held.release()
    with pytest.raises(DatabaseConfigError, match="unusual database name"):
        await asyncio.wait_for(dropping, 300)
    assert len(seen) == 2, f"{sorted(seen)} in flight: two side by side, no more, were expected"
    assert await held.left() == [], "the other drops were done before the failure was raised"
