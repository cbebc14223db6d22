"""Request bodies and views of the notification API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.config import JsonDict

from hrms.contracts import examples as ex
from hrms.services.notification.models import NotificationStatus

#: The assignment notice, as a company might word it (``$name``: a placeholder).
SUBJECT = "Welcome to $project_name"
BODY = "Hello $first_name,\n\nyou are on $project_name as $role ($allocation%) from $start_date. Enjoy!\n"
#: The same mail as sent to Ada.
SENT_SUBJECT = f"Welcome to {ex.PROJECT}"
SENT_BODY = f"Hello {ex.FIRST_NAME},\n\nyou are on {ex.PROJECT} as {ex.ROLE} (50%) from {ex.START_DATE}. Enjoy!\n"


class TemplatePut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)] = Field(
        examples=[SUBJECT]
    )
    body: Annotated[str, StringConstraints(min_length=1, max_length=20_000)] = Field(examples=[BODY])


class TemplateView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "key": "assignment_created",
                    "subject": SUBJECT,
                    "body": BODY,
                    "placeholders": [
                        "allocation",
                        "email",
                        "first_name",
                        "last_name",
                        "project_name",
                        "role",
                        "start_date",
                    ],
                    "description": "An employee was assigned to a project (project AssignmentCreated).",
                    "custom": True,
                    "updated_at": ex.UPDATED_AT,
                }
            ]
        }
    )

    key: str
    subject: str
    body: str
    placeholders: list[str]
    description: str
    custom: bool  # the company's own version (else the default)
    updated_at: datetime | None


#: Ada's notice, delivered at the first attempt.
DELIVERY: JsonDict = {
    "attempt": 1,
    "status": "DELIVERED",
    "sender": "smtp",
    "detail": "250 2.0.0 OK queued as 4Q9v1x2Lz",
    "created_at": "2025-03-01T09:00:05Z",
}


class DeliveryView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [dict(DELIVERY)]})

    attempt: int
    status: NotificationStatus
    sender: str
    detail: str | None
    created_at: datetime


class NotificationView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": ex.NOTIFICATION_ID,
                    "company_id": ex.COMPANY_ID,
                    "user_id": ex.USER_ID,
                    "email": ex.EMAIL,
                    "template_key": "assignment_created",
                    "subject": SENT_SUBJECT,
                    "body": SENT_BODY,
                    "status": "DELIVERED",
                    "attempts": 1,
                    "sent_at": "2025-03-01T09:00:05Z",
                    "created_at": ex.CREATED_AT,
                    "deliveries": [dict(DELIVERY)],
                }
            ]
        }
    )

    id: uuid.UUID
    company_id: uuid.UUID
    user_id: uuid.UUID
    email: str
    template_key: str
    subject: str
    body: str
    status: NotificationStatus
    attempts: int
    last_error: str | None = Field(examples=["SMTP 451 4.7.1: greylisted, try again later"])
    sent_at: datetime | None
    created_at: datetime
    deliveries: list[DeliveryView] = []


class RecipientView(BaseModel):
    """The service's local copy of a user (kept from auth events)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": ex.USER_ID,
                    "company_id": ex.COMPANY_ID,
                    "email": ex.EMAIL,
                    "first_name": ex.FIRST_NAME,
                    "last_name": ex.LAST_NAME,
                    "is_active": True,
                    "email_notifications": True,
                    "version": 3,
                    "updated_at": ex.UPDATED_AT,
                }
            ]
        }
    )

    id: uuid.UUID
    company_id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    is_active: bool
    email_notifications: bool
    version: int
    updated_at: datetime
