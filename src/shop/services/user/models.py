"""The user service's tables (seed 003's USER, USER_ADDRESS and USER_PREFERENCE).

One store, one set of users: these tables are not tenant-owned (every shop token names
the store, :data:`shop.contracts.STORE`). The column names are the diagram's
(``address_line1``, ``preference_key``); the Python names are shorter (``line1``,
``key``), as the API says them.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
    false,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from isles import LowerCase, StringList, UTCDateTime, new_metadata, utcnow

metadata = new_metadata()


class Base(DeclarativeBase):
    metadata = metadata


class User(Base):
    """A shop account: a customer or an admin. The email is kept lower-case (unique)."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("email"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(LowerCase(255))
    # Argon2id (argon2-cffi), rehashed at login when the parameters change.
    password_hash: Mapped[str] = mapped_column(String(255))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(32))
    roles: Mapped[list[str]] = mapped_column(StringList)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Wrong passwords in a row, and until when the account is locked after too many.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Address(Base):
    """One of a user's addresses. At most one per user is the default (a partial unique
    index); the service moves the mark in one transaction."""

    __tablename__ = "user_addresses"
    __table_args__ = (
        Index(
            "uq_user_addresses_user_id_default",
            "user_id",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
        CheckConstraint("length(country) = 2", name="country_iso2"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # Same service, same database: an ordinary foreign key.
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    recipient: Mapped[str] = mapped_column(String(200))
    line1: Mapped[str] = mapped_column("address_line1", String(200))
    line2: Mapped[str | None] = mapped_column("address_line2", String(200))
    city: Mapped[str] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))  # ISO 3166-1 alpha-2, upper-case
    is_default: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Preference(Base):
    """One of a user's preferences: a key (``newsletter``, ``ui.theme``) and its value."""

    __tablename__ = "user_preferences"
    __table_args__ = (UniqueConstraint("user_id", "preference_key"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column("preference_key", String(64))
    value: Mapped[str] = mapped_column("preference_value", String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


__all__ = ["Address", "Preference", "User", "metadata"]
