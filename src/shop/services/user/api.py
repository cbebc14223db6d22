"""HTTP routes of the user service (mounted at ``/api/user``)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from sqlalchemy import select

from isles import (
    IF_MATCH,
    Context,
    FieldError,
    Idempotent,
    Listing,
    Page,
    ServiceContext,
    TokenSigner,
    UnitOfWork,
    client_ip,
    if_match,
    invalid,
    json_or_form,
    tagged,
)
from shop.contracts.permissions import CUSTOMER
from shop.services.user import service
from shop.services.user.deps import Caller, ReadUsers, UserCaller, WriteUsers, subject
from shop.services.user.models import Address, User
from shop.services.user.schemas import (
    KEY_MAX,
    KEY_PATTERN,
    AddressCreate,
    AddressOut,
    AddressUpdate,
    Login,
    MeUpdate,
    PasswordChange,
    PreferenceOut,
    PreferenceSet,
    Register,
    Token,
    UserCreate,
    UserOut,
    UserUpdate,
)

router = APIRouter()

_UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"description": "Wrong credentials, or a missing, invalid or expired token."},
    429: {"description": "Too many wrong passwords in a row: the account is locked for a while (Retry-After)."},
}
_TAKEN: dict[int | str, dict[str, Any]] = {409: {"description": "The email is taken by another user."}}
_USER_404: dict[int | str, dict[str, Any]] = {404: {"description": "No such user (or one the caller may not see)."}}
_USER_409: dict[int | str, dict[str, Any]] = {
    **_USER_404,
    409: {"description": "The email is taken, or an admin tried to lock themself out."},
}
_ADDRESS_404: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such user or address (or one the caller may not see)."}
}
_ADDRESS_409: dict[int | str, dict[str, Any]] = {
    **_ADDRESS_404,
    409: {"description": "Too many addresses, or another became the default meanwhile."},
}
_PREF_404: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such user or preference (or one the caller may not see)."}
}
_PREF_409: dict[int | str, dict[str, Any]] = {**_PREF_404, 409: {"description": "Too many preferences."}}

UserId = Annotated[str, Path(description="A user's id, or `me` for the caller's own.", examples=["me"])]
PreferenceKey = Annotated[
    str,
    Path(
        pattern=KEY_PATTERN,
        max_length=KEY_MAX,
        description="Lower-case words joined by `.`, `_` or `-` (e.g. `ui.theme`, `newsletter`).",
        examples=["ui.theme"],
    ),
]


def signer(rt: ServiceContext) -> TokenSigner:
    """The shop's user tokens: signed by this service (the shop's identity provider)."""
    return rt.keys.signer("user", ttl=rt.settings.access_token_ttl)


def user_view(user: User) -> UserOut:
    return UserOut.model_validate(user)


def address_view(address: Address) -> AddressOut:
    return AddressOut.model_validate(address)


def _no_nulls(changes: dict[str, Any], *fields: str) -> None:
    for name in fields:
        if name in changes and changes[name] is None:
            raise invalid([FieldError(name, f"{name} cannot be null", "null")])


# -- logins and sign-up ---------------------------------------------------------------------

#: OAuth 2's password grant (RFC 6749 §4.3) posts a form: Swagger UI's Authorize does.
_credentials, _LOGIN_BODY = json_or_form(
    Login,
    form={"username": "email", "password": "password"},
    fixed={"grant_type": "password"},
    ignored=("scope", "client_id", "client_secret"),
)


@router.post(
    "/login",
    response_model=Token,
    tags=["sessions"],
    responses=_UNAUTHORIZED,
    openapi_extra=_LOGIN_BODY,
    summary="Log in",
)
async def login(body: Annotated[Login, Depends(_credentials)], rt: Context, request: Request) -> Token:
    """Log in with email and password: a short-lived access token of the shop (a JWT
    signed by the user service, naming the store, the user's roles and their
    permissions). A wrong password and an unknown email are the same 401; an inactive
    account is refused.

    Takes JSON (``email``, ``password``) or OAuth 2's password-grant form
    (``grant_type=password&username=…&password=…``), which Swagger UI's *Authorize*
    sends."""
    s = rt.settings
    async with rt.uow() as uow:
        return await service.login(
            uow=uow,
            signer=signer(rt),
            email=body.email,
            password=body.password.get_secret_value(),
            max_failures=s.login.max_failures,
            lockout=s.login.lockout_seconds,
            security=rt.security,
            ip=client_ip(request),
        )


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    tags=["users"],
    responses=_TAKEN,
    summary="Sign up as a customer",
)
async def register(body: Register, rt: Context, request: Request) -> Response:
    """Open a customer account (no token needed), then log in with it. Publishes
    UserRegistered. A taken email is a 409 naming ``email``; a password shorter than
    10 characters a 422 naming ``password``."""
    async with rt.uow() as uow:
        user = await service.register(uow=uow, data=body, roles=[CUSTOMER])
    answer = tagged(user_view(user), user.version, status_code=201)
    answer.headers["Location"] = f"{request.url.path.removesuffix('/register')}/users/{user.id}"
    return answer


# -- the caller's own account ---------------------------------------------------------------


@router.get("/users/me", response_model=UserOut, tags=["users"], summary="My account")
async def get_me(caller: UserCaller, rt: Context) -> Response:
    """The caller's own account; its ``ETag`` is its version."""
    assert caller.user_id is not None
    subject(caller, caller.user_id)
    async with rt.db.read_session() as session:
        user = await service.get_user(session=session, user_id=caller.user_id)
    return tagged(user_view(user), user.version)


