"""Callback tokens of deferred steps: what a participant must show to answer one.

A deferred step's request carries a token; its answer (``POST .../callback``) must
bring it back. The token is the same for every attempt of the step (a retried
request must be the same request, or the participant's idempotency would refuse it),
so it is *derived*, not stored: ``HMAC-SHA256(secret, "<saga id>/<step>")``. The
orchestrator's database keeps only the token's SHA-256 (``isles_saga_steps.
callback_token``); a reader of the database cannot answer a step.

The secret is derived (HKDF, its own label) from the orchestrating service's private
key in the key folder, so every process of the service makes the same tokens. A
process without that key makes a random secret of its own: its tokens then do not
survive a restart (a step re-sent afterwards carries another token).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_LABEL = b"isles saga callback tokens v1"
#: The length of a stored digest (hex SHA-256); a shorter stored value is a token kept
#: in plain text by a version before this one, still accepted for the sagas in flight.
DIGEST_LENGTH = 64


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CallbackTokens:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("a callback secret of at least 16 bytes")
        self._secret = secret

    @classmethod
    def from_key(cls, key: Ed25519PrivateKey | None) -> CallbackTokens:
        if key is None:
            return cls(secrets.token_bytes(32))
        raw = key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return cls(HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LABEL).derive(raw))

    def token(self, saga_id: uuid.UUID, step: str) -> str:
        mac = hmac.new(self._secret, f"{saga_id}/{step}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def shown(self, saga_id: uuid.UUID, step: str, stored: str | None) -> str:
        """The token a step's request carries, given what its row stores."""
        if stored is None:
            return ""
        if len(stored) != DIGEST_LENGTH:
            return stored  # a token an earlier version kept in plain text
        return self.token(saga_id, step)


def matches(stored: str | None, given: str) -> bool:
    """Whether ``given`` is the token whose digest (or, before, plain text) is stored."""
    if not stored:
        return False
    try:
        candidate = (digest(given) if len(stored) == DIGEST_LENGTH else given).encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(stored.encode("ascii"), candidate)
