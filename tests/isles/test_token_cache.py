"""A verified token is remembered until it expires: the signature is checked once per
token, never past its lifetime, and never for another string than the one verified."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from isles.security.tokens import IDENTITY_PROVIDER, OPERATOR, InvalidToken, KeyRing, TokenVerifier, generate_keys


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def keys(tmp_path: Path) -> KeyRing:
    generate_keys(tmp_path, [IDENTITY_PROVIDER, OPERATOR])
    return KeyRing.load(tmp_path, signers=[IDENTITY_PROVIDER, OPERATOR])


def test_a_remembered_token_still_expires_on_time(keys: KeyRing) -> None:
    clock = Clock()
    verifier = TokenVerifier(keys, leeway=5, clock=clock)
    token = keys.signer(OPERATOR, ttl=60).issue(subject="operator", tenant=None)
    principal = verifier.verify(token)
    assert verifier.verify(token) is principal  # the second time from memory

    clock.now = principal.expires_at + 4  # within the leeway, as PyJWT allows
    assert verifier.verify(token) is principal
    clock.now = principal.expires_at + 5
    with pytest.raises(InvalidToken) as refused:
        verifier.verify(token)
    assert refused.value.code == "expired_token"


def test_a_token_altered_after_a_genuine_one_was_remembered_is_refused(keys: KeyRing) -> None:
    verifier = keys.verifier()
    token = keys.signer(IDENTITY_PROVIDER, ttl=60).issue(
        subject="0b4b8f5e-3c1f-4a52-9d1b-1c2d3e4f5a6b", tenant="5a0c1a57-26b0-4bcd-9e8f-0123456789ab"
    )
    verifier.verify(token)
    header, payload, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    with pytest.raises(InvalidToken):
        verifier.verify(f"{header}.{payload}.{flipped}")


def test_the_memory_is_bounded_and_forgets_the_least_recently_used(keys: KeyRing) -> None:
    verifier = TokenVerifier(keys, cache_size=2)
    signer = keys.signer(OPERATOR, ttl=60)
    first, second, third = (signer.issue(subject="operator", tenant=None) for _ in range(3))
    kept = verifier.verify(first)
    verifier.verify(second)
    verifier.verify(first)  # used again: now the most recent
    verifier.verify(third)  # evicts second
    assert verifier.verify(first) is kept
    assert len(verifier._verified) == 2
    assert second not in verifier._verified


def test_without_memory_every_call_checks_the_signature(keys: KeyRing) -> None:
    verifier = TokenVerifier(keys, cache_size=0)
    token = keys.signer(OPERATOR, ttl=60).issue(subject="operator", tenant=None)
    assert verifier.verify(token) is not verifier.verify(token)
