"""The overview's charts: the samples kept (an hour's worth), the rates computed from
the counters, the sparklines' points."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi import FastAPI

from isles.console.overview import HOUR, History, ServiceStatus, sparkline
from tests.support import Backend, Templates


def status(name: str, published: float, applied: float, backlog: int = 0) -> ServiceStatus:
    return ServiceStatus(name, healthy=True, backlog=backlog, published=published, applied=applied, lag=0)


def test_rates_come_from_the_counters_between_two_samples() -> None:
    history = History(Any, every=10.0)  # type: ignore[arg-type]
    history.add([status("a", 0, 0)], at=1000.0)
    history.add([status("a", 50, 20, backlog=3)], at=1010.0)
    assert history.latest_rates("a") == (5.0, 2.0)
    assert history.series("a", "backlog") == [(1000.0, 0.0), (1010.0, 3.0)]
    history.add([status("a", 10, 20)], at=1020.0)  # a counter that went back (a restart): no negative rate
    assert history.latest_rates("a") == (0.0, 0.0)


def test_an_hour_of_samples_is_kept() -> None:
    history = History(Any, every=10.0)  # type: ignore[arg-type]
    for i in range(400):
        history.add([status("a", i, i)], at=float(i * 10))
    assert len(history.samples) == 360
    assert history.samples[0].at == 400.0


def test_sparkline_points_span_the_hour() -> None:
    now = 10_000.0
    assert sparkline([], now=now) == ""
    assert sparkline([(now, 1.0)], now=now) == "118.0,2.0 120.0,2.0", "one sample: a short dash"
    points = sparkline([(now - HOUR, 0.0), (now - HOUR / 2, 2.0), (now, 4.0)], now=now)
    assert points == "0.0,26.0 60.0,14.0 120.0,2.0"
    old = sparkline([(now - 2 * HOUR, 1.0), (now, 1.0)], now=now)
    assert old.startswith("0.0,"), "older than the hour: at its left edge"


@pytest.mark.integration
async def test_the_sampler_stops_with_the_runtime_before_its_engines_go(backend: Backend, templates: Templates) -> None:
    """The console's sampler reads every service's database on a timer of its own: the
    runtime's stop ends it first (``on_stop``), not after the engines are disposed (a
    round then opened a connection on a disposed engine that nobody closed: an
    aiosqlite connection collected unclosed in a later test of a clean-clone run)."""
    from isles.console import install
    from isles.runtime.system import SystemRuntime
    from tests.hrms.cluster import core

    system = core()
    await templates.clone(system, backend)
    runtime = SystemRuntime(system, backend.settings, environ={})
    await runtime.start()
    try:
        hooks = len(runtime._on_stop)  # the gateway's own console's, already
        assert hooks >= 1
        assert install(FastAPI(), runtime)
        assert len(runtime._on_stop) == hooks + 1, "a console registers its sampler's stop"
        history = History(runtime, every=0.05)
        runtime.on_stop(history.stop)
        history.ensure_running()
        for _ in range(200):
            if len(history.samples) >= 2:
                break
            await asyncio.sleep(0.05)
        assert len(history.samples) >= 2, "the sampler takes its samples"
        task = history._task
        assert task is not None
        assert not task.done()
    finally:
        await runtime.stop()
        backend.drop_later(runtime.services)
    assert task.cancelled(), "stopped by the runtime's stop"
    assert history._task is None
