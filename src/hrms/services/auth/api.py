"""HTTP routes of the auth service (mounted at ``/api/auth``)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.contracts.auth import INVITATION, PasswordLink, UserView
from hrms.services.auth import links, service, sessions
from hrms.services.auth.deps import AssignRoles, InviteUsers, LiveCaller, ReadUsers, UserCaller, WriteUsers, self_or
from hrms.services.auth.models import Permission, Role, RolePermission, User, UserPreference
from hrms.services.auth.models import Session as LoginSession
from hrms.services.auth.page import SET_PASSWORD_PAGE
from hrms.services.auth.schemas import (
    Accepted,
    ForgotPassword,
    LinkCreate,
    Login,
    MeView,
    PasswordChange,
    PasswordReset,
    PreferencesUpdate,
    PreferencesView,
    Refresh,
    RolesUpdate,
    RoleView,
    SessionView,
    SetPassword,
    TokenPair,
    UserCreate,
    UserUpdate,
)
from isles import (
    ACROSS_TENANTS,
    IDENTITY_PROVIDER,
    Context,
    FieldError,
    Idempotent,
    Listing,
    Page,
    Principal,
    Problem,
    ServiceContext,
    TenantData,
    TokenSigner,
    UnitOfWork,
    check_tenant,
    client_ip,
    context_of,
    invalid,
    json_or_form,
)

router = APIRouter()
_UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"description": "Wrong credentials, or a missing, invalid or expired token."}
}


def signer(rt: ServiceContext) -> TokenSigner:
    return rt.keys.signer(IDENTITY_PROVIDER, ttl=rt.settings.access_token_ttl)


async def view(session: AsyncSession, u: User) -> UserView:
    roles = await service.roles_of(session, u.id)
    return UserView(
        id=u.id,
        email=u.email,
        first_name=u.first_name,
        last_name=u.last_name,
        company_id=u.company_id,
        roles=roles,
        is_active=u.is_active,
        pending=u.pending,
        email_verified=u.email_verified,
        version=u.version,
        created_at=u.created_at,
        updated_at=u.updated_at,
    )


def _record(
    request: Request, caller: Principal, event: str, user_id: uuid.UUID, *, company: object = None, **detail: object
) -> None:
    """A security event about ``user_id`` done by ``caller`` (docs/security.md)."""
    context_of(request).security.record(
        event,
        actor=caller.subject,
        company=caller.tenant if company is None else company,
        ip=client_ip(request),
        user=str(user_id),
        **detail,
    )


def session_view(s: LoginSession, current: uuid.UUID | None) -> SessionView:
    return SessionView.model_validate(
        {**{k: getattr(s, k) for k in SessionView.model_fields if k != "current"}, "current": s.id == current}
    )


def prefs_view(p: UserPreference) -> PreferencesView:
    return PreferencesView.model_validate(p, from_attributes=True)


# -- logins -----------------------------------------------------------------------------


#: OAuth 2's password grant (RFC 6749 §4.3) posts a form: Swagger UI's Authorize does.
_credentials, _LOGIN_BODY = json_or_form(
    Login,
    form={"username": "email", "password": "password"},
    fixed={"grant_type": "password"},
    ignored=("scope", "client_id", "client_secret"),
)


@router.post(
    "/login",
    response_model=TokenPair,
    tags=["sessions"],
    responses={**_UNAUTHORIZED, 409: {"description": "The password opens accounts in several companies."}},
    openapi_extra=_LOGIN_BODY,
)
async def login(body: Annotated[Login, Depends(_credentials)], rt: Context, request: Request) -> TokenPair:
    """Log in with email and password: a short-lived access token (a JWT signed with
    the auth service's Ed25519 key) and a refresh token. Repeated failures lock the
    account for a while (429 with Retry-After).

    Takes JSON (``email``, ``password``) or OAuth 2's password-grant form
    (``grant_type=password&username=…&password=…``), which is what Swagger UI's
    *Authorize* sends.

    Logins are company-scoped: an address may have an account in several companies,
    and the password picks one. When it opens more than one, the answer is 409
    listing their companies; send ``company_id`` with the JSON body to choose."""
    s = rt.settings
    # An address may have an account in several companies: the login looks in all.
    async with rt.uow(tenant=ACROSS_TENANTS) as uow:
        return await sessions.login(
            uow=uow,
            signer=signer(rt),
            email=body.email,
            password=body.password.get_secret_value(),
            refresh_ttl=s.refresh_token_ttl,
            max_failures=s.login.max_failures,
            lockout=s.login.lockout_seconds,
            user_agent=request.headers.get("user-agent"),
            company_id=body.company_id,
            security=rt.security,
            ip=client_ip(request),
        )


@router.post("/refresh", response_model=TokenPair, tags=["sessions"], responses=_UNAUTHORIZED)
async def refresh(body: Refresh, rt: Context) -> TokenPair:
    """A new access token for a refresh token; the refresh token rotates (the old one
    stops working)."""
    async with rt.uow(tenant=ACROSS_TENANTS) as uow:  # the refresh token names the session
        return await sessions.refresh(uow=uow, signer=signer(rt), refresh_token=body.refresh_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, tags=["sessions"])
async def logout(caller: UserCaller, request: Request) -> Response:
    """End the session of this token (its refresh token stops working at once)."""
    if caller.session_id is not None:
        async with TenantData(request, caller).uow() as uow:
            await sessions.revoke(uow=uow, session_id=caller.session_id, user_id=caller.user_id)
    return Response(status_code=204)


@router.get("/me", response_model=MeView, tags=["sessions"])
async def me(caller: UserCaller, request: Request) -> MeView:
    """The user of this token, its roles and permissions."""
    assert caller.user_id is not None
    async with TenantData(request, caller).read() as session:
        user = await service.get_user(session=session, user_id=caller.user_id)
        return MeView(
            user=await view(session, user), permissions=sorted(caller.permissions), session_id=caller.session_id
        )


@router.post("/password", status_code=status.HTTP_204_NO_CONTENT, tags=["sessions"])
async def change_password(body: PasswordChange, caller: UserCaller, request: Request) -> Response:
    """Change the own password (the current one is asked again). Every other session ends."""
    assert caller.user_id is not None
    async with TenantData(request, caller).uow() as uow:
        user = await service.get_user(session=uow.session, user_id=caller.user_id)
        if not await service.verify_password(user.password_hash, body.current_password.get_secret_value()):
            raise invalid([FieldError("current_password", "is not the current password", "wrong_password")])
        await service.set_password(
            uow=uow, user_id=user.id, password=body.new_password.get_secret_value(), keep=caller.session_id
        )
    _record(request, caller, "password.changed", user.id, how="own")
    return Response(status_code=204)


@router.get("/sessions", response_model=list[SessionView], tags=["sessions"])
async def list_sessions(
    caller: LiveCaller, request: Request, user_id: Annotated[uuid.UUID | None, Query()] = None
) -> list[SessionView]:
    """Live sessions: the own ones, or (``sessions:revoke``) a user's of the company."""
    target = user_id or caller.user_id
    if target is None:
        raise invalid([FieldError("user_id", "required for a caller that is not a user", "missing")])
    self_or(caller, target, "sessions:revoke")
    async with TenantData(request, caller).read() as session:
        rows = await sessions.list_sessions(session=session, user_id=target)
    return [session_view(s, caller.session_id) for s in rows]


@router.delete("/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["sessions"])
async def revoke_session(session_id: uuid.UUID, caller: LiveCaller, request: Request) -> Response:
    """End a session: an own one, or (``sessions:revoke``) any of the company."""
    only = None if caller.can("sessions:revoke") else caller.user_id
    if only is None and not caller.can("sessions:revoke"):
        raise Problem(403, "your token does not grant 'sessions:revoke'", slug="forbidden")
    async with TenantData(request, caller).uow() as uow:
        await sessions.revoke(uow=uow, session_id=session_id, user_id=only)
    return Response(status_code=204)


# -- set-password links ---------------------------------------------------------------

#: Where links point when ISLES_PUBLIC_URL is not set and no `isles up` said (its default port).
_DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


@router.post(
    "/password/links",
    status_code=status.HTTP_201_CREATED,
    response_model=PasswordLink,
    tags=["passwords"],
    responses={404: {"description": "No such user in the caller's company."}},
)
async def make_link(body: LinkCreate, caller: InviteUsers, request: Request, rt: Context) -> PasswordLink:
    """A user's one-time set-password link, for the mail that carries it (the
    notification service's own call: ``users:invite``, which no role holds). Only the
    link's hash is kept; an earlier unused link of the same purpose stops working."""
    s = rt.settings
    ttl = s.login.invitation_ttl_seconds if body.purpose == INVITATION else s.login.reset_ttl_seconds
    async with TenantData(request, caller).uow() as uow:
        return await links.make(
            uow=uow,
            user_id=body.user_id,
            purpose=body.purpose,
            ttl=timedelta(seconds=ttl),
            public_url=s.public_url or _DEFAULT_PUBLIC_URL,
        )


@router.post("/password/forgot", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted, tags=["passwords"])
async def forgot_password(body: ForgotPassword, rt: Context) -> Accepted:
    """Ask for a reset-password link by mail. The answer is the same whether or not
    the address belongs to an account (no one learns which addresses do); the mail
    goes only to that address, and a second request within a minute sends none."""
    async with rt.uow(tenant=ACROSS_TENANTS) as uow:  # every account of the address
        await links.request_reset(uow=uow, email=body.email)
    return Accepted(detail="if the address belongs to an active account, a mail with a link is on its way")


@router.post("/password/set", status_code=status.HTTP_204_NO_CONTENT, tags=["passwords"])
async def set_password_by_link(body: SetPassword, rt: Context, request: Request) -> Response:
    """Choose a password with a one-time link's token (from an invitation or a reset
    mail). Works once, until the link expires; the account's address counts as
    verified, and every session of the user ends."""
    async with rt.uow(tenant=ACROSS_TENANTS) as uow:  # the token names the user
        user_id = await links.use(uow=uow, token=body.token, password=body.new_password.get_secret_value())
    rt.security.record("password.changed", actor=str(user_id), ip=client_ip(request), user=str(user_id), how="link")
    return Response(status_code=204)


@router.get("/password/set", response_class=HTMLResponse, tags=["passwords"])
async def set_password_page() -> HTMLResponse:
    """The page a set-password link opens: it reads the token from the link's
    fragment (``#token=…``, never sent to a server) and posts the chosen password."""
    return HTMLResponse(SET_PASSWORD_PAGE, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


# -- users ------------------------------------------------------------------------------


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    response_model=UserView,
    tags=["users"],
    responses={409: {"description": "The email is taken by another user."}},
)
async def create_user(
    body: UserCreate, caller: WriteUsers, request: Request, idem: Idempotent, rt: Context
) -> Response:
    """Sign a user up (an admin, for their company), with roles and default
    preferences. Publishes UserCreated (a ``pending`` user: when activated). Honours
    ``Idempotency-Key``."""
    company_id = check_tenant(caller, body.company_id)
    scoped = TenantData(request, caller)

    async def work(uow: UnitOfWork) -> UserView:
        user = await service.create_user(uow=uow, data=body, company_id=company_id)
        return await view(uow.session, user)

    return await idem.run(
        scoped.uow, work, status_code=201, headers=lambda u: {"Location": f"{request.url.path}/{u.id}"}
    )


UserList = Annotated[Listing, Depends(service.USERS.dependency)]


@router.get("/users", response_model=Page[UserView], tags=["users"])
async def list_users(caller: ReadUsers, request: Request, listing: UserList) -> Page[UserView]:
    """The users of the caller's company. ``q`` finds names and emails; ``sort``
    orders (e.g. ``-created_at``); ``cursor`` pages."""
    async with TenantData(request, caller).read() as session:
        rows, total, cursor = await listing.fetch(session, select(User))
        items = [await view(session, u) for u in rows]
    return listing.page(items, total, cursor)


@router.get("/users/{user_id}", response_model=UserView, tags=["users"])
async def get_user(user_id: uuid.UUID, caller: LiveCaller, request: Request) -> UserView:
    self_or(caller, user_id, "users:read")
    async with TenantData(request, caller).read() as session:
        return await view(session, await service.get_user(session=session, user_id=user_id))


@router.patch("/users/{user_id}", response_model=UserView, tags=["users"])
async def update_user(user_id: uuid.UUID, body: UserUpdate, caller: LiveCaller, request: Request) -> UserView:
    """Change a user's email or name (the own, or any of the company with
    ``users:write``). Publishes UserUpdated naming the fields that changed."""
    self_or(caller, user_id, "users:write")
    async with TenantData(request, caller).uow() as uow:
        user = await service.update_user(uow=uow, user_id=user_id, changes=body.model_dump(exclude_unset=True))
        return await view(uow.session, user)


@router.delete("/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["users"])
async def delete_user(user_id: uuid.UUID, caller: WriteUsers, request: Request, idem: Idempotent) -> Response:
    """Deactivate a user (publishes UserDeactivated; every session ends); a pending
    user (a saga undoing its creation) is removed. With ``Isles-Compensates`` the
    creation's key is fenced: a creation arriving late is refused."""

    async def work(uow: UnitOfWork) -> None:
        await service.remove_user(uow=uow, user_id=user_id, undo_creation=idem.compensates is not None)

    return await idem.run(TenantData(request, caller).uow, work, status_code=204)


@router.post("/users/{user_id}/activate", response_model=UserView, tags=["users"])
async def activate_user(user_id: uuid.UUID, caller: WriteUsers, request: Request, idem: Idempotent) -> Response:
    """Activate a pending user: it can log in, and UserCreated goes out (once)."""

    async def work(uow: UnitOfWork) -> UserView:
        return await view(uow.session, await service.activate_user(uow=uow, user_id=user_id))

    return await idem.run(TenantData(request, caller).uow, work)


@router.put("/users/{user_id}/roles", response_model=UserView, tags=["users"])
async def set_roles(user_id: uuid.UUID, body: RolesUpdate, caller: AssignRoles, request: Request) -> UserView:
    """Replace a user's roles (they reach its tokens at the next login or refresh)."""
    async with TenantData(request, caller).uow() as uow:
        before = await service.roles_of(uow.session, user_id)
        user = await service.set_roles(uow=uow, user_id=user_id, roles=body.roles)
        shown = await view(uow.session, user)
    _record(request, caller, "roles.changed", user_id, company=user.company_id, before=before, after=shown.roles)
    return shown


@router.post("/users/{user_id}/password", status_code=status.HTTP_204_NO_CONTENT, tags=["users"])
async def reset_password(user_id: uuid.UUID, body: PasswordReset, caller: WriteUsers, request: Request) -> Response:
    """Set a user's password (an admin's reset); every session of the user ends."""
    async with TenantData(request, caller).uow() as uow:
        await service.set_password(uow=uow, user_id=user_id, password=body.new_password.get_secret_value())
    _record(request, caller, "password.changed", user_id, how="reset")
    return Response(status_code=204)


@router.get("/users/{user_id}/preferences", response_model=PreferencesView, tags=["users"])
async def get_preferences(user_id: uuid.UUID, caller: LiveCaller, request: Request) -> PreferencesView:
    self_or(caller, user_id, "users:read")
    async with TenantData(request, caller).read() as session:
        return prefs_view(await service.preferences(session=session, user_id=user_id))


@router.patch("/users/{user_id}/preferences", response_model=PreferencesView, tags=["users"])
async def update_preferences(
    user_id: uuid.UUID, body: PreferencesUpdate, caller: LiveCaller, request: Request
) -> PreferencesView:
    self_or(caller, user_id, "users:write")
    async with TenantData(request, caller).uow() as uow:
        prefs = await service.update_preferences(uow=uow, user_id=user_id, changes=body.model_dump(exclude_unset=True))
        return prefs_view(prefs)


@router.get("/roles", response_model=list[RoleView], tags=["users"])
async def list_roles(caller: LiveCaller, rt: Context) -> list[RoleView]:
    """The roles and the permissions each grants (the permission matrix, as stored)."""
    async with rt.db.read_session() as session:
        rows = (
            await session.execute(
                select(Role.name, Role.description, Permission.name.label("permission"))
                .join(RolePermission, RolePermission.role_id == Role.id, isouter=True)
                .join(Permission, Permission.id == RolePermission.permission_id, isouter=True)
                .order_by(Role.name, Permission.name)
            )
        ).all()
    roles: dict[str, RoleView] = {}
    for r in rows:
        entry = roles.setdefault(r.name, RoleView(name=r.name, description=r.description, permissions=[]))
        if r.permission:
            entry.permissions.append(r.permission)
    return list(roles.values())


__all__ = ["router"]
