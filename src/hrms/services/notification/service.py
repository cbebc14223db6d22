"""Notification use cases: queue a message from an event, deliver what is queued,
read notifications, and keep a company's templates."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.services.notification import templates
from hrms.services.notification.models import (
    DeliveryLog,
    Notification,
    NotificationStatus,
    Recipient,
    Template,
)
from isles import (
    ACROSS_TENANTS,
    Bounced,
    ListSpec,
    Mail,
    Sender,
    ServiceDatabase,
    UniqueViolation,
    UnitOfWork,
    conflict,
    not_found,
    utcnow,
)

log = structlog.get_logger("hrms.notification")

#: Attempts before a failing notification stays FAILED; a SENDING one whose sender
#: never answered (the process died) is tried again after ``SENDING_LEASE``.
MAX_ATTEMPTS = 5
SENDING_LEASE = timedelta(minutes=2)
BATCH = 20
#: Sent even to a user who wants no mail: they are about the account's safety.
SECURITY_NOTICES = frozenset({"email_changed", "invitation", "password_reset"})
#: Makes the one-time link a mail of ``LINKS`` carries: (company, user, purpose) -> (url, expires).
LinkMaker = Callable[[uuid.UUID, uuid.UUID, str], Awaitable[tuple[str, datetime]]]


def backoff(attempt: int) -> timedelta:
    return timedelta(seconds=min(3600.0, 5.0 * 4 ** (attempt - 1)))


async def template_for(session: AsyncSession, company_id: uuid.UUID, key: str) -> tuple[str, str]:
    own = await session.scalar(select(Template).where(Template.company_id == company_id, Template.key == key))
    if own is not None:
        return own.subject, own.body
    default = templates.DEFAULTS[key]
    return default.subject, default.body


async def admins_of(session: AsyncSession, company_id: uuid.UUID) -> list[uuid.UUID]:
    """The company's active admins (users), as this service knows them."""
    rows = await session.scalars(
        select(Recipient).where(Recipient.company_id == company_id, Recipient.is_active.is_(True))
    )
    return sorted((r.id for r in rows if "admin" in r.roles), key=str)


async def enqueue(
    *,
    uow: UnitOfWork,
    user_id: uuid.UUID,
    key: str,
    source_event_id: str,
    values: dict[str, Any] | None = None,
) -> Notification | None:
    """Queue the ``key`` message for a user, rendered now from the company's template and
    the local copy of the user. Once per event and user (a redelivery queues nothing);
    nothing for an unknown or inactive user, nor for one who wants no mail (but
    security notices)."""
    session = uow.session
    recipient = await session.get(Recipient, user_id)
    if recipient is None or not recipient.is_active:
        log.info("notification.skipped", user=str(user_id), key=key, reason="unknown or inactive user")
        return None
    if not recipient.email_notifications and key not in SECURITY_NOTICES:
        log.info("notification.skipped", user=str(user_id), key=key, reason="the user wants no mail")
        return None
    existing = select(Notification.id).where(
        Notification.source_event_id == source_event_id, Notification.user_id == user_id
    )
    if await session.scalar(existing) is not None:
        return None
    context = {
        "first_name": recipient.first_name,
        "last_name": recipient.last_name,
        "email": recipient.email,
        **(values or {}),
    }
    subject, body = await template_for(session, recipient.company_id, key)
    notification = Notification(
        id=uuid.uuid4(),
        company_id=recipient.company_id,
        user_id=user_id,
        email=recipient.email,
        template_key=key,
        subject=templates.render(subject, context)[:255],
        body=templates.render(body, context),
        status=NotificationStatus.QUEUED,
        attempts=0,
        next_attempt_at=utcnow(),
        source_event_id=source_event_id,
    )
    session.add(notification)  # the commit wakes the dispatcher
    return notification


@dataclass(frozen=True)
class _Claimed:
    id: uuid.UUID
    attempt: int
    mail: Mail
    key: str
    company_id: uuid.UUID
    user_id: uuid.UUID


async def _claim(db: ServiceDatabase, limit: int) -> list[_Claimed]:
    """Mark up to ``limit`` due notifications SENDING (one attempt more) and return
    them. On PostgreSQL, concurrent dispatchers skip each other's rows."""
    now = utcnow()
    due = or_(
        Notification.status == NotificationStatus.QUEUED,
        (Notification.status == NotificationStatus.FAILED) & (Notification.attempts < MAX_ATTEMPTS),
        (Notification.status == NotificationStatus.SENDING) & (Notification.attempts < MAX_ATTEMPTS),
    )
    due_now = and_(due, Notification.next_attempt_at <= now)
    # A poll (every second) mostly finds nothing due: look without taking the write
    # lock (on SQLite, the whole database's) before claiming.
    # The dispatcher delivers every company's mail: across tenants, said so.
    async with db.read_session(tenant=ACROSS_TENANTS) as session:
        if await session.scalar(select(Notification.id).where(due_now).limit(1)) is None:
            return []
    q = select(Notification).where(due_now).order_by(Notification.next_attempt_at).limit(limit)
    q = q.with_for_update(skip_locked=True) if not db.is_sqlite else q
    claimed = []
    async with db.writing(tenant=ACROSS_TENANTS) as session, session.begin():
        for n in (await session.scalars(q)).all():
            n.status = NotificationStatus.SENDING
            n.attempts += 1
            n.next_attempt_at = now + SENDING_LEASE
            mail = Mail(to=n.email, subject=n.subject, body=n.body, message_id=f"{n.id}")
            claimed.append(_Claimed(n.id, n.attempts, mail, n.template_key, n.company_id, n.user_id))
    return claimed


