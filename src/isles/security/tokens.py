"""Signed access tokens: who is calling, for which company, with which permissions.

Keys are Ed25519, one pair per signer, in a keys folder: ``<signer>.key`` (private,
mode 0600) and ``<signer>.pub``. A token's ``kid`` names its signer, and the signer
decides what the token may claim:

- ``auth`` (the identity provider) signs *user* tokens: a user, a company, roles and
  the permissions of those roles;
- ``operator`` signs *operator* tokens (the ``isles token`` command, demo loading):
  every permission, every company;
- any other signer is a *service* and signs only tokens about itself
  (``sub = service:<name>``), for the company of the work it does (a saga's tenant).

Every process loads the public keys of all signers and only its own private keys, so
services verify tokens without being able to forge users' ones.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

#: The signer of user tokens unless a system names another (``System.identity_provider``).
IDENTITY_PROVIDER = "auth"
OPERATOR = "operator"
ALGORITHM = "EdDSA"
ISSUER_PREFIX = "isles:"
ALL = "*"
_SIGNER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

Kind = Literal["user", "service", "operator"]


class KeysError(Exception):
    """The keys folder lacks a key, or holds one that cannot be read."""


class InvalidToken(Exception):
    """A token that is missing, malformed, forged, expired or claims what its signer may not."""

    def __init__(self, reason: str, *, code: str = "invalid_token") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass(frozen=True)
class Principal:
    """The verified caller of a request."""

    kind: Kind
    subject: str
    tenant: uuid.UUID | None
    roles: frozenset[str] = frozenset()
    permissions: frozenset[str] = frozenset()
    session_id: uuid.UUID | None = None
    token_id: str = ""
    expires_at: float = 0.0

    @property
    def user_id(self) -> uuid.UUID | None:
        return uuid.UUID(self.subject) if self.kind == "user" else None

    @property
    def is_operator(self) -> bool:
        return self.kind == "operator"

    def can(self, permission: str) -> bool:
        return ALL in self.permissions or permission in self.permissions

    def has_role(self, *roles: str) -> bool:
        return self.is_operator or any(r in self.roles for r in roles)

    @property
    def identity(self) -> str:
        """Who, for records kept per caller (idempotency keys, audit)."""
        return f"{self.subject}@{self.tenant or '*'}"


def check_signer(name: str) -> str:
    if not _SIGNER.match(name):
        raise ValueError(f"signer name {name!r} must be lower-case letters, digits and _")
    return name


def generate_keys(directory: Path, signers: Iterable[str]) -> list[str]:
    """Create the key pairs ``signers`` lack in ``directory``; return the ones created."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
    except OSError as exc:  # a folder that cannot be made (a --data-dir that cannot be)
        raise KeysError(f"{directory}: cannot make the keys folder: {exc.strerror or exc}") from exc
    made = []
    for name in signers:
        check_signer(name)
        private = directory / f"{name}.key"
        if private.exists():
            continue
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        (directory / f"{name}.pub").write_bytes(public)
        made.append(name)
    return made


@dataclass
class KeyRing:
    """The public keys of every signer, and the private keys this process signs with."""

    public: dict[str, Ed25519PublicKey] = field(default_factory=dict)
    private: dict[str, Ed25519PrivateKey] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: Path, *, signers: Sequence[str] = ()) -> KeyRing:
        """Every ``*.pub`` in ``directory``, and the private keys of ``signers``."""
        if not directory.is_dir():
            raise KeysError(f"keys folder {directory} does not exist (create it with `isles keys generate`)")
        ring = cls()
        for path in sorted(directory.glob("*.pub")):
            key = _read(path, serialization.load_pem_public_key)
            if not isinstance(key, Ed25519PublicKey):
                raise KeysError(f"{path}: not an Ed25519 public key")
            ring.public[path.stem] = key
        for name in signers:
            path = directory / f"{name}.key"
            if not path.is_file():
                raise KeysError(
                    f"{path}: missing private key of signer {name!r} (create it with `isles keys generate`)"
                )
            private = _read(path, lambda data: serialization.load_pem_private_key(data, password=None))
            if not isinstance(private, Ed25519PrivateKey):
                raise KeysError(f"{path}: not an Ed25519 private key")
            ring.private[name] = private
            ring.public.setdefault(name, private.public_key())
        return ring

    def signer(self, name: str, *, ttl: float) -> TokenSigner:
        if name not in self.private:
            raise KeysError(f"this process holds no private key of signer {name!r}")
        return TokenSigner(name, self.private[name], ttl=ttl)

    def verifier(
        self, *, leeway: float = 5.0, cache_size: int = 4096, identity_provider: str = IDENTITY_PROVIDER
    ) -> TokenVerifier:
        return TokenVerifier(self, leeway=leeway, cache_size=cache_size, identity_provider=identity_provider)


