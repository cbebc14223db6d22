"""The test session's background drops run side by side.

A ``DROP DATABASE`` waits for a checkpoint, and under the suite's load a checkpoint
took 30-44 s (it fsyncs the files of every database made since the last one: 40,000 to
60,000 files, in the server's log). Drops made one after the other waited for one
checkpoint each, so the databases of finished tests piled up, every checkpoint had more
files to sync, and whatever waited for a drop (a benchmark's clean-up, a teardown)
waited minutes. Drops side by side share a checkpoint, and a drop makes the
checkpointer forget the dropped database's files at once, so prompt drops also make the
checkpoints shorter.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.support import Dropper, HeldDrops, require_postgres

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def test_drops_in_the_background_run_side_by_side() -> None:
    """A dropper of its own, as the session's (whose queue holds the drops of the tests
    before this one)."""
    require_postgres()
    held = HeldDrops(4)
    dropper = Dropper()
    futures = []

    async def scenario() -> set[str]:
        await held.hold()
        try:
            futures.extend(dropper.drop(url) for url in held.urls)
            return await held.in_flight()
        finally:
            await held.release()

    seen = asyncio.run(scenario())
    for future in futures:
        future.result(timeout=300)
    assert seen == set(held.names), f"only {sorted(seen)} of {len(held.names)} drops were in flight at once"
    assert asyncio.run(held.left()) == []
