"""How the document service turns a change into the events it publishes
(``hrms.contracts.document``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from hrms.contracts.document import AGGREGATE, REMINDER, DocumentDeleted, DocumentExpiring, DocumentUploaded
from hrms.services.document.models import Document, DocumentReminder, DocumentVersion
from isles import UnitOfWork

PUBLISHES = (DocumentUploaded, DocumentDeleted, DocumentExpiring)


def uploaded(uow: UnitOfWork, d: Document, v: DocumentVersion) -> None:
    event = DocumentUploaded(
        id=d.id,
        company_id=d.company_id,
        employee_id=d.employee_id,
        title=d.title,
        category=d.category,
        version=v.number,
        filename=v.filename,
        size=v.size,
        media_type=v.media_type,
        sha256=v.sha256,
        uploaded_by=v.uploaded_by,
        uploaded_at=v.uploaded_at,
    )
    uow.emit(event, aggregate=d, aggregate_type=AGGREGATE, tenant_id=str(d.company_id))


def deleted(uow: UnitOfWork, d: Document, by: uuid.UUID | None, at: datetime) -> None:
    event = DocumentDeleted(
        id=d.id,
        company_id=d.company_id,
        employee_id=d.employee_id,
        title=d.title,
        category=d.category,
        deleted_by=by,
        deleted_at=at,
    )
    uow.emit(event, aggregate=d, aggregate_type=AGGREGATE, tenant_id=str(d.company_id))


def expiring(uow: UnitOfWork, d: Document, reminder: DocumentReminder) -> None:
    """Emitted on the reminder (not the document: a reminder is no change of the
    document, so it leaves no history row)."""
    event = DocumentExpiring(
        id=d.id,
        company_id=d.company_id,
        employee_id=d.employee_id,
        title=d.title,
        category=d.category,
        expires_on=reminder.expires_on,
        days_left=reminder.days_left,
    )
    uow.emit(event, aggregate=reminder, aggregate_type=REMINDER, tenant_id=str(d.company_id))
