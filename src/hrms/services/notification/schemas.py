"""Request bodies and views of the notification API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from hrms.services.notification.models import NotificationStatus


class TemplatePut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
    body: Annotated[str, StringConstraints(min_length=1, max_length=20_000)]


class TemplateView(BaseModel):
    key: str
    subject: str
    body: str
    placeholders: list[str]
    description: str
    custom: bool  # the company's own version (else the default)
    updated_at: datetime | None


class DeliveryView(BaseModel):
    attempt: int
    status: NotificationStatus
    sender: str
    detail: str | None
    created_at: datetime


class NotificationView(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID
    user_id: uuid.UUID
    email: str
    template_key: str
    subject: str
    body: str
    status: NotificationStatus
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    created_at: datetime
    deliveries: list[DeliveryView] = []


class RecipientView(BaseModel):
    """The service's local copy of a user (kept from auth events)."""

    id: uuid.UUID
    company_id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    is_active: bool
    email_notifications: bool
    version: int
    updated_at: datetime
