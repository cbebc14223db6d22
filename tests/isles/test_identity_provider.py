"""A system names the service that logs its users in (``System.identity_provider``):
that signer's tokens are user tokens, and every other signer, ``auth`` included, may
only sign tokens about itself. The HR system's is ``auth``, the shop's ``user``."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from isles.security.tokens import IDENTITY_PROVIDER, InvalidToken, KeyRing, generate_keys

USER = str(uuid.uuid4())
TENANT = str(uuid.uuid4())


@pytest.fixture
def keys(tmp_path: Path) -> KeyRing:
    generate_keys(tmp_path, [IDENTITY_PROVIDER, "user"])
    return KeyRing.load(tmp_path, signers=[IDENTITY_PROVIDER, "user"])


def test_the_named_identity_provider_signs_user_tokens(keys: KeyRing) -> None:
    verifier = keys.verifier(identity_provider="user")
    token = keys.signer("user", ttl=60).issue(subject=USER, tenant=TENANT, roles=["customer"])
    principal = verifier.verify(token)
    assert principal.kind == "user"
    assert str(principal.user_id) == USER
    assert principal.roles == {"customer"}


def test_another_systems_identity_provider_cannot_sign_users_here(keys: KeyRing) -> None:
    verifier = keys.verifier(identity_provider="user")
    forged = keys.signer(IDENTITY_PROVIDER, ttl=60).issue(subject=USER, tenant=TENANT)
    with pytest.raises(InvalidToken, match="may only sign tokens about service:auth"):
        verifier.verify(forged)
    # and the default (the HR system) is the other way round
    with pytest.raises(InvalidToken, match="may only sign tokens about service:user"):
        keys.verifier().verify(keys.signer("user", ttl=60).issue(subject=USER, tenant=TENANT))


def test_a_system_names_a_valid_identity_provider() -> None:
    from isles import System

    with pytest.raises(ValueError, match="must be lowercase letters"):
        System(name="x", services=[], identity_provider="Not A Name")
    assert System(name="x", services=[]).identity_provider == "auth"
