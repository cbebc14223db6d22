"""Who may call what in the user service: every rule in one place.

* ``login`` and ``register`` are public (credentials, or a new account).
* A user's own account, addresses and preferences: ``profile:read`` /
  ``profile:write`` (every role holds them); ``me`` names the caller's own id.
* Anyone's: ``users:read`` / ``users:write`` (an admin; the order service's saga
  reads users and addresses with its service token claiming ``users:read``).
* Another user's records, asked by a caller who may only see their own, are not
  there (404), never a 403 that would say they exist.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from isles import Authenticated, FieldError, Principal, Problem, invalid, not_found, require

ReadUsers = Annotated[Principal, Depends(require("users:read"))]
WriteUsers = Annotated[Principal, Depends(require("users:write"))]
Caller = Authenticated


async def _user(caller: Authenticated) -> Principal:
    if caller.kind != "user":
        raise Problem(403, "only a user's own token can do this", slug="forbidden")
    return caller


UserCaller = Annotated[Principal, Depends(_user)]


def forbidden(permission: str) -> Problem:
    return Problem(403, f"your token does not grant {permission!r}", slug="forbidden", extra={"permission": permission})


def subject(caller: Principal, user_id: str | uuid.UUID, *, write: bool = False) -> uuid.UUID:
    """The user whose records the caller asks for (``me``: the caller), if the caller
    may read them (``write``: change them). Else 404 to a caller who sees only their
    own records, 403 to one whose token grants none of this."""
    own, anyone = ("profile:write", "users:write") if write else ("profile:read", "users:read")
    if isinstance(user_id, uuid.UUID):
        target = user_id
    elif user_id == "me":
        if caller.user_id is None:
            raise invalid([FieldError("user_id", "'me' names a user: this token is not a user's", "not_a_user")])
        target = caller.user_id
    else:
        try:
            target = uuid.UUID(user_id)
        except ValueError:
            raise invalid([FieldError("user_id", "must be a user id (a UUID) or 'me'", "uuid_parsing")]) from None
    if caller.can(anyone):
        return target
    if caller.user_id == target:
        if caller.can(own):
            return target
        raise forbidden(own)
    if caller.user_id is not None and caller.can(own):
        raise not_found("user", target)  # not even whether the user exists
    raise forbidden(anyone)
