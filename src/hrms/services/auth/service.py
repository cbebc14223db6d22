"""User use cases: sign-up, activation, changes, roles, preferences."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.contracts.auth import AGGREGATE
from hrms.services.auth import events
from hrms.services.auth.models import Role, Session, User, UserPreference, UserRole
from hrms.services.auth.schemas import UserCreate
from isles import Event, ListSpec, UniqueViolation, UnitOfWork, conflict, not_found, passwords, utcnow


async def hash_password(password: str | None) -> str:
    """Argon2id (the platform's, tuned by the settings); None: a marker no password matches."""
    return await passwords.hash(password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether the password matches; no hash costs what a wrong password costs."""
    return await passwords.verify(password_hash, password)


def _emit(uow: UnitOfWork, user: User, event: Event) -> None:
    uow.emit(event, aggregate=user, aggregate_type=AGGREGATE, tenant_id=str(user.company_id))


async def roles_of(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    rows = await session.scalars(
        select(Role.name).join(UserRole, UserRole.role_id == Role.id).where(UserRole.user_id == user_id)
    )
    return sorted(rows)


async def _role_ids(session: AsyncSession, names: Sequence[str]) -> list[uuid.UUID]:
    rows = (await session.execute(select(Role.id, Role.name).where(Role.name.in_(list(names))))).all()
    return [r.id for r in rows]


async def create_user(*, uow: UnitOfWork, data: UserCreate, company_id: uuid.UUID) -> User:
    """Sign a user up with roles and default preferences. An active user is announced
    (UserCreated) now; a pending one when activated."""
    session = uow.session
    user_id = data.id or uuid.uuid4()
    if await session.get(User, user_id) is not None:
        raise conflict("id", f"a user with id {user_id} already exists")
    # An address is unique in its company; another company may have an account with
    # it too (logins are company-scoped, docs/security.md), and is never consulted.
    if await session.scalar(select(User.id).where(User.company_id == company_id, User.email == data.email)):
        raise conflict("email", f"a user with email {data.email} already exists")
    user = User(
        id=user_id,
        email=data.email,
        password_hash=await hash_password(data.password.get_secret_value() if data.password else None),
        first_name=data.first_name,
        last_name=data.last_name,
        company_id=company_id,
        is_active=not data.pending,
        pending=data.pending,
        email_verified=False,
        failed_logins=0,
        version=0,
    )
    session.add(user)
    roles = sorted(set(data.roles))
    try:
        await session.flush()
        for role_id in await _role_ids(session, roles):
            session.add(UserRole(user_id=user.id, role_id=role_id, company_id=company_id))
        session.add(UserPreference(user_id=user.id, company_id=company_id))
        if not data.pending:
            _emit(uow, user, events.created(user, roles))
        await uow.commit()
    except UniqueViolation as exc:  # a concurrent request won the race to the email
        raise conflict("email", f"a user with email {data.email} already exists") from exc
    return user


async def _load(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:
        raise not_found("user", user_id)
    return user


async def activate_user(*, uow: UnitOfWork, user_id: uuid.UUID) -> User:
    """A pending user becomes active and is announced (once)."""
    user = await _load(uow.session, user_id)
    if user.pending:
        user.pending = False
        user.is_active = True
        _emit(uow, user, events.created(user, await roles_of(uow.session, user.id), await _mails(uow.session, user.id)))
        await uow.commit()
    return user


async def remove_user(*, uow: UnitOfWork, user_id: uuid.UUID, undo_creation: bool = False) -> None:
    """Deactivate a user. Undoing its creation (a saga's compensation) or a pending
    user: remove it for good, announcing the deactivation if it had been announced."""
    user = await _load(uow.session, user_id)
    if user.pending or undo_creation:
        if not user.pending and user.is_active:
            user.is_active = False
            _emit(uow, user, events.deactivated(user))
            await uow.flush()
        await uow.session.delete(user)
        await uow.commit()
        return
    await deactivate_user(uow=uow, user_id=user_id)


async def deactivate_user(*, uow: UnitOfWork, user_id: uuid.UUID) -> User:
    """The user can no longer log in; every session ends. Announced once."""
    user = await _load(uow.session, user_id)
    if user.is_active:
        user.is_active = False
        await revoke_sessions(session=uow.session, user_id=user.id)
        _emit(uow, user, events.deactivated(user))
        await uow.commit()
    return user


async def update_user(*, uow: UnitOfWork, user_id: uuid.UUID, changes: dict[str, object]) -> User:
    user = await _load(uow.session, user_id)
    changed = [k for k, v in changes.items() if v is not None and getattr(user, k) != v]
    if not changed:
        return user
    if "email" in changed:
        taken = select(User.id).where(
            User.company_id == user.company_id, User.email == changes["email"], User.id != user.id
        )
        if await uow.session.scalar(taken):
            raise conflict("email", f"a user with email {changes['email']} already exists")
        user.email_verified = False
    for key in changed:
        setattr(user, key, changes[key])
    if not user.pending:
        roles = await roles_of(uow.session, user.id)
        _emit(uow, user, events.updated(user, roles, changed, await _mails(uow.session, user.id)))
    try:
        await uow.commit()
    except UniqueViolation as exc:
        raise conflict("email", f"a user with email {changes['email']} already exists") from exc
    return user


async def set_roles(*, uow: UnitOfWork, user_id: uuid.UUID, roles: Sequence[str]) -> User:
    session = uow.session
    user = await _load(session, user_id)
    before = await roles_of(session, user.id)
    wanted = sorted(set(roles))
    if before == wanted:
        return user
    await session.execute(delete(UserRole).where(UserRole.user_id == user.id))
    for role_id in await _role_ids(session, wanted):
        session.add(UserRole(user_id=user.id, role_id=role_id, company_id=user.company_id))
    if not user.pending:
        _emit(uow, user, events.updated(user, wanted, ["roles"], await _mails(session, user.id)))
    await uow.commit()
    return user


async def set_password(*, uow: UnitOfWork, user_id: uuid.UUID, password: str, keep: uuid.UUID | None = None) -> None:
    """New password; every session but ``keep`` ends (a stolen refresh token dies too)."""
    user = await _load(uow.session, user_id)
    user.password_hash = await hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    await revoke_sessions(session=uow.session, user_id=user.id, keep=keep)
    await uow.commit()


async def revoke_sessions(*, session: AsyncSession, user_id: uuid.UUID, keep: uuid.UUID | None = None) -> int:
    q = update(Session).where(Session.user_id == user_id, Session.revoked_at.is_(None))
    if keep is not None:
        q = q.where(Session.id != keep)
    result = await session.execute(q.values(revoked_at=utcnow()))
    return int(getattr(result, "rowcount", 0) or 0)


async def get_user(*, session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise not_found("user", user_id)
    return user


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


async def preferences(*, session: AsyncSession, user_id: uuid.UUID) -> UserPreference:
    prefs = await session.scalar(select(UserPreference).where(UserPreference.user_id == user_id))
    if prefs is None:
        raise not_found("user", user_id)
    return prefs


async def _mails(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """Whether the user wants mail (their preference; yes if none is kept)."""
    wanted = await session.scalar(select(UserPreference.email_notifications).where(UserPreference.user_id == user_id))
    return True if wanted is None else bool(wanted)


async def update_preferences(*, uow: UnitOfWork, user_id: uuid.UUID, changes: dict[str, object]) -> UserPreference:
    """Change preferences. A change of ``email_notifications`` is announced in a
    UserUpdated (the notification service keeps it with its copy of the user)."""
    prefs = await preferences(session=uow.session, user_id=user_id)
    before = prefs.email_notifications
    for key, value in changes.items():
        if value is not None:
            setattr(prefs, key, value)
    if prefs.email_notifications != before:
        user = await _load(uow.session, user_id)
        if not user.pending:
            roles = await roles_of(uow.session, user.id)
            _emit(uow, user, events.updated(user, roles, ["email_notifications"], prefs.email_notifications))
    await uow.commit()
    return prefs
