"""The notification service's tables (seeds 001, 002, 004): ``notification_templates``,
``notifications`` (status enum as in seed 002), ``delivery_logs``, and its local copies
of the people it writes to — ``notification_users`` (seed 004's NotificationUserInfo:
email and name, kept from auth events) and ``notification_employees`` (which user an
employee is, kept from employee events)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Boolean, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid, true
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from isles import INFO_KEY, StringList, TenantOwned, UTCDateTime, new_metadata, reference, utcnow

metadata = new_metadata()


class Base(DeclarativeBase):
    metadata = metadata


class NotificationStatus(enum.Enum):
    """Seed 002's ``NotificationStatus``: QUEUED → SENDING → DELIVERED, or FAILED (tried
    again until the attempts run out) or BOUNCED (refused for good)."""

    QUEUED = "QUEUED"
    SENDING = "SENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"
    BOUNCED = "BOUNCED"


STATUS = Enum(NotificationStatus, name="notification_status", values_callable=lambda e: [m.value for m in e])


class Recipient(TenantOwned, Base):
    """A user as this service knows them: denormalized for quick access (seed 002),
    kept from auth's UserCreated/UserUpdated/UserDeactivated."""

    __tablename__ = "notification_users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, info={INFO_KEY: "auth.users"})
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    email: Mapped[str] = mapped_column(String(255))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(Boolean)
    # The user's preference (auth's user_preferences): no mail but security notices.
    email_notifications: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # The user's roles in their company: who decides what no manager decides (an
    # admin: a leave request of someone without a manager).
    roles: Mapped[list[str]] = mapped_column(StringList, default=list)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class RecipientEmployee(TenantOwned, Base):
    """Which user an employee is (events about employees name the employee)."""

    __tablename__ = "notification_employees"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, info={INFO_KEY: "employee.employees"})
    company_id: Mapped[uuid.UUID | None] = reference("company.companies", nullable=True)
    user_id: Mapped[uuid.UUID | None] = reference("auth.users", nullable=True)
    full_name: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Template(TenantOwned, Base):
    """A company's own version of a message template (the defaults live in code, see
    ``templates.DEFAULTS``). ``$name`` placeholders."""

    __tablename__ = "notification_templates"
    __table_args__ = (UniqueConstraint("company_id", "key"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    key: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)


class Notification(TenantOwned, Base):
    __tablename__ = "notifications"
    __table_args__ = (
        # One notification per event and person: a redelivered event queues nothing twice.
        UniqueConstraint("source_event_id", "user_id"),
        Index("idx_notifications_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    user_id: Mapped[uuid.UUID] = reference("auth.users")
    email: Mapped[str] = mapped_column(String(255))  # denormalized: the address it went to
    template_key: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[NotificationStatus] = mapped_column(STATUS, default=NotificationStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    source_event_id: Mapped[str] = mapped_column(String(100))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class DeliveryLog(TenantOwned, Base):
    """One attempt to deliver a notification, and how it went."""

    __tablename__ = "delivery_logs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    notification_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"), index=True)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    attempt: Mapped[int] = mapped_column(Integer)
    status: Mapped[NotificationStatus] = mapped_column(STATUS)
    sender: Mapped[str] = mapped_column(String(50))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
