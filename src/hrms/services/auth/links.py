"""One-time set-password links: a new user's invitation, and a reset asked for by mail.

A link carries 32 random bytes; only their SHA-256 is kept (``password_tokens``), so
neither this database nor any event holds a usable link. The link is made when the
notification service sends the mail (``POST /password/links``, with ``users:invite``)
and goes out only in that mail; it works once, until it expires, and making a new
one of the same purpose ends the old. The token travels in the URL's fragment
(``#token=…``), which browsers never send to a server or in a Referer.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

import structlog
from sqlalchemy import select, update

from hrms.contracts.auth import AGGREGATE, INVITATION, RESET, PasswordLink, PasswordResetRequested
from hrms.services.auth.models import PasswordToken, User
from hrms.services.auth.service import set_password
from isles import FieldError, UnitOfWork, invalid, not_found, utcnow

log = structlog.get_logger("hrms.auth")

#: A second reset asked for the same user within this time sends no second mail.
RESET_THROTTLE = timedelta(seconds=60)
PAGE = "/api/auth/password/set"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def make(*, uow: UnitOfWork, user_id: uuid.UUID, purpose: str, ttl: timedelta, public_url: str) -> PasswordLink:
    """A new link for an active user; earlier unused links of the same purpose end."""
    session = uow.session
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:
        raise not_found("user", user_id)
    if not user.is_active or user.pending:
        raise invalid([FieldError("user_id", f"user {user_id} is not active", "inactive")])
    now = utcnow()
    await session.execute(
        update(PasswordToken)
        .where(PasswordToken.user_id == user.id, PasswordToken.purpose == purpose, PasswordToken.used_at.is_(None))
        .values(expires_at=now)
    )
    token = secrets.token_urlsafe(32)
    expires_at = now + ttl
    session.add(
        PasswordToken(
            user_id=user.id,
            company_id=user.company_id,
            purpose=purpose,
            token_hash=_hash(token),
            expires_at=expires_at,
        )
    )
    await uow.commit()
    log.info("auth.password_link", user=str(user.id), purpose=purpose)
    return PasswordLink(url=f"{public_url.rstrip('/')}{PAGE}#token={token}", expires_at=expires_at)


async def request_reset(*, uow: UnitOfWork, email: str) -> None:
    """Announce a reset for each active account of ``email`` (an address may have one
    in several companies; PasswordResetRequested: the notification service mails each
    link, naming its company). Unknown, inactive, or asked a moment ago: nothing, and
    the caller cannot tell which."""
    session = uow.session
    now = utcnow()
    accounts = await session.scalars(select(User).where(User.email == email).with_for_update())
    announced = False
    for user in accounts:
        if not user.is_active or user.pending:
            continue
        if user.reset_requested_at is not None and now - user.reset_requested_at < RESET_THROTTLE:
            continue
        user.reset_requested_at = now
        uow.emit(
            PasswordResetRequested(id=user.id, company_id=user.company_id),
            aggregate=user,
            aggregate_type=AGGREGATE,
            tenant_id=str(user.company_id),
        )
        announced = True
    if announced:
        await uow.commit()


def _refused(message: str, code: str) -> Exception:
    return invalid([FieldError("token", f"{message}; ask for a new link (POST /api/auth/password/forgot)", code)])


async def use(*, uow: UnitOfWork, token: str, password: str) -> uuid.UUID:
    """Set the password of the link's user, once. The user's address is thereby
    verified; every session and every other open link of the user ends."""
    session = uow.session
    row = await session.scalar(select(PasswordToken).where(PasswordToken.token_hash == _hash(token)).with_for_update())
    now = utcnow()
    if row is None:
        raise _refused("is not a valid link", "invalid")
    if row.used_at is not None:
        raise _refused("was used already", "used")
    if row.expires_at <= now:
        raise _refused("has expired", "expired")
    user = await session.get(User, row.user_id, with_for_update=True)
    if user is None or not user.is_active or user.pending:
        raise _refused("is not valid for this account any more", "inactive")
    row.used_at = now
    await session.execute(
        update(PasswordToken)
        .where(PasswordToken.user_id == user.id, PasswordToken.used_at.is_(None), PasswordToken.id != row.id)
        .values(expires_at=now)
    )
    user.email_verified = True
    await set_password(uow=uow, user_id=user.id, password=password)  # commits
    log.info("auth.password_set_by_link", user=str(user.id), purpose=row.purpose)
    return user.id


__all__ = ["INVITATION", "PAGE", "RESET", "make", "request_reset", "use"]
