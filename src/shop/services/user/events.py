"""How the user service turns its rows into the events it publishes (the contracts are
in ``shop.contracts.user``)."""

from __future__ import annotations

from collections.abc import Sequence

from shop.contracts.user import UserDeactivated, UserRegistered, UserUpdated
from shop.services.user.models import User

PUBLISHES = (UserRegistered, UserUpdated, UserDeactivated)


def registered(u: User) -> UserRegistered:
    return UserRegistered(id=u.id, email=u.email, first_name=u.first_name, last_name=u.last_name, roles=sorted(u.roles))


def updated(u: User, changes: Sequence[str]) -> UserUpdated:
    return UserUpdated(
        id=u.id,
        email=u.email,
        first_name=u.first_name,
        last_name=u.last_name,
        roles=sorted(u.roles),
        is_active=u.is_active,
        changes=sorted(changes),
    )


def deactivated(u: User) -> UserDeactivated:
    return UserDeactivated(id=u.id, email=u.email)