async def _with_link(claimed: _Claimed, links: LinkMaker | None) -> Mail:
    """The mail, with its one-time link (made now, sent only in this mail) if it has one."""
    purpose = templates.LINKS.get(claimed.key)
    if purpose is None:
        return claimed.mail
    if links is None:
        raise RuntimeError(f"a {claimed.key} mail needs a link, and this dispatcher cannot make links")
    url, expires = await links(claimed.company_id, claimed.user_id, purpose)
    values = {"set_password_url": url, "link_expires": expires.strftime("%Y-%m-%d %H:%M UTC")}
    mail = claimed.mail
    return Mail(
        to=mail.to,
        subject=templates.render(mail.subject, values),
        body=templates.render(mail.body, values),
        message_id=mail.message_id,
    )


async def dispatch(db: ServiceDatabase, sender: Sender, *, limit: int = BATCH, links: LinkMaker | None = None) -> int:
    """One round of delivery; returns how many notifications it tried. A mail with a
    one-time link gets it from ``links`` as it is sent; if that fails, the attempt
    fails and is tried again later."""
    claimed = await _claim(db, limit)
    for one in claimed:
        status, detail = NotificationStatus.DELIVERED, ""
        try:
            detail = await sender.send(await _with_link(one, links))
        except Bounced as exc:
            status, detail = NotificationStatus.BOUNCED, str(exc) or type(exc).__name__
        except Exception as exc:
            status, detail = NotificationStatus.FAILED, f"{type(exc).__name__}: {exc}"
        await record_attempt(db, one.id, one.attempt, status, sender.name, detail)
    return len(claimed)


async def record_attempt(
    db: ServiceDatabase, notification_id: uuid.UUID, attempt: int, status: NotificationStatus, sender: str, detail: str
) -> None:
    now = utcnow()
    async with db.writing(tenant=ACROSS_TENANTS) as session, session.begin():
        n = await session.get(Notification, notification_id, with_for_update=True)
        if n is None or n.status is not NotificationStatus.SENDING or n.attempts != attempt:
            return  # someone else took it over after our lease ran out
        n.status = status
        if status is NotificationStatus.DELIVERED:
            n.sent_at, n.last_error = now, None
        else:
            n.last_error = detail
            n.next_attempt_at = now + backoff(attempt)
        session.add(
            DeliveryLog(
                id=uuid.uuid4(),
                notification_id=n.id,
                company_id=n.company_id,
                attempt=attempt,
                status=status,
                sender=sender,
                detail=detail[:2000],
            )
        )
    log.info("notification.attempt", id=str(notification_id), attempt=attempt, status=status.value, sender=sender)


async def retry(*, uow: UnitOfWork, notification_id: uuid.UUID) -> Notification:
    """Queue a FAILED or BOUNCED notification again (its attempts start over)."""
    n = await uow.session.get(Notification, notification_id, with_for_update=True)
    if n is None:
        raise not_found("notification", notification_id)
    if n.status in (NotificationStatus.FAILED, NotificationStatus.BOUNCED):
        n.status, n.attempts, n.next_attempt_at = NotificationStatus.QUEUED, 0, utcnow()
    await uow.commit()
    return n


async def get_notification(*, session: AsyncSession, notification_id: uuid.UUID) -> Notification:
    n = await session.get(Notification, notification_id)
    if n is None:
        raise not_found("notification", notification_id)
    return n


async def delivery_logs(session: AsyncSession, notification_id: uuid.UUID) -> list[DeliveryLog]:
    q = select(DeliveryLog).where(DeliveryLog.notification_id == notification_id).order_by(DeliveryLog.attempt)
    return list(await session.scalars(q))


#: How the notification list sorts and searches (sort=, q=, cursor=): newest first.
#: By ``status``: in the enum's order on PostgreSQL (a native enum), by name on SQLite.
NOTIFICATIONS = ListSpec(
    sort={"created_at": Notification.created_at, "status": Notification.status},
    default=("-created_at",),
    key=Notification.id,
    search=(Notification.subject, Notification.email),
)


def notifications_where(*, user_id: uuid.UUID | None = None, status: NotificationStatus | None = None) -> Select[Any]:
    q = select(Notification)
    if user_id is not None:
        q = q.where(Notification.user_id == user_id)
    if status is not None:
        q = q.where(Notification.status == status)
    return q


async def get_recipient(*, session: AsyncSession, user_id: uuid.UUID) -> Recipient:
    r = await session.get(Recipient, user_id)
    if r is None:
        raise not_found("recipient", user_id)
    return r


async def company_templates(session: AsyncSession, company_id: uuid.UUID | None) -> dict[str, Template]:
    if company_id is None:
        return {}
    rows = await session.scalars(select(Template).where(Template.company_id == company_id))
    return {t.key: t for t in rows}


async def put_template(*, uow: UnitOfWork, company_id: uuid.UUID, key: str, subject: str, body: str) -> Template:
    session = uow.session
    own = await session.scalar(select(Template).where(Template.company_id == company_id, Template.key == key))
    if own is None:
        own = Template(id=uuid.uuid4(), company_id=company_id, key=key, subject=subject, body=body, version=1)
        session.add(own)
    else:
        own.subject, own.body, own.version = subject, body, own.version + 1
    try:
        await uow.commit()
    except UniqueViolation as exc:  # a concurrent first write of the same template won
        raise conflict("key", f"template {key} was just written by another request; try again") from exc
    return own


async def delete_template(*, uow: UnitOfWork, company_id: uuid.UUID, key: str) -> None:
    own = await uow.session.scalar(select(Template).where(Template.company_id == company_id, Template.key == key))
    if own is None:
        raise not_found("company template", key)
    await uow.session.delete(own)
    await uow.commit()