@router.patch("/users/me", response_model=UserOut, tags=["users"], openapi_extra=IF_MATCH, summary="Change my account")
async def update_me(body: MeUpdate, caller: UserCaller, rt: Context, request: Request) -> Response:
    """Change the caller's own names or phone (``phone: null`` removes it). Publishes
    UserUpdated. With ``If-Match`` (the ETag read), a change made in between is a 412."""
    assert caller.user_id is not None
    subject(caller, caller.user_id, write=True)
    changes = body.model_dump(exclude_unset=True)
    _no_nulls(changes, "first_name", "last_name")
    async with rt.uow() as uow:
        user = await service.update_user(
            uow=uow, user_id=caller.user_id, changes=changes, expected=if_match(request), actor=caller.user_id
        )
    return tagged(user_view(user), user.version)


@router.post("/users/me/password", status_code=status.HTTP_204_NO_CONTENT, tags=["users"], summary="Change my password")
async def change_password(body: PasswordChange, caller: UserCaller, rt: Context) -> Response:
    """Change the caller's own password (the current one is asked again: a wrong one is
    a 422 naming ``current_password``)."""
    assert caller.user_id is not None
    subject(caller, caller.user_id, write=True)
    async with rt.uow() as uow:
        await service.change_password(
            uow=uow,
            user_id=caller.user_id,
            current=body.current_password.get_secret_value(),
            new=body.new_password.get_secret_value(),
        )
    return Response(status_code=204)


# -- users (admins; the order service reads them) -------------------------------------------

UserList = Annotated[Listing, Depends(service.USERS.dependency)]


@router.get("/users", response_model=Page[UserOut], tags=["users"], summary="List the users")
async def list_users(
    caller: ReadUsers,
    rt: Context,
    listing: UserList,
    is_active: Annotated[bool | None, Query(description="Only active (true) or inactive (false) users.")] = None,
) -> Page[UserOut]:
    """The store's users (``users:read``). ``q`` finds names and emails; ``sort``
    orders (default ``last_name,first_name``; e.g. ``-created_at``); ``cursor`` pages."""
    query = select(User)
    if is_active is not None:
        query = query.where(User.is_active.is_(is_active))
    async with rt.db.read_session() as session:
        rows, total, cursor = await listing.fetch(session, query)
    return listing.page([user_view(u) for u in rows], total, cursor)


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    tags=["users"],
    responses=_TAKEN,
    summary="Create a user",
)
async def create_user(
    body: UserCreate, caller: WriteUsers, rt: Context, request: Request, idem: Idempotent
) -> Response:
    """Make an account with its roles (``users:write``: an admin), e.g. another admin.
    Publishes UserRegistered. Honours ``Idempotency-Key``."""

    async def work(uow: UnitOfWork) -> UserOut:
        return user_view(await service.register(uow=uow, data=body, roles=list(body.roles)))

    return await idem.run(
        rt.uow,
        work,
        status_code=201,
        headers=lambda u: {"Location": f"{request.url.path}/{u.id}", "ETag": f'"{u.version}"'},
    )


