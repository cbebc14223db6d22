"""The shop's user service (seed 003's User Service): accounts (Argon2 password
hashes), their addresses (one default per user) and preferences; logins that answer
the shop's user tokens (this service is the shop's identity provider)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from isles import Service

if TYPE_CHECKING:
    from fastapi import APIRouter


def _api() -> APIRouter:
    from shop.services.user.api import router

    return router


def build() -> Service:
    from shop.services.user.events import PUBLISHES
    from shop.services.user.models import metadata

    return Service(
        name="user",
        metadata=metadata,
        router=_api,
        migrations=Path(__file__).parent / "migrations",
        publishes=PUBLISHES,
        description="The store's users: accounts with Argon2 password hashes, their addresses (one default) "
        "and preferences; logins and the shop's user tokens. Owns the user database.",
    )
