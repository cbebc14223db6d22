"""``isles up --distributed``: every service as its own ``isles serve`` process, kept
running (a process that dies is started again), with the gateway in front."""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import httpx
import structlog

from isles.core.backoff import Backoff

log = structlog.get_logger("isles.supervisor")
_RESTART = Backoff(1.0, 30.0, jitter=False)  # a child that keeps exiting soon after it starts

_PR_SET_PDEATHSIG = 1


def _death_signal() -> Callable[[], None] | None:
    """What a child runs before exec (Linux): get SIGTERM, a graceful stop, when the
    supervisor dies, even by SIGKILL, instead of running on as an orphan holding its
    port. ``prctl`` is looked up here, in the parent, so the child only calls it."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def die_with_parent() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return die_with_parent


@dataclass
class Child:
    service: str
    port: int
    args: Sequence[str]
    env: Mapping[str, str]
    proc: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Supervisor:
    """Starts the children, restarts one that exits (backing off if it keeps dying),
    and stops them all with SIGTERM (then SIGKILL after ``grace`` seconds). If the
    supervisor itself is killed, the children get SIGTERM (Linux)."""

    def __init__(self, children: Sequence[Child], *, grace: float = 15.0, log_dir: str | None = None) -> None:
        self.children = list(children)
        self._grace = grace
        self._log_dir = log_dir
        self._stopping = False
        self._watchers: list[asyncio.Task[None]] = []
        self._preexec = _death_signal()

    async def _spawn(self, child: Child) -> None:
        out: int | None = None
        if self._log_dir:
            os.makedirs(self._log_dir, exist_ok=True)
            out = os.open(os.path.join(self._log_dir, f"{child.service}.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        child.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "isles.cli",
            *child.args,
            env={**os.environ, **child.env},
            stdout=out if out is not None else asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.STDOUT,
            preexec_fn=self._preexec,
        )
        if out is not None:
            os.close(out)
        child.started_at = time.monotonic()

    async def start(self) -> None:
        for child in self.children:
            await self._spawn(child)
            self._watchers.append(asyncio.create_task(self._watch(child), name=f"watch:{child.service}"))

    async def _watch(self, child: Child) -> None:
        quick_exits = 0  # exits in a row, each soon after its start
        while not self._stopping:
            assert child.proc is not None
            code = await child.proc.wait()
            if self._stopping:
                return
            lived = time.monotonic() - child.started_at
            quick_exits = 0 if lived > 30 else quick_exits + 1
            delay = _RESTART.delay(quick_exits) if quick_exits else 0.5
            log.error("supervisor.child_exited", service=child.service, code=code, restart_in=delay)
            await asyncio.sleep(delay)
            if self._stopping:
                return
            child.restarts += 1
            await self._spawn(child)

    async def wait_ready(self, timeout: float = 60.0) -> None:  # noqa: ASYNC109 - a bound for callers
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            for child in self.children:
                while True:
                    try:
                        if (await client.get(f"{child.url}/ready")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{child.service} was not ready within {timeout:.0f}s")
                    await asyncio.sleep(0.2)

    async def stop(self) -> None:
        self._stopping = True
        for task in self._watchers:
            task.cancel()
        for child in self.children:
            if child.proc is not None and child.proc.returncode is None:
                child.proc.terminate()
        for child in self.children:
            if child.proc is None:
                continue
            try:
                await asyncio.wait_for(child.proc.wait(), self._grace)
            except TimeoutError:
                child.proc.kill()
                await child.proc.wait()
