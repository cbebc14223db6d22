"""The document service's published contracts (issue 19): a document's content
uploaded (a new version), a document deleted, and a document about to expire.

The people are employees (ids of ``employee.employees``; ``employee_id`` None: a
company-wide document such as a policy); ``uploaded_by``/``deleted_by`` are users
(ids of ``auth.users``, None: the operator or a service)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import ClassVar, Literal

from isles import Event

AGGREGATE = "document"
REMINDER = "document_reminder"
Category = Literal["contract", "id", "certificate", "policy", "payslip", "other"]


class DocumentUploaded(Event):
    """A new version of a document's content is stored (version 1: the document is new)."""

    event_type: ClassVar[str] = "document.DocumentUploaded"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    company_id: uuid.UUID
    employee_id: uuid.UUID | None = None
    title: str
    category: Category
    version: int
    filename: str
    size: int
    media_type: str
    sha256: str
    uploaded_by: uuid.UUID | None = None
    uploaded_at: datetime


class DocumentDeleted(Event):
    """A document is deleted (softly: HR can still find it; its versions stay stored)."""

    event_type: ClassVar[str] = "document.DocumentDeleted"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    company_id: uuid.UUID
    employee_id: uuid.UUID | None = None
    title: str
    category: Category
    deleted_by: uuid.UUID | None = None
    deleted_at: datetime


class DocumentExpiring(Event):
    """A document expires in ``days_left`` days (30, then 7): once per threshold and
    expiry date, whatever how often the daily job runs."""

    event_type: ClassVar[str] = "document.DocumentExpiring"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    company_id: uuid.UUID
    employee_id: uuid.UUID | None = None
    title: str
    category: Category
    expires_on: date
    days_left: int


__all__ = ["AGGREGATE", "REMINDER", "Category", "DocumentDeleted", "DocumentExpiring", "DocumentUploaded"]