@router.get("/users/{user_id}", response_model=UserOut, tags=["users"], responses=_USER_404, summary="Read a user")
async def get_user(user_id: uuid.UUID, caller: Caller, rt: Context) -> Response:
    """A user (``users:read``, or the user themself). Its ``ETag`` is its version."""
    subject(caller, user_id)
    async with rt.db.read_session() as session:
        user = await service.get_user(session=session, user_id=user_id)
    return tagged(user_view(user), user.version)


@router.patch(
    "/users/{user_id}",
    response_model=UserOut,
    tags=["users"],
    responses=_USER_409,
    openapi_extra=IF_MATCH,
    summary="Change a user",
)
async def update_user(
    user_id: uuid.UUID, body: UserUpdate, caller: WriteUsers, rt: Context, request: Request
) -> Response:
    """Change a user's names, phone, email, roles (``admin``, ``customer``) or whether
    it is active (``users:write``). Publishes UserUpdated with the fields changed;
    ``is_active: false`` publishes UserDeactivated (the user can no longer log in).
    An admin cannot deactivate themself nor take their own admin role away (409).
    With ``If-Match`` (the ETag read), a change made in between is a 412."""
    changes = body.model_dump(exclude_unset=True)
    _no_nulls(changes, "first_name", "last_name", "email", "roles", "is_active")
    async with rt.uow() as uow:
        user = await service.update_user(
            uow=uow, user_id=user_id, changes=changes, expected=if_match(request), actor=caller.user_id
        )
    return tagged(user_view(user), user.version)


# -- addresses -------------------------------------------------------------------------------


@router.get(
    "/users/{user_id}/addresses",
    response_model=list[AddressOut],
    tags=["addresses"],
    responses=_ADDRESS_404,
    summary="List a user's addresses",
)
async def list_addresses(user_id: UserId, caller: Caller, rt: Context) -> list[AddressOut]:
    """The user's addresses, the default first (one's own, or ``users:read``)."""
    target = subject(caller, user_id)
    async with rt.db.read_session() as session:
        rows = await service.addresses(session=session, user_id=target)
    return [address_view(a) for a in rows]


@router.post(
    "/users/{user_id}/addresses",
    status_code=status.HTTP_201_CREATED,
    response_model=AddressOut,
    tags=["addresses"],
    responses=_ADDRESS_409,
    summary="Add an address",
)
async def add_address(user_id: UserId, body: AddressCreate, caller: Caller, rt: Context, request: Request) -> Response:
    """Add an address (one's own, or ``users:write``). The first one becomes the
    default; ``is_default: true`` moves the default to the new one."""
    target = subject(caller, user_id, write=True)
    async with rt.uow() as uow:
        address = await service.add_address(uow=uow, user_id=target, data=body)
    answer = tagged(address_view(address), address.version, status_code=201)
    answer.headers["Location"] = f"{request.url.path}/{address.id}"
    return answer


@router.get(
    "/users/{user_id}/addresses/{address_id}",
    response_model=AddressOut,
    tags=["addresses"],
    responses=_ADDRESS_404,
    summary="Read an address",
)
async def get_address(user_id: UserId, address_id: uuid.UUID, caller: Caller, rt: Context) -> Response:
    """One of the user's addresses (one's own, or ``users:read``: the order service
    checks a shipping address with it). Its ``ETag`` is its version."""
    target = subject(caller, user_id)
    async with rt.db.read_session() as session:
        address = await service.get_address(session=session, user_id=target, address_id=address_id)
    return tagged(address_view(address), address.version)


