"""How the auth service turns its rows into the events it publishes."""

from __future__ import annotations

from collections.abc import Sequence

from hrms.contracts.auth import PasswordResetRequested, UserCreated, UserDeactivated, UserUpdated
from hrms.services.auth.models import User

PUBLISHES = (UserCreated, UserUpdated, UserDeactivated, PasswordResetRequested)


def created(u: User, roles: Sequence[str], email_notifications: bool = True) -> UserCreated:
    return UserCreated(
        id=u.id,
        email=u.email,
        first_name=u.first_name,
        last_name=u.last_name,
        company_id=u.company_id,
        roles=list(roles),
        email_notifications=email_notifications,
        invited=u.password_hash.startswith("!"),  # no password yet
    )


def updated(u: User, roles: Sequence[str], changes: Sequence[str], email_notifications: bool = True) -> UserUpdated:
    return UserUpdated(
        id=u.id,
        email=u.email,
        first_name=u.first_name,
        last_name=u.last_name,
        company_id=u.company_id,
        roles=list(roles),
        is_active=u.is_active,
        email_notifications=email_notifications,
        changes=sorted(changes),
    )


def deactivated(u: User) -> UserDeactivated:
    return UserDeactivated(
        id=u.id, email=u.email, first_name=u.first_name, last_name=u.last_name, company_id=u.company_id
    )
