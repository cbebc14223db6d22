"""User use cases."""

from __future__ import annotations

import asyncio
import secrets
import uuid

from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.services.auth.models import User
from hrms.services.auth.schemas import UserCreate
from isles.problems import conflict, not_found
from isles.uow import UnitOfWork

_hasher = PasswordHasher()


async def hash_password(password: str | None) -> str:
    """Argon2id, off the event loop. No password: a marker no password ever matches."""
    if password is None:
        return "!" + secrets.token_hex(16)
    return await asyncio.to_thread(_hasher.hash, password)


async def create_user(*, uow: UnitOfWork, data: UserCreate) -> User:
    session = uow.session
    user_id = data.id or uuid.uuid4()
    if await session.get(User, user_id) is not None:
        raise conflict("id", f"a user with id {user_id} already exists")
    if await session.scalar(select(User.id).where(User.email == data.email)):
        raise conflict("email", f"a user with email {data.email} already exists")
    user = User(
        id=user_id,
        email=data.email,
        password_hash=await hash_password(data.password.get_secret_value() if data.password else None),
        first_name=data.first_name,
        last_name=data.last_name,
        company_id=data.company_id,
        is_active=True,
        email_verified=False,
        version=0,
    )
    session.add(user)
    try:
        await uow.commit()
    except IntegrityError as exc:  # a concurrent request won the race to the email
        raise conflict("email", f"a user with email {data.email} already exists") from exc
    return user


async def delete_user(*, uow: UnitOfWork, user_id: uuid.UUID) -> None:
    """Delete a user for good (a compensation undoing its creation)."""
    user = await uow.session.get(User, user_id, with_for_update=True)
    if user is None:
        raise not_found("user", user_id)
    await uow.session.delete(user)
    await uow.commit()


async def get_user(*, session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise not_found("user", user_id)
    return user


async def list_users(
    *, session: AsyncSession, limit: int, offset: int, company_id: uuid.UUID | None = None
) -> tuple[list[User], int]:
    q = select(User)
    if company_id is not None:
        q = q.where(User.company_id == company_id)
    total = await session.scalar(select(func.count()).select_from(q.subquery()))
    rows = await session.scalars(q.order_by(User.last_name, User.first_name, User.id).limit(limit).offset(offset))
    return list(rows), int(total or 0)
