"""The figure cache (issue 23's ``metrics_cache``), in the process and in Redis, on
SQLite and PostgreSQL: a figure is computed once and served again until an event
that changes it has been applied — then never the old one; events that do not change
it (another company's, another kind) leave it cached; hits and misses are counted."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hrms.contracts.company import TeamCreated
from hrms.services.analytics.archive import ARCHIVE
from isles.clients.cache import MemoryStore, RedisStore
from isles.core.events import Envelope
from isles.core.settings import CacheSettings
from isles.runtime.system import SystemRuntime
from tests.conftest import hr_system
from tests.hrms.analytics.test_headcount import HISTORY, B, C, D, deliver, hire
from tests.support import Backend, Templates, require_redis

pytestmark = [pytest.mark.integration, pytest.mark.services("analytics")]


@pytest.fixture(params=["memory", "redis"])
async def cached(
    request: pytest.FixtureRequest, backend: Backend, templates: Templates
) -> AsyncIterator[tuple[SystemRuntime, httpx.AsyncClient]]:
    url = require_redis() if request.param == "redis" else ""
    settings = backend.settings.model_copy(update={"cache": CacheSettings(url=url, ttl=60)})
    system = hr_system(request)
    await templates.clone(system, backend)
    runtime = SystemRuntime(system, settings, environ={})
    await runtime.start()
    try:
        async with runtime.client() as client:
            yield runtime, client
    finally:
        await runtime.stop()
        backend.drop_later(runtime.services)


async def headcount(api: httpx.AsyncClient) -> tuple[str, list[int], dict[str, Any]]:
    r = await api.get(f"/api/analytics/companies/{C}/headcount", params={"from": "2026-01-01", "to": "2026-06-30"})
    assert r.status_code == 200, r.text
    body = r.json()
    return r.headers["Cache-Status"], [p["headcount"] for p in body["points"]], body


def team(company: uuid.UUID) -> Envelope:
    event = TeamCreated(id=uuid.uuid4(), company_id=company, name="Platform", department_id=B)
    env = Envelope.new(
        event,
        source="/isles/company",
        aggregate_type="team",
        aggregate_id=str(event.id),
        aggregate_version=1,
        tenant_id=str(company),
    )
    return dataclasses.replace(env)


async def test_figures_are_cached_until_an_event_changes_them(cached: tuple[SystemRuntime, httpx.AsyncClient]) -> None:
    rt, api = cached
    cache = rt["analytics"].cache
    expected_backend = RedisStore if rt.settings.cache.url else MemoryStore
    assert isinstance(cache.store, expected_backend)
    await deliver(rt, HISTORY)

    status, series, first = await headcount(api)
    assert status == "isles; fwd=miss; stored"
    assert series == [2, 3, 3, 2, 3, 2]
    status, _, again = await headcount(api)
    assert status == "isles; hit"
    assert again == first

    await deliver(rt, [hire(uuid.uuid4(), "2026-02-01", None, company=D)])  # another company's hire
    await deliver(rt, [team(C)])  # an event of the company the headcount does not follow
    status, series, _ = await headcount(api)
    assert status == "isles; hit"
    assert series == [2, 3, 3, 2, 3, 2]

    await deliver(rt, [hire(uuid.uuid4(), "2026-03-10", B)])  # the company's own hire
    status, series, _ = await headcount(api)
    assert status == "isles; fwd=miss; stored"  # never the old figure once the event is applied
    assert series == [2, 3, 4, 3, 4, 3]

    await ARCHIVE.rebuild(rt["analytics"].db, "headcount")  # a new generation: new keys
    status, rebuilt, _ = await headcount(api)
    assert status == "isles; fwd=miss; stored"
    assert rebuilt == series

    assert (cache.hits, cache.misses) == (2, 3)
    text = (await rt.metrics_text()).decode()
    backend = cache.store.backend
    assert f'isles_cache_requests_total{{backend="{backend}",result="hit",service="analytics"}} 2.0' in text
    assert f'isles_cache_requests_total{{backend="{backend}",result="miss",service="analytics"}} 3.0' in text


async def test_stopping_the_system_closes_its_redis_connections(
    backend: Backend, templates: Templates, request: pytest.FixtureRequest
) -> None:
    settings = backend.settings.model_copy(update={"cache": CacheSettings(url=require_redis())})
    system = hr_system(request)
    await templates.clone(system, backend)
    rt = SystemRuntime(system, settings, environ={})
    await rt.start()
    try:
        await deliver(rt, HISTORY)
        async with rt.client() as api:
            await headcount(api)
            await headcount(api)
        store = rt["analytics"].cache.store
        assert isinstance(store, RedisStore)
        pool = store.client.connection_pool
        assert pool._get_free_connections() or pool._get_in_use_connections(), "the cache used a connection"
    finally:
        await rt.stop()
        backend.drop_later(rt.services)
    connections = [*pool._get_free_connections(), *pool._get_in_use_connections()]
    assert not any(c.is_connected for c in connections), "a Redis connection is left open"


async def test_a_cache_that_is_down_is_a_miss_not_an_error(
    backend: Backend, templates: Templates, request: pytest.FixtureRequest
) -> None:
    settings = backend.settings.model_copy(update={"cache": CacheSettings(url="redis://127.0.0.1:1/0")})
    system = hr_system(request)
    await templates.clone(system, backend)
    rt = SystemRuntime(system, settings, environ={})
    await rt.start()
    try:
        await deliver(rt, HISTORY)
        async with rt.client() as api:
            for _ in range(2):
                status, series, _ = await headcount(api)
                assert status == "isles; fwd=miss; stored"
                assert series == [2, 3, 3, 2, 3, 2]
        assert rt["analytics"].cache.misses == 2
    finally:
        await rt.stop()
        backend.drop_later(rt.services)
