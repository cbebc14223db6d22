"""The auth service: users (seed 001), their passwords hashed with Argon2.

The smallest real version, for the CreateEmployee saga; the HR-core issue adds roles,
permissions, sessions, tokens and preferences.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from isles import Service

if TYPE_CHECKING:
    from fastapi import APIRouter


def _api() -> APIRouter:
    from hrms.services.auth.api import router

    return router


def build() -> Service:
    from hrms.services.auth.events import PUBLISHES
    from hrms.services.auth.handlers import HANDLERS
    from hrms.services.auth.models import metadata

    return Service(
        name="auth",
        metadata=metadata,
        router=_api,
        migrations=Path(__file__).parent / "migrations",
        publishes=PUBLISHES,
        handlers=HANDLERS,
        description="Users, roles, permissions, sessions and tokens, preferences. Owns the auth_service database.",
    )
