"""The user service's use cases: accounts and passwords, logins, addresses (one
default per user), preferences.

Every write that changes what other services know of a user (its names, email, roles,
whether it is active) emits its event in the same transaction; every change of a user
or an address bumps its ``version`` (its ETag).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from isles import (
    Event,
    FieldError,
    ListSpec,
    Precondition,
    Problem,
    SecurityLog,
    TokenSigner,
    UniqueViolation,
    UnitOfWork,
    conflict,
    invalid,
    not_found,
    passwords,
    unauthorized,
    utcnow,
)
from shop.contracts import STORE
from shop.contracts.permissions import ADMIN, permissions_of
from shop.contracts.user import AGGREGATE
from shop.services.user import events
from shop.services.user.models import Address, Preference, User
from shop.services.user.schemas import AddressCreate, Register, Token

#: At most this many addresses and preferences per user (a shop's, not a database's).
MAX_ADDRESSES = 20
MAX_PREFERENCES = 50

_WRONG = "the email or the password is wrong"


# -- passwords --------------------------------------------------------------------------


async def hash_password(password: str) -> str:
    """Argon2id (the platform's, tuned by the settings), off the event loop."""
    return await passwords.hash(password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether the password matches; no hash costs what a wrong password costs."""
    return await passwords.verify(password_hash, password)


def _check_password(password: str, email: str) -> None:
    """The policy beyond the length the body checks: not the email itself."""
    if password.strip().lower() in (email, email.split("@")[0]):
        raise invalid([FieldError("password", "must not be the email address", "weak_password")])


# -- accounts ---------------------------------------------------------------------------


def _emit(uow: UnitOfWork, user: User, event: Event) -> None:
    uow.emit(event, aggregate=user, aggregate_type=AGGREGATE, tenant_id=str(STORE))


def _email_taken(email: str) -> Problem:
    return conflict("email", f"a user with email {email} already exists")


async def register(*, uow: UnitOfWork, data: Register, roles: list[str]) -> User:
    """A new active user with ``roles``; UserRegistered in the same transaction. An
    email already taken (by a concurrent request too) is a 409 naming ``email``."""
    session = uow.session
    password = data.password.get_secret_value()
    _check_password(password, data.email)
    if await session.scalar(select(User.id).where(User.email == data.email)) is not None:
        raise _email_taken(data.email)
    user = User(
        id=uuid.uuid4(),
        email=data.email,
        password_hash=await hash_password(password),
        first_name=data.first_name,
        last_name=data.last_name,
        phone=data.phone,
        roles=sorted(set(roles)),
        is_active=True,
        failed_logins=0,
        version=0,
    )
    session.add(user)
    _emit(uow, user, events.registered(user))
    try:
        await uow.commit()
    except UniqueViolation as exc:
        raise _email_taken(data.email) from exc
    return user


async def get_user(*, session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise not_found("user", user_id)
    return user


async def _lock_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:
        raise not_found("user", user_id)
    return user


async def update_user(
    *,
    uow: UnitOfWork,
    user_id: uuid.UUID,
    changes: Mapping[str, Any],
    expected: Precondition | None = None,
    actor: uuid.UUID | None = None,
) -> User:
    """Change a user's fields (checked against the version the caller read, under the
    row lock). Deactivating publishes UserDeactivated; any other change UserUpdated
    (with the fields that changed). ``actor``, the user making the change, may not
    deactivate themself nor take their own admin role away (nobody would be left to
    give it back)."""
    user = await _lock_user(uow.session, user_id)
    if expected is not None:
        expected.check(user.version, f"user {user_id}")
    wanted = dict(changes)
    if "roles" in wanted:
        wanted["roles"] = sorted(set(wanted["roles"]))
    changed = [k for k, v in wanted.items() if getattr(user, k) != v]
    if not changed:
        return user
    if actor == user.id:
        if "is_active" in changed and not wanted["is_active"]:
            raise conflict("is_active", "you cannot deactivate your own account")
        if "roles" in changed and ADMIN in user.roles and ADMIN not in wanted["roles"]:
            raise conflict("roles", "you cannot take your own admin role away")
    if "email" in changed:
        taken = select(User.id).where(User.email == wanted["email"], User.id != user.id)
        if await uow.session.scalar(taken) is not None:
            raise _email_taken(wanted["email"])
    for key in changed:
        setattr(user, key, wanted[key])
    user.updated_at = utcnow()
    deactivating = "is_active" in changed and not user.is_active
    rest = [k for k in changed if not (deactivating and k == "is_active")]
    if rest:
        _emit(uow, user, events.updated(user, rest))
    if deactivating:
        _emit(uow, user, events.deactivated(user))
    try:
        await uow.commit()
    except UniqueViolation as exc:
        raise _email_taken(str(wanted.get("email"))) from exc
    return user


async def change_password(*, uow: UnitOfWork, user_id: uuid.UUID, current: str, new: str) -> None:
    user = await _lock_user(uow.session, user_id)
    if not await verify_password(user.password_hash, current):
        raise invalid([FieldError("current_password", "is not the current password", "wrong_password")])
    _check_password(new, user.email)
    user.password_hash = await hash_password(new)
    user.updated_at = utcnow()
    await uow.commit()


#: How the user list sorts and searches (sort=, q=, cursor=).
USERS = ListSpec(
    sort={
        "last_name": User.last_name,
        "first_name": User.first_name,
        "email": User.email,
        "created_at": User.created_at,
    },
    default=("last_name", "first_name"),
    key=User.id,
    search=(User.first_name, User.last_name, User.email),
)


# -- logins -----------------------------------------------------------------------------


async def login(
    *,
    uow: UnitOfWork,
    signer: TokenSigner,
    email: str,
    password: str,
    max_failures: int,
    lockout: float,
    security: SecurityLog | None = None,
    ip: str | None = None,
) -> Token:
    """An access token for the right password of an active user. A wrong password and
    an unknown email are the same 401 (and cost the same Argon2 check); after
    ``max_failures`` wrong passwords in a row the account is locked for ``lockout``
    seconds (429 with Retry-After). A hash made with older Argon2 parameters is
    rehashed with the current ones."""

    def record(event: str, user: User | None = None, **detail: object) -> None:
        if security is not None:
            who = {"user": str(user.id)} if user is not None else {}
            security.record(event, actor=email, company=STORE, ip=ip, **who, **detail)

    user = await uow.session.scalar(select(User).where(User.email == email).with_for_update())
    if user is None:
        await verify_password(None, password)
        record("login.failed", reason="unknown address")
        raise unauthorized(_WRONG, "invalid_credentials")
    now = utcnow()
    if user.locked_until is not None and user.locked_until > now:
        wait = math.ceil((user.locked_until - now).total_seconds())
        record("login.throttled", user, retry_after=wait)
        raise Problem(
            429,
            f"too many failed logins; try again in {wait} s",
            slug="login-throttled",
            headers={"Retry-After": str(wait)},
        )
    if not await verify_password(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= max_failures:
            user.locked_until = now + timedelta(seconds=lockout)
            user.failed_logins = 0
            record("login.locked", user, seconds=lockout)
        await uow.commit()
        record("login.failed", user, reason="wrong password")
        raise unauthorized(_WRONG, "invalid_credentials")
    if not user.is_active:
        record("login.failed", user, reason="account not active")
        raise unauthorized("this account is not active", "invalid_credentials")
    user.failed_logins = 0
    user.locked_until = None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = await hash_password(password)
    roles = sorted(user.roles)
    access = signer.issue(subject=str(user.id), tenant=STORE, roles=roles, permissions=permissions_of(roles))
    await uow.commit()
    record("login.succeeded", user)
    return Token(access_token=access, expires_in=int(signer.ttl), user_id=user.id, roles=roles)


# -- addresses --------------------------------------------------------------------------


async def addresses(*, session: AsyncSession, user_id: uuid.UUID) -> list[Address]:
    """The user's addresses, the default first, then the oldest first."""
    await get_user(session=session, user_id=user_id)
    rows = await session.scalars(
        select(Address)
        .where(Address.user_id == user_id)
        .order_by(Address.is_default.desc(), Address.created_at, Address.id)
    )
    return list(rows)


async def get_address(*, session: AsyncSession, user_id: uuid.UUID, address_id: uuid.UUID) -> Address:
    """The address, if it is the user's (another user's is not there: 404)."""
    address = await session.get(Address, address_id)
    if address is None or address.user_id != user_id:
        raise not_found("address", address_id)
    return address


async def _clear_default(session: AsyncSession, user_id: uuid.UUID) -> None:
    """The user's default address stops being one (before another becomes it: the
    partial unique index allows one at a time)."""
    await session.execute(
        update(Address)
        .where(Address.user_id == user_id, Address.is_default.is_(True))
        .values(is_default=False, version=Address.version + 1, updated_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )


async def add_address(*, uow: UnitOfWork, user_id: uuid.UUID, data: AddressCreate) -> Address:
    """A new address of the user. Their first becomes the default; ``is_default``
    moves the default to it (the old one is unset in the same transaction)."""
    session = uow.session
    await _lock_user(session, user_id)  # orders concurrent changes of one user's addresses
    count = await session.scalar(select(func.count()).select_from(Address).where(Address.user_id == user_id)) or 0
    if count >= MAX_ADDRESSES:
        raise conflict("addresses", f"a user keeps at most {MAX_ADDRESSES} addresses: delete one first")
    default = data.is_default or count == 0
    if default and count:
        await _clear_default(session, user_id)
    address = Address(id=uuid.uuid4(), user_id=user_id, **data.model_dump(exclude={"is_default"}))
    address.is_default = default
    address.version = 0
    session.add(address)
    try:
        await uow.commit()
    except UniqueViolation as exc:  # a concurrent writer made another default first
        raise conflict("is_default", "another address became the default meanwhile: try again") from exc
    return address


async def update_address(
    *,
    uow: UnitOfWork,
    user_id: uuid.UUID,
    address_id: uuid.UUID,
    changes: Mapping[str, Any],
    expected: Precondition | None = None,
) -> Address:
    """Change an address; ``is_default: true`` makes it the default (the previous one
    is unset in the same transaction), ``false`` leaves the user without one."""
    session = uow.session
    await _lock_user(session, user_id)
    address = await get_address(session=session, user_id=user_id, address_id=address_id)
    if expected is not None:
        expected.check(address.version, f"address {address_id}")
    changed = [k for k, v in changes.items() if getattr(address, k) != v]
    if not changed:
        return address
    if "is_default" in changed and changes["is_default"]:
        await _clear_default(session, user_id)  # before this one is flushed as the default
    for key in changed:
        setattr(address, key, changes[key])
    address.version += 1
    address.updated_at = utcnow()
    try:
        await uow.commit()
    except UniqueViolation as exc:
        raise conflict("is_default", "another address became the default meanwhile: try again") from exc
    return address


async def delete_address(*, uow: UnitOfWork, user_id: uuid.UUID, address_id: uuid.UUID) -> None:
    """Remove an address. When it was the default, the user's oldest remaining address
    becomes the default (a user with addresses keeps one)."""
    session = uow.session
    await _lock_user(session, user_id)
    address = await get_address(session=session, user_id=user_id, address_id=address_id)
    was_default = address.is_default
    await session.delete(address)
    await session.flush()
    if was_default:
        oldest = await session.scalar(
            select(Address).where(Address.user_id == user_id).order_by(Address.created_at, Address.id).limit(1)
        )
        if oldest is not None:
            oldest.is_default = True
            oldest.version += 1
            oldest.updated_at = utcnow()
    await uow.commit()


# -- preferences ------------------------------------------------------------------------


async def preferences(*, session: AsyncSession, user_id: uuid.UUID) -> list[Preference]:
    await get_user(session=session, user_id=user_id)
    rows = await session.scalars(select(Preference).where(Preference.user_id == user_id).order_by(Preference.key))
    return list(rows)


async def set_preference(*, uow: UnitOfWork, user_id: uuid.UUID, key: str, value: str) -> tuple[Preference, bool]:
    """Set (or replace) one preference; the preference and whether it is new."""
    session = uow.session
    await _lock_user(session, user_id)
    pref = await session.scalar(select(Preference).where(Preference.user_id == user_id, Preference.key == key))
    created = pref is None
    if pref is None:
        count = await session.scalar(select(func.count()).select_from(Preference).where(Preference.user_id == user_id))
        if (count or 0) >= MAX_PREFERENCES:
            raise conflict("key", f"a user keeps at most {MAX_PREFERENCES} preferences: delete one first")
        pref = Preference(id=uuid.uuid4(), user_id=user_id, key=key, value=value)
        session.add(pref)
    elif pref.value != value:
        pref.value = value
        pref.updated_at = utcnow()
    try:
        await uow.commit()
    except UniqueViolation as exc:
        raise conflict("key", f"preference {key} was set meanwhile: try again") from exc
    return pref, created


async def delete_preference(*, uow: UnitOfWork, user_id: uuid.UUID, key: str) -> None:
    session = uow.session
    await _lock_user(session, user_id)
    pref = await session.scalar(select(Preference).where(Preference.user_id == user_id, Preference.key == key))
    if pref is None:
        raise not_found("preference", key)
    await session.delete(pref)
    await uow.commit()
