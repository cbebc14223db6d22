"""Where the system lives: ``isles up`` records its data folder, keys, database URL
template, address and process in a small state file (``.isles/current.json`` by
default, ``ISLES_STATE_FILE``), and the other commands (``token``, ``sagas``, ``dlq``,
``migrate``, ``services``, ``keys``) read it when neither a flag nor the environment
says otherwise. So ``isles up --data-dir /tmp/x`` then ``isles token`` works."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: What a state file may set: the settings the other commands need, by their names.
SETTINGS = ("data_dir", "database_url", "keys_dir", "bus", "nats_url")


@dataclass(frozen=True)
class State:
    system: str
    url: str
    pid: int
    data_dir: str
    keys_dir: str
    database_url: str | None = None
    mail_dir: str | None = None
    credentials: str | None = None
    started_at: float = 0.0
    running: bool = True
    #: each service's database URL as the system resolved it (its own
    #: ``ISLES_<SERVICE>_DATABASE_URL`` included): what a restore must not write under
    databases: dict[str, str] | None = None

    @property
    def settings(self) -> dict[str, Any]:
        """The recorded settings, as ``IslesSettings`` names them."""
        values: dict[str, Any] = {"data_dir": self.data_dir, "keys_dir": self.keys_dir}
        if self.database_url:
            values["database_url"] = self.database_url
        return values

    @property
    def alive(self) -> bool:
        """The recording process still runs (this machine's view)."""
        if not self.running:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


class StateError(Exception):
    """The state file exists but cannot be read (one line: what and where)."""


def read(path: Path) -> State | None:
    """The state ``path`` holds; None when there is none."""
    try:
        raw = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"{path}: cannot read the state isles up left: {exc.strerror}") from exc
    try:
        data = json.loads(raw)
        return State(**{k: v for k, v in data.items() if k in State.__dataclass_fields__})
    except (ValueError, TypeError) as exc:
        raise StateError(f"{path}: not a state file isles up wrote ({exc}); delete it or give --data-dir") from exc


def write(path: Path, state: State) -> None:
    """Record ``state`` at ``path`` (readable by this user only: the URL may hold a password)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(asdict(state), fh, indent=2)
    os.replace(tmp, path)


def stopped(path: Path, pid: int) -> None:
    """Mark the state ``pid`` recorded as stopped (its data stays where it was)."""
    try:
        state = read(path)
    except StateError:
        return
    if state is not None and state.pid == pid:
        write(path, State(**{**asdict(state), "running": False}))
