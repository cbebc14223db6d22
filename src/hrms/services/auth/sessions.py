"""Logins: sessions kept by refresh-token hash, short-lived signed access tokens,
throttling of repeated failures."""

from __future__ import annotations

import hashlib
import math
import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.services.auth.models import Permission, Role, RolePermission, Session, User
from hrms.services.auth.schemas import TokenPair
from hrms.services.auth.service import roles_of, verify_password
from isles import FieldError, Problem, SecurityLog, TokenSigner, UnitOfWork, not_found, passwords, unauthorized, utcnow

_WRONG = "the email or the password is wrong"


def token_hash(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode()).hexdigest()


def _unauthorized(detail: str = _WRONG) -> Problem:
    return unauthorized(detail, "invalid_credentials")


async def permissions_of(session: AsyncSession, roles: list[str]) -> list[str]:
    """The permissions the roles grant, as stored (the matrix is data here)."""
    rows = await session.scalars(
        select(Permission.name)
        .join(RolePermission, RolePermission.permission_id == Permission.id)
        .join(Role, Role.id == RolePermission.role_id)
        .where(Role.name.in_(roles))
        .distinct()
    )
    return sorted(rows)


async def _issue(uow: UnitOfWork, signer: TokenSigner, user: User, session: Session) -> TokenPair:
    refresh = secrets.token_urlsafe(32)
    session.token_hash = token_hash(refresh)
    session.last_used_at = utcnow()
    roles = await roles_of(uow.session, user.id)
    access = signer.issue(
        subject=str(user.id),
        tenant=user.company_id,
        roles=roles,
        permissions=await permissions_of(uow.session, roles),
        session_id=session.id,
    )
    await uow.commit()
    return TokenPair(
        access_token=access,
        expires_in=int(signer.ttl),
        refresh_token=refresh,
        refresh_expires_at=session.expires_at,
        session_id=session.id,
    )


async def login(
    *,
    uow: UnitOfWork,
    signer: TokenSigner,
    email: str,
    password: str,
    refresh_ttl: float,
    max_failures: int,
    lockout: float,
    user_agent: str | None,
    company_id: uuid.UUID | None = None,
    security: SecurityLog | None = None,
    ip: str | None = None,
) -> TokenPair:
    """Check the password; after ``max_failures`` wrong ones in a row an account is
    locked for ``lockout`` seconds (429 with Retry-After), whatever password comes.

    Logins are company-scoped: an address may have an account in several companies.
    The password picks the account; if it opens more than one, the caller (who has
    just proved it for each) is asked to name the company (409 listing them).
    ``company_id`` narrows the accounts tried to one company's. Each outcome goes to
    the ``security`` log (the address, never the password)."""

    def record(event: str, account: User | None = None, **detail: object) -> None:
        if security is None:
            return
        if account is not None:  # one account in question: say which
            security.record(event, actor=email, company=account.company_id, ip=ip, user=str(account.id), **detail)
        else:
            security.record(event, actor=email, company=company_id, ip=ip, **detail)

    query = select(User).where(User.email == email)
    if company_id is not None:
        query = query.where(User.company_id == company_id)
    accounts = list(await uow.session.scalars(query.order_by(User.company_id).with_for_update()))
    now = utcnow()
    if not accounts:
        await verify_password(None, password)  # a wrong address costs what a wrong password does
        record("login.failed", reason="unknown address")
        raise _unauthorized()
    open_ = [u for u in accounts if u.locked_until is None or u.locked_until <= now]
    if not open_:
        wait = math.ceil(min((u.locked_until - now).total_seconds() for u in accounts if u.locked_until))
        record("login.throttled", accounts[0] if len(accounts) == 1 else None, retry_after=wait)
        raise Problem(
            429,
            f"too many failed logins; try again in {wait} s",
            slug="login-throttled",
            headers={"Retry-After": str(wait)},
        )
    opened = [u for u in open_ if await verify_password(u.password_hash, password)]
    if not opened:
        locked = []
        for user in open_:
            user.failed_logins += 1
            if user.failed_logins >= max_failures:
                user.locked_until = now + timedelta(seconds=lockout)
                user.failed_logins = 0
                locked.append(user)
        await uow.commit()
        record("login.failed", open_[0] if len(open_) == 1 else None, reason="wrong password")
        for user in locked:
            record("login.locked", user, seconds=lockout)
        raise _unauthorized()
    usable = [u for u in opened if u.is_active and not u.pending]
    if not usable:
        record("login.failed", opened[0] if len(opened) == 1 else None, reason="account not active")
        raise _unauthorized("this account is not active")
    if len(usable) > 1:
        raise Problem(
            409,
            "this address and password open accounts in several companies: name one (company_id)",
            slug="choose-company",
            errors=[FieldError("company_id", "name the company to log in to", "ambiguous")],
            extra={"companies": [{"id": str(u.company_id)} for u in usable]},
        )
    user = usable[0]
    user.failed_logins = 0
    user.locked_until = None
    if user.password_hash and passwords.needs_rehash(user.password_hash):  # made with older parameters
        user.password_hash = await passwords.hash(password)
    session = Session(
        id=uuid.uuid4(),
        user_id=user.id,
        company_id=user.company_id,
        expires_at=now + timedelta(seconds=refresh_ttl),
        user_agent=(user_agent or "")[:255] or None,
    )
    uow.session.add(session)
    issued = await _issue(uow, signer, user, session)
    record("login.succeeded", user, session=str(session.id))
    return issued


async def refresh(*, uow: UnitOfWork, signer: TokenSigner, refresh_token: str) -> TokenPair:
    """A new access token and a new refresh token; the old refresh token stops working."""
    session = await uow.session.scalar(
        select(Session).where(Session.token_hash == token_hash(refresh_token)).with_for_update()
    )
    if session is None or session.revoked_at is not None or session.expires_at <= utcnow():
        raise _unauthorized("the refresh token is unknown, revoked or expired")
    user = await uow.session.get(User, session.user_id)
    if user is None or not user.is_active:
        raise _unauthorized("this account is not active")
    return await _issue(uow, signer, user, session)


async def revoke(*, uow: UnitOfWork, session_id: uuid.UUID, user_id: uuid.UUID | None) -> Session:
    """End a session (``user_id``: only if it is that user's)."""
    session = await uow.session.get(Session, session_id, with_for_update=True)
    if session is None or (user_id is not None and session.user_id != user_id):
        raise not_found("session", session_id)
    if session.revoked_at is None:
        session.revoked_at = utcnow()
        await uow.commit()
    return session


async def list_sessions(*, session: AsyncSession, user_id: uuid.UUID, active_only: bool = True) -> list[Session]:
    q = select(Session).where(Session.user_id == user_id)
    if active_only:
        q = q.where(Session.revoked_at.is_(None), Session.expires_at > utcnow())
    return list(await session.scalars(q.order_by(Session.created_at.desc())))


def is_live(session: Session, now: datetime | None = None) -> bool:
    return session.revoked_at is None and session.expires_at > (now or utcnow())