def _read(path: Path, loader: Any) -> Any:
    try:
        return loader(path.read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise KeysError(f"{path}: cannot read key ({exc})") from exc


class TokenSigner:
    """Issues tokens signed with one signer's private key."""

    def __init__(self, name: str, key: Ed25519PrivateKey, *, ttl: float) -> None:
        self.name = check_signer(name)
        self._key = key
        self.ttl = ttl

    def issue(
        self,
        *,
        subject: str,
        tenant: uuid.UUID | str | None,
        roles: Iterable[str] = (),
        permissions: Iterable[str] = (),
        session_id: uuid.UUID | None = None,
        ttl: float | None = None,
        now: float | None = None,
    ) -> str:
        issued = time.time() if now is None else now
        claims: dict[str, Any] = {
            "iss": ISSUER_PREFIX + self.name,
            "sub": subject,
            "cid": str(tenant) if tenant else None,
            "roles": sorted(set(roles)),
            "perms": sorted(set(permissions)),
            "iat": int(issued),
            "exp": int(issued + (self.ttl if ttl is None else ttl)),
            "jti": uuid.uuid4().hex,
        }
        if session_id is not None:
            claims["sid"] = str(session_id)
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.name})


class TokenVerifier:
    """Checks a token's signature, lifetime and what its signer may claim.

    A token that passed is remembered (the ``cache_size`` most recently used ones) with
    its principal until it expires: a client sending the same token on every call
    pays for the signature check once. What a token grants is fixed when it is
    signed, so nothing changes meanwhile; a remembered token expires exactly when a
    re-verified one would (``exp`` plus the leeway). A token is only remembered
    whole: a forged or altered one is another string, and is checked.
    """

    def __init__(
        self,
        keys: KeyRing,
        *,
        leeway: float = 5.0,
        cache_size: int = 4096,
        clock: Callable[[], float] = time.time,
        identity_provider: str = IDENTITY_PROVIDER,
    ) -> None:
        """``identity_provider``: the signer whose tokens are users' (the system's
        login service: ``auth`` in the HR system, ``user`` in the shop)."""
        self._keys = keys
        self.identity_provider = check_signer(identity_provider)
        self._leeway = leeway
        self._cache_size = cache_size
        self._clock = clock
        self._verified: OrderedDict[str, Principal] = OrderedDict()

    def verify(self, token: str) -> Principal:
        principal = self._verified.get(token)
        if principal is not None:
            if self._clock() < principal.expires_at + self._leeway:
                self._verified.move_to_end(token)
                return principal
            del self._verified[token]
            raise InvalidToken("token expired", code="expired_token")
        principal = self._verify(token)
        if self._cache_size > 0:
            self._verified[token] = principal
            if len(self._verified) > self._cache_size:
                self._verified.popitem(last=False)
        return principal

    def _verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:  # the decoder's own words would echo the garbage back
            raise InvalidToken("malformed token: not a signed JWT (header.payload.signature)") from exc
        kid = header.get("kid")
        if header.get("alg") != ALGORITHM or not isinstance(kid, str):
            raise InvalidToken("token must be signed with EdDSA and name its key (kid)")
        key = self._keys.public.get(kid)
        if key is None:
            raise InvalidToken("token signed with a key this system does not know")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                issuer=ISSUER_PREFIX + kid,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "sub", "iss", "jti"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("token expired", code="expired_token") from exc
        except jwt.InvalidSignatureError as exc:
            raise InvalidToken("token rejected: its signature does not verify") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"token rejected: it has no {exc.claim} claim") from exc
        except jwt.ImmatureSignatureError as exc:
            raise InvalidToken("token rejected: not valid yet") from exc
        except jwt.InvalidIssuerError as exc:
            raise InvalidToken("token rejected: issued by another signer than its key names") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("token rejected: not a valid token of this system") from exc
        return _principal(kid, claims, self.identity_provider)


def _principal(kid: str, claims: dict[str, Any], identity_provider: str = IDENTITY_PROVIDER) -> Principal:
    subject = str(claims["sub"])
    roles, perms = claims.get("roles") or [], claims.get("perms") or []
    if not isinstance(roles, list) or not isinstance(perms, list):
        raise InvalidToken("roles and perms must be lists")
    try:
        tenant = uuid.UUID(claims["cid"]) if claims.get("cid") else None
        session = uuid.UUID(claims["sid"]) if claims.get("sid") else None
    except (ValueError, TypeError) as exc:
        raise InvalidToken("cid and sid must be UUIDs") from exc
    kind: Kind
    if kid == identity_provider and subject != f"service:{kid}":
        kind = "user"
        try:
            uuid.UUID(subject)
        except ValueError as exc:
            raise InvalidToken("a user token's subject must be a user id") from exc
        if tenant is None:
            raise InvalidToken("a user token must name the user's company (cid)")
        if ALL in perms:
            raise InvalidToken("a user token cannot claim every permission")
    elif kid == OPERATOR:
        kind = "operator"
        perms = [ALL]
    else:
        kind = "service"
        if subject != f"service:{kid}":
            raise InvalidToken(f"signer {kid!r} may only sign tokens about service:{kid}")
    return Principal(
        kind=kind,
        subject=subject,
        tenant=tenant,
        roles=frozenset(str(r) for r in roles),
        permissions=frozenset(str(p) for p in perms),
        session_id=session,
        token_id=str(claims["jti"]),
        expires_at=float(claims["exp"]),
    )


__all__ = [
    "ALL",
    "IDENTITY_PROVIDER",
    "OPERATOR",
    "InvalidToken",
    "KeyRing",
    "KeysError",
    "Principal",
    "TokenSigner",
    "TokenVerifier",
    "generate_keys",
]
