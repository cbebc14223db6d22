"""The company service's tables: ``companies`` as in seed 001, with a headcount."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Integer, String, Text, Uuid, true
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, synonym

from isles.schema import UTCDateTime, new_metadata, utcnow
from isles.tenancy import TenantOwned

metadata = new_metadata()


class Base(DeclarativeBase):
    metadata = metadata


class Company(TenantOwned, Base):
    __tablename__ = "companies"
    __table_args__ = (CheckConstraint("headcount >= 0", name="headcount_not_negative"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(255), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    industry: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[str | None] = mapped_column(String(50))
    website: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(50))
    address: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    headcount: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=0)

    # A company is its own tenant.
    company_id = synonym("id")
