from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from hrms.system import build as build_hrms
from isles.logging import configure
from isles.runtime import SystemRuntime
from tests.support import Backend, make_backend

configure("critical")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return make_backend(request.param, tmp_path)


@pytest.fixture
async def hrms(backend: Backend) -> AsyncIterator[SystemRuntime]:
    runtime = SystemRuntime(build_hrms(), backend.settings, environ={})
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()
        await backend.drop(runtime.services)


@pytest.fixture
async def api(hrms: SystemRuntime) -> AsyncIterator[httpx.AsyncClient]:
    async with hrms.client() as client:
        yield client
