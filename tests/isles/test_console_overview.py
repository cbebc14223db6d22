"""The overview's charts: the samples kept (an hour's worth), the rates computed from
the counters, the sparklines' points."""

from __future__ import annotations

from typing import Any

from isles.console.overview import HOUR, History, ServiceStatus, sparkline


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
