"""The security events log: who did what, when, from where — one JSON line each.

Logins (succeeded, failed, throttled, locked), tokens refused, permissions denied,
role and password changes, key and password rotations are appended to
``ISLES_SECURITY_LOG`` (default ``<data-dir>/security.jsonl``; ``-`` for standard
error) by every process, each line written with one ``write`` on a file opened for
appending, so processes sharing the file never interleave within a line. Each line::

    {"time": "2026-11-28T19:41:32.658Z", "event": "login.failed", "service": "auth",
     "actor": "ada@example.com", "company": null, "ip": "10.0.0.7", ...}

Never a secret: a field whose name says password, token, secret, seed or
authorization is refused when the event is recorded (a ``ValueError`` — a
programming error, caught by the tests), and values are ids, addresses and names.
"""

from __future__ import annotations

import os
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson
import structlog

log = structlog.get_logger("isles.security")

_FORBIDDEN = ("password", "token", "secret", "seed", "authorization", "credential")

#: The events and what each means (docs/security.md lists them).
EVENTS = {
    "login.succeeded": "a user logged in",
    "login.failed": "a wrong address or password",
    "login.throttled": "a login refused while the account is locked",
    "login.locked": "too many failures: the account is locked for a while",
    "token.refused": "a request with a missing, malformed, forged or expired token",
    "permission.denied": "a valid token without the permission a route needs",
    "roles.changed": "a user's roles were replaced",
    "password.changed": "a password was set, changed or reset",
    "keys.generated": "signing keys were made",
    "keys.data_rotated": "isles keys rotate-data made data keys and re-encrypted values",
    "database.passwords_rotated": "isles db provision --rotate gave roles new passwords",
    "nats.keys_rotated": "isles nats auth --rotate gave services new NATS keys",
    "console.signed_in": "the operator signed in to the console (/console)",
    "console.signed_out": "the operator signed out of the console",
    "console.refused": "the console refused a request: no or a bad token, not the operator, a bad CSRF token",
    "console.action": "the operator acted from the console: retried or dropped dead letters, retried a saga, "
    "ran the audit",
}


class SecurityLog:
    """Appends security events to a file (or standard error); thread- and process-safe
    per line."""

    def __init__(self, target: Path | str | None, *, service: str) -> None:
        self.service = service
        self.target = target
        self._shared = _Sink(target)

    def record(
        self,
        event: str,
        *,
        actor: str | None = None,
        company: Any = None,
        ip: str | None = None,
        **detail: Any,
    ) -> None:
        if event not in EVENTS:
            raise ValueError(f"unknown security event {event!r}; known: {sorted(EVENTS)}")
        for name in detail:
            if any(word in name.lower() for word in _FORBIDDEN):
                raise ValueError(f"security event {event}: field {name!r} may hold a secret; never log it")
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "event": event,
            "service": self.service,
            "actor": actor,
            "company": None if company is None else str(company),
            "ip": ip,
            **detail,
        }
        log.info(event, **{k: v for k, v in entry.items() if k not in ("event", "time")})
        self._shared.write(orjson.dumps(entry, default=str) + b"\n")

    def bound(self, service: str) -> SecurityLog:
        """The same log, recording for ``service`` (one file, one lock)."""
        view = object.__new__(SecurityLog)
        view.service, view.target, view._shared = service, self.target, self._shared
        return view

    def close(self) -> None:
        """Close the file (it opens again at the next event)."""
        self._shared.close()


class _Sink:
    def __init__(self, target: Path | str | None) -> None:
        self._target = target
        self._lock = threading.Lock()
        self._fd: int | None = None

    def write(self, line: bytes) -> None:
        if self._target is None:
            return
        if self._target == "-":
            stream: IO[str] = sys.stderr
            stream.write(line.decode())
            stream.flush()
            return
        with self._lock:
            if self._fd is None:
                path = Path(self._target)
                path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.write(self._fd, line)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def read(path: Path) -> list[dict[str, Any]]:
    """The events in a log file, oldest first (tests, tooling)."""
    if not path.is_file():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
