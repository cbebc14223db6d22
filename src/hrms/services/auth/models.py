"""The auth service's tables (seed 001: users, roles, user_roles, sessions; permissions;
seed 002: user_preferences; password_tokens: one-time set-password links). Every
tenant-owned row carries ``company_id``.

The seed's ``idx_users_email`` and ``idx_sessions_token`` are the unique constraints'
own indexes here (a second index on the same column would only slow writes).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid, false, true
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from isles import LowerCase, TenantOwned, UTCDateTime, new_metadata, reference, utcnow

metadata = new_metadata()


class Base(DeclarativeBase):
    metadata = metadata


class User(TenantOwned, Base):
    __tablename__ = "users"
    # Logins are company-scoped: an address has at most one account per company
    # (and may have one in several companies; the password picks, see login).
    __table_args__ = (UniqueConstraint("company_id", "email"), Index("ix_users_email", "email"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(LowerCase(255))
    # Argon2id (argon2-cffi); "!..." marks a user who has no password yet (invited).
    password_hash: Mapped[str] = mapped_column(String(255))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Being created by a saga: cannot log in and is not announced until activated.
    pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When a reset-password mail was last asked for (a second within a minute sends none).
    reset_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=0)


class Role(Base):
    """admin, manager, employee: the same in every company."""

    __tablename__ = "roles"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Permission(Base):
    __tablename__ = "permissions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RolePermission(Base):
    __tablename__ = "role_permissions"

    role_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True)
    permission_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("permissions.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class UserRole(TenantOwned, Base):
    __tablename__ = "user_roles"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True, index=True)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Session(TenantOwned, Base):
    """A login: its refresh token is kept only as a SHA-256 hash, and rotates on use."""

    __tablename__ = "sessions"
    __table_args__ = (Index("idx_sessions_expires_at", "expires_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    token_hash: Mapped[str] = mapped_column(String(255), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    user_agent: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UserPreference(TenantOwned, Base):
    """Seed 002's UserPreferences; one row per user, made with the user."""

    __tablename__ = "user_preferences"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    email_notifications: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    theme: Mapped[str] = mapped_column(String(20), default="light", server_default="light")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class PasswordToken(TenantOwned, Base):
    """A one-time set-password link (an invitation, or a reset asked for by mail):
    only the SHA-256 of its token is kept; it works once, until ``expires_at``."""

    __tablename__ = "password_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    purpose: Mapped[str] = mapped_column(String(20))  # invitation | reset
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
