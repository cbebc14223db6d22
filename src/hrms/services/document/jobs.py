"""The document service's periodic work: ``remind_expiring`` (daily) emits a
``DocumentExpiring`` for each live document that expires in 30 days or fewer (and
again at 7 or fewer), once per document, expiry date and threshold: the reminder's
row (unique on those) and its event are written in one transaction, so a second run
of the day, or of a later day, adds nothing. A document that is already past a
threshold when it first comes into view (created 20 days before its expiry) gets
that threshold's reminder once, with its real days left."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from sqlalchemy import and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.services.document import events
from hrms.services.document.models import Document, DocumentReminder
from isles import ACROSS_TENANTS, Job, ServiceContext, UnitOfWork, utcnow

#: Days before the expiry a reminder goes out, the nearest last.
THRESHOLDS = (30, 7)


async def _due(session: AsyncSession, day: date, threshold: int) -> list[Document]:
    r = DocumentReminder
    q = (
        select(Document)
        .where(
            Document.deleted_at.is_(None),
            Document.expires_on.is_not(None),
            Document.expires_on >= day,
            Document.expires_on <= day + timedelta(days=threshold),
        )
        .where(
            ~exists().where(
                and_(r.document_id == Document.id, r.expires_on == Document.expires_on, r.days_left == threshold)
            )
        )
        .order_by(Document.expires_on, Document.id)
    )
    return list((await session.scalars(q)).all())


async def remind_expiring(uow: UnitOfWork, day: date) -> int:
    """Write the reminders due on ``day`` and their events; how many. The nearer
    threshold first: a document 5 days from its expiry gets the 7-day reminder, and
    the 30-day one is then marked sent too (no stale "30 days" after a "7 days")."""
    sent = 0
    seen: set[uuid.UUID] = set()
    for threshold in sorted(THRESHOLDS):
        for document in await _due(uow.session, day, threshold):
            assert document.expires_on is not None
            reminder = DocumentReminder(
                id=uuid.uuid4(),
                company_id=document.company_id,
                document_id=document.id,
                expires_on=document.expires_on,
                days_left=threshold,
                version=0,
                created_at=utcnow(),
            )
            uow.session.add(reminder)
            if document.id in seen:
                continue  # marked, not sent: the nearer reminder went out
            seen.add(document.id)
            events.expiring(uow, document, reminder)
            sent += 1
    await uow.commit()
    return sent


async def _run_remind(ctx: ServiceContext, day: date) -> str:
    async with ctx.uow(tenant=ACROSS_TENANTS) as uow:
        sent = await remind_expiring(uow, day)
    return f"remind_expiring {day}: {sent} reminders sent"


JOBS = (
    Job(
        "remind_expiring",
        run=_run_remind,
        schedule="daily",
        description="Remind of documents that expire in 30 and in 7 days (once each)",
    ),
)
