"""Failpoints: named places in the platform where a fault test makes a process fail or die.

The saga runner hits a failpoint between every two writes of a saga's life
(``saga.<type>.<step>.before|after|done``, ``...undo.before|after|done``), so a test
can kill the process at each point and check what a restart makes of it.

Off unless configured: in-process with :func:`configure`, or for a real process with
``ISLES_FAILPOINTS="name=action,..."``, read once at start. Actions:

* ``kill`` — SIGKILL this process (no shutdown code runs)
* ``raise`` / ``raise:N`` — raise :class:`FailpointError` (every time / the first N times)
* ``refuse`` — raise a :class:`FailpointError` marked *definite*: the operation says no
* ``sleep:S`` — wait S seconds
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Mapping

_active: dict[str, str] = {}
_hits: dict[str, int] = {}


class FailpointError(Exception):
    """Raised at a failpoint. ``definite``: a refusal, not a fault that might pass."""

    def __init__(self, name: str, *, definite: bool = False) -> None:
        super().__init__(f"failpoint {name}")
        self.name = name
        self.definite = definite


def _parse(spec: str) -> dict[str, str]:
    points: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, action = item.partition("=")
        kind, _, arg = action.partition(":")
        if not sep or not name or kind not in ("kill", "raise", "refuse", "sleep"):
            raise ValueError(f"failpoint {item!r}: expected name=kill|raise[:N]|refuse|sleep:S")
        if arg:
            float(arg)  # a ValueError names the bad number
        points[name] = action
    return points


def configure(spec: str | Mapping[str, str]) -> None:
    """Replace the active failpoints (a spec string or a name -> action mapping)."""
    points = _parse(spec) if isinstance(spec, str) else _parse(",".join(f"{k}={v}" for k, v in spec.items()))
    _active.clear()
    _hits.clear()
    _active.update(points)


def clear() -> None:
    configure({})


def hits(name: str) -> int:
    """How many times the configured failpoint ``name`` was reached since :func:`configure`."""
    return _hits.get(name, 0)


async def hit(name: str) -> None:
    """Act out the failpoint ``name`` if one is configured; otherwise nothing."""
    if not _active:
        return
    action = _active.get(name)
    if action is None:
        return
    count = _hits[name] = _hits.get(name, 0) + 1
    kind, _, arg = action.partition(":")
    if kind == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif kind == "sleep":
        await asyncio.sleep(float(arg))
    elif kind == "refuse":
        raise FailpointError(name, definite=True)
    elif not arg or count <= int(float(arg)):
        raise FailpointError(name)
