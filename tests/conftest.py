from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from hrms.system import build as build_hrms
from isles import System
from isles.core.logging import configure
from isles.runtime.system import SystemRuntime
from tests.s3 import moto_server
from tests.support import Backend, Templates, hand_over_drops, make_backend

configure("critical")


@pytest.fixture(autouse=True)
def _own_state_file(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test (and each process it starts) has its own place for what `isles up`
    records: no test finds the system another one (or a developer's `make up`) ran."""
    monkeypatch.setenv("ISLES_STATE_FILE", str(tmp_path_factory.mktemp("state") / "current.json"))
    # Every process a test starts (isles up, isles serve, a benchmark) closes the pooled
    # connections it has not used for 2 s (the default is a minute): four workers'
    # tests share the server's 100 connections (docs/testing.md).
    monkeypatch.setenv("ISLES_POOL_IDLE_TIMEOUT", "2")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return make_backend(request.param, tmp_path)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server, one per test process (each test makes its own bucket)."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    made = Templates(tmp_path_factory.mktemp("templates"))
    yield made
    hand_over_drops(made.urls())


#: The services every test of the HR system runs; a test about another one names it
#: with ``@pytest.mark.services("leave")`` (``"all"``: every service of the system).
CORE = ("auth", "company", "employee", "project", "notification")


def hr_system(request: pytest.FixtureRequest) -> System:
    """The HR system a test runs: the core services and those its ``services`` marker
    names. Fewer services, fewer databases to copy and consumers to wait for: the
    workforce services' tests run them, and the tests about the whole system (the
    security matrix, schemathesis, the flows across services) run every one."""
    full = build_hrms()
    marker = request.node.get_closest_marker("services")
    wanted = set(marker.args) if marker is not None else set()
    if "all" in wanted:
        return full
    unknown = wanted - {s.name for s in full.services}
    assert not unknown, f"no HR service {unknown}"
    extra = sorted(wanted - set(CORE))
    kept = [s for s in full.services if s.name in CORE or s.name in wanted]
    return System(name="-".join(["hrms-core", *extra]), services=kept, demo=full.demo)


@pytest.fixture
async def hrms(backend: Backend, templates: Templates, request: pytest.FixtureRequest) -> AsyncIterator[SystemRuntime]:
    """The HR system on databases of the test's own (copied from migrated templates):
    its core services, and those the test's ``services`` marker names."""
    system = hr_system(request)
    await templates.clone(system, backend)
    runtime = SystemRuntime(system, backend.settings, environ={})
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()
        backend.drop_later(runtime.services)


@pytest.fixture
async def api(hrms: SystemRuntime) -> AsyncIterator[httpx.AsyncClient]:
    async with hrms.client() as client:
        yield client


@pytest.fixture
async def shop(backend: Backend, templates: Templates) -> AsyncIterator[SystemRuntime]:
    """The shop system (user, product, order) on databases of the test's own, copied
    from migrated templates."""
    from shop.system import build as build_shop

    system = build_shop()
    await templates.clone(system, backend)
    runtime = SystemRuntime(system, backend.settings, environ={})
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()
        backend.drop_later(runtime.services)


@pytest.fixture
async def shop_api(shop: SystemRuntime) -> AsyncIterator[httpx.AsyncClient]:
    async with shop.client() as client:
        yield client


# Tests that count what they tried (the security matrix, schemathesis) record a
# "summary" property; the lines are printed at the end of the run, workers included.
_summaries: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _summaries.extend(str(value) for name, value in report.user_properties if name == "summary")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _summaries:
        terminalreporter.section("what the security tests tried")
        for line in sorted(_summaries):
            terminalreporter.write_line(line)
