"""Passwords: Argon2id hashes, made and checked off the event loop.

One :data:`passwords` per process, tuned from the settings' ``password`` group when
the system starts (``ISLES_PASSWORD_TIME_COST``, ``_MEMORY_KIB``, ``_PARALLELISM``).
A login service (the HR system's ``auth``, the shop's ``user``) hashes with
:meth:`Passwords.hash`, checks with :meth:`Passwords.verify` — which costs the same
for an unknown user as for a wrong password (no enumeration by timing) — and re-makes
a hash made with other parameters (:meth:`Passwords.needs_rehash`) at the next login.
"""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

#: A stored hash that no password matches (a user who has not chosen one yet).
NO_PASSWORD_PREFIX = "!"


class Passwords:
    """Argon2id with one set of parameters (see :meth:`configure`)."""

    def __init__(self, *, time_cost: int = 3, memory_kib: int = 65536, parallelism: int = 4) -> None:
        self.configure(time_cost=time_cost, memory_kib=memory_kib, parallelism=parallelism)

    def configure(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        """Use these parameters from now on (hashes made before still verify)."""
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
        self._dummy: str | None = None

    def _dummy_hash(self) -> str:
        """Checked against when there is no hash to check, so that costs what a wrong
        password costs. Made on first use (a hash takes a noticeable fraction of a
        second at the default cost, which importing must not pay)."""
        if self._dummy is None:
            self._dummy = self._hasher.hash(secrets.token_hex(16))
        return self._dummy

    async def hash(self, password: str | None) -> str:
        """The Argon2id hash of ``password``; None: a marker no password matches."""
        if password is None:
            return NO_PASSWORD_PREFIX + secrets.token_hex(16)
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches ``password_hash`` (None or the no-password
        marker: never, after the same work as a real check)."""
        real = bool(password_hash) and not str(password_hash).startswith(NO_PASSWORD_PREFIX)
        candidate = str(password_hash) if real else self._dummy_hash()
        try:
            matched = await asyncio.to_thread(self._hasher.verify, candidate, password)
        except (VerificationError, InvalidHashError):
            return False
        return matched and real

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether the hash was made with other parameters than today's."""
        if password_hash.startswith(NO_PASSWORD_PREFIX):
            return False
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True


#: The process's password hashing (configured from the settings by the runtime).
passwords = Passwords()

__all__ = ["NO_PASSWORD_PREFIX", "Passwords", "passwords"]
