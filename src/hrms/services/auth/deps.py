"""Who may call what in the auth service: every rule in one place.

``login`` and ``refresh`` take credentials instead of a token; ``password/forgot`` and
``password/set`` an email, or a one-time link's token. Everything else needs
a token; a user's own record, sessions and preferences need no permission beyond
being that user, and the auth service also refuses an access token whose session
was revoked (other services accept it until it expires, at most the access-token
lifetime).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request

from hrms.services.auth.models import Session
from hrms.services.auth.sessions import is_live
from isles import ACROSS_TENANTS, Authenticated, Principal, Problem, context_of, not_found, require, unauthorized


async def _live_caller(request: Request, principal: Authenticated) -> Principal:
    if principal.session_id is not None:
        tenant = ACROSS_TENANTS if principal.tenant is None else principal.tenant
        async with context_of(request).db.read_session(tenant=tenant) as db:
            session = await db.get(Session, principal.session_id)
        if session is None or not is_live(session):
            raise unauthorized("the session of this token was ended", "revoked_token")
    return principal


LiveCaller = Annotated[Principal, Depends(_live_caller)]


async def _user(caller: LiveCaller) -> Principal:
    if caller.kind != "user":
        raise Problem(403, "only a user's own token can do this", slug="forbidden")
    return caller


UserCaller = Annotated[Principal, Depends(_user)]
ReadUsers = Annotated[Principal, Depends(require("users:read"))]
WriteUsers = Annotated[Principal, Depends(require("users:write"))]
AssignRoles = Annotated[Principal, Depends(require("roles:assign"))]
#: Making a user's set-password link: the notification service's own calls (no role).
InviteUsers = Annotated[Principal, Depends(require("users:invite"))]


def self_or(caller: Principal, user_id: uuid.UUID, permission: str) -> None:
    """A user acting on themself, or a caller holding ``permission`` (in its company:
    the tenant-scoped session hides other companies' users)."""
    if caller.user_id == user_id or caller.can(permission):
        return
    if caller.can("users:read"):
        raise Problem(403, f"your token does not grant {permission!r}", slug="forbidden")
    raise not_found("user", user_id)  # not even whether the user exists
