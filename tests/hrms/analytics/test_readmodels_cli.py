"""``isles readmodels``: list and rebuild, on SQLite and PostgreSQL; a wrong name is
one line and exit code 2."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner, Result

from hrms.system import build as build_hrms
from isles.cli.main import app
from isles.runtime.system import SystemRuntime
from tests.hrms.analytics.test_headcount import HISTORY
from tests.support import Backend, Templates

pytestmark = [pytest.mark.integration]


def isles(backend: Backend, *args: str) -> Result:
    env = {"ISLES_DATA_DIR": str(backend.settings.data_dir), "COLUMNS": "200", "ISLES_SYSTEM": "hrms.system:build"}
    if backend.settings.database_url:
        env["ISLES_DATABASE_URL"] = backend.settings.database_url
    return CliRunner().invoke(app, list(args), env=env)


async def _archive_history(backend: Backend, templates: Templates) -> None:
    system = build_hrms()
    await templates.clone(system, backend)
    runtime = SystemRuntime(system, backend.settings, environ={})
    try:
        await runtime.start(relays=False, sagas=False)
        consumer = runtime["analytics"].consumer
        assert consumer is not None
        for env in HISTORY:
            await consumer.deliver(env)
    finally:
        await runtime.stop()


def test_list_and_rebuild(backend: Backend, templates: Templates) -> None:
    asyncio.run(_archive_history(backend, templates))
    try:
        listed = isles(backend, "readmodels", "list")
        assert listed.exit_code == 0, listed.output
        assert "analytics.headcount" in listed.output
        assert "live events" in listed.output
        assert f"{len(HISTORY)} event(s)" in listed.output  # the archive's size

        rebuilt = isles(backend, "readmodels", "rebuild", "analytics.headcount")
        assert rebuilt.exit_code == 0, rebuilt.output
        assert f"generation 2 built from {len(HISTORY)} event(s)" in rebuilt.output
        again = isles(backend, "readmodels", "list")
        (row,) = [line for line in again.output.splitlines() if "analytics.headcount" in line]
        assert f"{len(HISTORY)} event(s)" in row
        assert "live events" not in row
        assert "2" in row.split("│")[3]  # generation 2

        wrong = isles(backend, "readmodels", "rebuild", "analytics.nope")
        assert wrong.exit_code == 2
        assert "no read model 'analytics.nope'" in wrong.output
        assert "analytics.headcount" in wrong.output
        helped = isles(backend, "readmodels", "rebuild", "--help")
        assert "isles readmodels rebuild analytics.headcount" in helped.output
    finally:
        backend.drop_later([s.name for s in build_hrms().services])  # a drop waits for a checkpoint
