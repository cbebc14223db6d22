"""The platform's password hashing: Argon2id with the parameters the settings give
(``ISLES_PASSWORD_*``), applied by the runtime; a hash of other parameters is flagged
for re-making; nothing and the no-password marker never match."""

from __future__ import annotations

from pathlib import Path

from isles.core.settings import IslesSettings
from isles.runtime.system import SystemRuntime
from isles.security.passwords import NO_PASSWORD_PREFIX, Passwords, passwords
from tests.isles.toy import build as build_system


async def test_hashes_verify_and_carry_their_parameters() -> None:
    cheap = Passwords(time_cost=1, memory_kib=64, parallelism=1)
    made = await cheap.hash("correct horse battery")
    assert made.startswith("$argon2id$")
    assert "m=64,t=1,p=1" in made
    assert await cheap.verify(made, "correct horse battery")
    assert not await cheap.verify(made, "wrong horse battery")
    assert not await cheap.verify(None, "correct horse battery")
    marker = await cheap.hash(None)
    assert marker.startswith(NO_PASSWORD_PREFIX)
    assert not await cheap.verify(marker, "")
    assert not cheap.needs_rehash(made)
    assert Passwords().needs_rehash(made), "the default parameters differ: re-made at the next login"
    assert not cheap.needs_rehash(marker)


def test_the_defaults_are_rfc_9106s_low_memory_profile() -> None:
    settings = IslesSettings(_env_file=None).password  # type: ignore[call-arg]
    assert (settings.time_cost, settings.memory_kib, settings.parallelism) == (3, 65536, 4)


async def test_the_runtime_applies_the_settings(tmp_path: Path) -> None:
    settings = IslesSettings(data_dir=tmp_path, password_time_cost=2, password_memory_kib=128, password_parallelism=1)
    SystemRuntime(build_system(), settings, environ={})
    try:
        assert "m=128,t=2,p=1" in await passwords.hash("x" * 12)
    finally:
        passwords.configure(time_cost=1, memory_kib=64, parallelism=1)  # as the other tests run