@router.patch(
    "/users/{user_id}/addresses/{address_id}",
    response_model=AddressOut,
    tags=["addresses"],
    responses=_ADDRESS_409,
    openapi_extra=IF_MATCH,
    summary="Change an address",
)
async def update_address(
    user_id: UserId, address_id: uuid.UUID, body: AddressUpdate, caller: Caller, rt: Context, request: Request
) -> Response:
    """Change an address (one's own, or ``users:write``). ``is_default: true`` makes
    it the default and unsets the previous one, in one transaction."""
    target = subject(caller, user_id, write=True)
    changes = body.model_dump(exclude_unset=True)
    _no_nulls(changes, "recipient", "line1", "city", "postal_code", "country", "is_default")
    async with rt.uow() as uow:
        address = await service.update_address(
            uow=uow, user_id=target, address_id=address_id, changes=changes, expected=if_match(request)
        )
    return tagged(address_view(address), address.version)


@router.delete(
    "/users/{user_id}/addresses/{address_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["addresses"],
    responses=_ADDRESS_404,
    summary="Delete an address",
)
async def delete_address(user_id: UserId, address_id: uuid.UUID, caller: Caller, rt: Context) -> Response:
    """Remove an address (one's own, or ``users:write``). If it was the default, the
    oldest remaining address becomes the default. Orders keep their own copy of the
    addresses they ship to."""
    target = subject(caller, user_id, write=True)
    async with rt.uow() as uow:
        await service.delete_address(uow=uow, user_id=target, address_id=address_id)
    return Response(status_code=204)


# -- preferences -----------------------------------------------------------------------------


@router.get(
    "/users/{user_id}/preferences",
    response_model=list[PreferenceOut],
    tags=["preferences"],
    responses=_PREF_404,
    summary="List a user's preferences",
)
async def list_preferences(user_id: UserId, caller: Caller, rt: Context) -> list[PreferenceOut]:
    """The user's preferences, by key (one's own, or ``users:read``)."""
    target = subject(caller, user_id)
    async with rt.db.read_session() as session:
        rows = await service.preferences(session=session, user_id=target)
    return [PreferenceOut.model_validate(p) for p in rows]


@router.put(
    "/users/{user_id}/preferences/{key}",
    response_model=PreferenceOut,
    tags=["preferences"],
    responses={**_PREF_409, 201: {"description": "The preference was not set before.", "model": PreferenceOut}},
    summary="Set a preference",
)
async def set_preference(
    user_id: UserId, key: PreferenceKey, body: PreferenceSet, caller: Caller, rt: Context
) -> Response:
    """Set one preference to a value (one's own, or ``users:write``): 201 when it is
    new, 200 when it replaced a value. A key that is not lower-case words joined by
    ``.``, ``_`` or ``-`` is a 422 naming ``key``."""
    target = subject(caller, user_id, write=True)
    async with rt.uow() as uow:
        pref, created = await service.set_preference(uow=uow, user_id=target, key=key, value=body.value)
    shown = PreferenceOut.model_validate(pref)
    return Response(shown.model_dump_json(), status_code=201 if created else 200, media_type="application/json")


@router.delete(
    "/users/{user_id}/preferences/{key}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["preferences"],
    responses=_PREF_404,
    summary="Remove a preference",
)
async def delete_preference(user_id: UserId, key: PreferenceKey, caller: Caller, rt: Context) -> Response:
    """Remove one preference (one's own, or ``users:write``)."""
    target = subject(caller, user_id, write=True)
    async with rt.uow() as uow:
        await service.delete_preference(uow=uow, user_id=target, key=key)
    return Response(status_code=204)


__all__ = ["router"]
