"""The keys a process loads: the services' signing pairs (tokens) and their data keys
(encrypted columns), from the keys folder. Apart from the runtime so that tools that
only need the keys (``isles split``, ``isles keys``) do not import the whole runtime
(its HTTP stack and migrations: about 0.3 s of a command's start)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from isles.security import tokens as security
from isles.storage import crypto

if TYPE_CHECKING:
    from isles.core.settings import IslesSettings
    from isles.service.declaration import Service, System

log = structlog.get_logger("isles.runtime")


def keys_dir(settings: IslesSettings) -> Path:
    return settings.keys_dir if settings.keys_dir is not None else settings.data_dir / "keys"


def load_keys(
    settings: IslesSettings, local: Sequence[str], *, everyone: Sequence[str], generate: bool
) -> security.KeyRing:
    """The public keys of every signer and the private keys of this process's services
    (and the operator's, where present). ``generate`` (``isles up``, tests) first
    creates the pairs missing; a production process needs them provisioned."""
    folder = keys_dir(settings)
    if not generate and not folder.is_dir():
        # Fail closed: no key verifies any token, so every protected route answers 401.
        log.warning("keys.missing", folder=str(folder))
        return security.KeyRing()
    if generate:
        made = security.generate_keys(folder, [*everyone, security.OPERATOR])
        if made:
            log.info("keys.generated", folder=str(folder), signers=made)
    # A service without its private key still verifies tokens; it only cannot sign its
    # own calls (`isles serve` refuses to start without it; tooling does not need it).
    signers = [name for name in (*local, security.OPERATOR) if (folder / f"{name}.key").is_file()]
    return security.KeyRing.load(folder, signers=signers)


def generate_system_keys(system: System, folder: Path) -> list[str]:
    """Every key ``system`` needs that ``folder`` lacks: a signing pair per service and
    the operator's, and a data key per service with encrypted columns. What was made."""
    made = security.generate_keys(folder, [*(s.name for s in system.services), security.OPERATOR])
    for service in system.services:
        own = crypto.data_keys_dir(folder, service.name)
        if crypto.encrypted_columns(service.metadata) and not any(own.glob("*.key")):
            crypto.generate_data_key(own)
            made.append(f"{service.name} (data)")
    return made


def load_data_keys(
    settings: IslesSettings, local: Sequence[Service], *, generate: bool, strict: bool, warn: bool = True
) -> None:
    """Each local service with encrypted columns reads its data keys
    (``<keys>/data/<service>/``); ``generate`` makes the first one where there is none.
    A served service (``strict``) with no key to encrypt with is refused here, at
    start; a tool's runtime (``isles dlq retry``) only warns, and a write of an
    encrypted value would then fail saying which key is missing."""
    folder = keys_dir(settings)
    for service in local:
        if not crypto.encrypted_columns(service.metadata):
            continue
        own = crypto.data_keys_dir(folder, service.name)
        if generate and not any(own.glob("*.key")):
            made = crypto.generate_data_key(own)
            log.info("keys.data_key_generated", service=service.name, key=made)
        crypto.ring(service.name).load(own)
        if crypto.ring(service.name).current is None:
            missing = f"{service.name} has encrypted columns and no data key in {own} (isles keys generate makes one)"
            if strict:
                raise security.KeysError(missing)
            if warn:  # (a tool that checks for the key itself says it in its own words)
                log.warning("keys.data_key_missing", service=service.name, folder=str(own))
