"""The overview's numbers: each service's health, readiness, outbox, consumer lag,
dead letters and event rates, and the samples of the last hour the gateway keeps in
memory (one every :data:`SAMPLE_SECONDS`) for the small charts."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import func, select

from isles.console.system import ConsoleService, ConsoleSystem, ServiceProcesses
from isles.storage.schema import dead_letters_table

log = structlog.get_logger("isles.console")

SAMPLE_SECONDS = 10.0
HOUR = 3600.0
#: The series each service has a chart of.
SERIES = ("backlog", "lag", "dead_letters", "published_rate", "applied_rate")


@dataclass
class ServiceStatus:
    name: str
    healthy: bool = False
    health: str = ""  # "ok", or the database's error
    ready: bool = False
    backlog: int | None = None
    oldest_unpublished: float | None = None
    lag: int | None = None
    dead_letters: int | None = None
    published: float = 0.0  # events the relay published since the process started
    applied: float = 0.0  # events the consumer applied since the process started
    counted: bool = True  # False: its process's counters could not be read (no rates this time)
    consumes: bool = False
    sagas: dict[str, int] = field(default_factory=dict)  # status -> count

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "healthy": self.healthy,
            "health": self.health,
            "ready": self.ready,
            "backlog": self.backlog,
            "oldest_unpublished": self.oldest_unpublished,
            "lag": self.lag,
            "dead_letters": self.dead_letters,
            "consumes": self.consumes,
            "sagas": self.sagas,
        }


def _counter_total(system: ConsoleSystem, metric: str, service: str) -> float:
    """The sum of a counter's series of ``service`` (every label value besides)."""
    collector = getattr(system.metrics, metric)
    total = 0.0
    for family in collector.collect():
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels.get("service") == service:
                total += sample.value
    return total


async def _read(rt: ConsoleService, st: ServiceStatus) -> str:
    """Fill ``st`` with what ``rt``'s database says; "" if it could be read, else what went wrong."""
    try:
        async with asyncio.timeout(3):
            await rt.db.ping()
            st.backlog = await rt.outbox.backlog()
            st.oldest_unpublished = round(await rt.outbox.oldest_unpublished_age(), 1)
            async with rt.db.read_session() as session:
                st.dead_letters = int(await session.scalar(select(func.count()).select_from(dead_letters_table)) or 0)
            if rt.sagas is not None:
                for (_saga, status), n in (await rt.sagas.store.counts()).items():
                    st.sagas[status] = st.sagas.get(status, 0) + n
    except Exception as exc:  # the page says what is wrong; it does not fail
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no answer'}"
    return ""


async def _one(system: ConsoleSystem, rt: ConsoleService, bus_ready: bool) -> ServiceStatus:
    st = ServiceStatus(rt.name, consumes=rt.consumer is not None)
    if isinstance(system, ServiceProcesses):
        # A process of its own (the distributed mode): what it says of itself, and
        # whether the gateway could read its database.
        found, problem = await asyncio.gather(system.probe(rt.name), _read(rt, st))
        st.healthy, st.health, st.ready = found.healthy, found.health, found.ready
        if problem:
            st.health += f"; the gateway cannot read its database: {problem}"
        if found.published is None or found.applied is None:
            st.counted = False
        else:
            st.published, st.applied = found.published, found.applied
    else:  # a service of this process: healthy when its database answers
        st.published = _counter_total(system, "relay_published", rt.name)
        st.applied = _counter_total(system, "events_applied", rt.name)
        problem = await _read(rt, st)
        st.healthy, st.health = not problem, problem or "ok"
        st.ready = st.healthy and bus_ready
    if rt.consumer is not None:
        lag = rt.consumer.queued
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                lag = max(lag, await system.bus.lag(rt.name))
        st.lag = lag
    return st


async def statuses(system: ConsoleSystem) -> list[ServiceStatus]:
    bus_ready = system.bus.ready
    return list(await asyncio.gather(*(_one(system, rt, bus_ready) for rt in system.services.values())))


@dataclass(frozen=True)
class Sample:
    at: float
    values: dict[str, dict[str, float]]  # service -> series -> value


class History:
    """The last hour of samples, taken every ``every`` seconds while the system runs
    (started by the console's first request; stopped by the runtime's stop, before
    its engines go: see :meth:`isles.runtime.system.SystemRuntime.on_stop`)."""

    def __init__(self, system: ConsoleSystem, *, every: float = SAMPLE_SECONDS) -> None:
        self.system = system
        self.every = every
        self.samples: deque[Sample] = deque(maxlen=max(2, int(HOUR / every)))
        self._totals: dict[str, tuple[float, float, float]] = {}  # service -> (at, published, applied)
        self._task: asyncio.Task[None] | None = None

    def ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="isles-console-history")

    async def stop(self) -> None:
        """Stop sampling (the runtime's stop calls it before the engines go)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _running(self) -> bool:
        return bool(getattr(self.system, "started", True))

    async def _run(self) -> None:
        while self._running():
            try:
                self.add(await statuses(self.system))
            except Exception as exc:  # a sample missed; the next one comes
                log.warning("console.sample_failed", error=repr(exc))
            await asyncio.sleep(self.every)

    def add(self, found: list[ServiceStatus], at: float | None = None) -> None:
        now = time.time() if at is None else at
        values: dict[str, dict[str, float]] = {}
        for st in found:
            before = self._totals.get(st.name)
            rates = (0.0, 0.0)
            if st.counted:  # else its process did not say: the next sample's rate spans the gap
                self._totals[st.name] = (now, st.published, st.applied)
                if before is not None and now > before[0]:
                    dt = now - before[0]
                    rates = (max(0.0, st.published - before[1]) / dt, max(0.0, st.applied - before[2]) / dt)
            values[st.name] = {
                "backlog": float(st.backlog or 0),
                "lag": float(st.lag or 0),
                "dead_letters": float(st.dead_letters or 0),
                "published_rate": round(rates[0], 3),
                "applied_rate": round(rates[1], 3),
            }
        self.samples.append(Sample(now, values))

    def series(self, service: str, name: str) -> list[tuple[float, float]]:
        return [(s.at, s.values[service][name]) for s in self.samples if service in s.values]

    def latest_rates(self, service: str) -> tuple[float, float]:
        for s in reversed(self.samples):
            if service in s.values:
                return s.values[service]["published_rate"], s.values[service]["applied_rate"]
        return 0.0, 0.0


def sparkline(
    points: list[tuple[float, float]], *, width: int = 120, height: int = 28, now: float | None = None
) -> str:
    """The ``points`` attribute of an SVG polyline: the last hour, left to right,
    scaled to the series' own maximum (one sample: a short dash at its time; none: an
    empty string)."""
    if not points:
        return ""
    if len(points) == 1:
        points = [(points[0][0] - HOUR / 120 * 2, points[0][1]), points[0]]
    end = time.time() if now is None else now
    start = end - HOUR
    top = max(v for _, v in points) or 1.0
    pad = 2
    coords = []
    for at, v in points:
        x = (max(at, start) - start) / HOUR * width
        y = height - pad - (v / top) * (height - 2 * pad)
        coords.append(f"{x:.1f},{y:.1f}")
    return " ".join(coords)
