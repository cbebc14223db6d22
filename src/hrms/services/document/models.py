"""The document service's tables (seed 001: documents, document_versions,
document_permissions), the reminders its expiry job sent, and the employees it
knows (``document_users``, kept from employee events).

A document's content is never in the database: each version names its blob (the
SHA-256 of the content) in the platform's blob store, which keeps identical content
once. A document's metadata keeps a change history (``documents_history``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import isles
from isles import INFO_KEY, TenantOwned, UTCDateTime, new_metadata, reference, utcnow

metadata = new_metadata()

CATEGORIES = ("contract", "id", "certificate", "policy", "payslip", "other")
ACCESS = ("read", "write")
ROLES = ("admin", "manager", "employee")


class Base(DeclarativeBase):
    metadata = metadata


class DocumentUser(Base):
    """An employee as this service knows them: whose documents are theirs (by user),
    their manager and department (for the access rules), and whether they are still
    active (a deactivated employee's documents wait for HR's review)."""

    __tablename__ = "document_users"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, info={INFO_KEY: "employee.employees"})
    user_id: Mapped[uuid.UUID | None] = reference("auth.users", nullable=True)
    company_id: Mapped[uuid.UUID | None] = reference("company.companies", nullable=True)
    email: Mapped[str] = mapped_column(String(320))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    manager_id: Mapped[uuid.UUID | None] = reference("employee.employees", nullable=True)
    department_id: Mapped[uuid.UUID | None] = reference("company.departments", nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Document(TenantOwned, Base, isles.Historied):
    """A document of a company, maybe an employee's, and where its content is now
    (``current_version``). Deleted softly (``deleted_at``): its versions stay."""

    __tablename__ = "documents"
    __table_args__ = (
        CheckConstraint(
            "category IN ('contract', 'id', 'certificate', 'policy', 'payslip', 'other')", name="category_known"
        ),
        Index("idx_documents_deleted_at", "deleted_at"),
        Index("idx_documents_expires_on", "expires_on"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    employee_id: Mapped[uuid.UUID | None] = reference("employee.employees", nullable=True)
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(20))
    expires_on: Mapped[date | None] = mapped_column(Date)
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[uuid.UUID | None] = reference("auth.users", nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=0)  # its events' aggregate version
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


DOCUMENTS_HISTORY = isles.add_history(metadata, "documents")


class DocumentVersion(TenantOwned, Base):
    """One upload of a document's content: never changed, always readable."""

    # isles: ignore[ISL303] never changed: uploaded_at is when it was made
    __tablename__ = "document_versions"
    __table_args__ = (
        UniqueConstraint("document_id", "number", name="uq_document_versions_document_id_number"),
        CheckConstraint("number >= 1", name="number_positive"),
        CheckConstraint("size >= 0", name="size_not_negative"),
        Index("idx_document_versions_sha256", "sha256"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id"))
    number: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[uuid.UUID | None] = reference("auth.users", nullable=True)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DocumentPermission(TenantOwned, Base):
    """A grant of ``read`` or ``write`` on one document to exactly one of: an
    employee, a role of the company, a department."""

    # isles: ignore[ISL303] never changed (revoked: deleted)
    __tablename__ = "document_permissions"
    __table_args__ = (
        CheckConstraint("access IN ('read', 'write')", name="access_known"),
        CheckConstraint("role IS NULL OR role IN ('admin', 'manager', 'employee')", name="role_known"),
        CheckConstraint(
            "(CASE WHEN employee_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN role IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN department_id IS NULL THEN 0 ELSE 1 END) = 1",
            name="one_grantee",
        ),
        Index("idx_document_permissions_document_id", "document_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id"))
    access: Mapped[str] = mapped_column(String(5))
    employee_id: Mapped[uuid.UUID | None] = reference("employee.employees", nullable=True)
    role: Mapped[str | None] = mapped_column(String(20))
    department_id: Mapped[uuid.UUID | None] = reference("company.departments", nullable=True)
    granted_by: Mapped[uuid.UUID | None] = reference("auth.users", nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DocumentReminder(TenantOwned, Base):
    """An expiry reminder sent: once per document, expiry date and threshold (30 or 7
    days), written with its ``DocumentExpiring`` event. A new expiry date is reminded
    of again."""

    # isles: ignore[ISL303] never changed
    __tablename__ = "document_reminders"
    __table_args__ = (
        UniqueConstraint(
            "document_id", "expires_on", "days_left", name="uq_document_reminders_document_id_expires_on_days_left"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = reference("company.companies")
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id"))
    expires_on: Mapped[date] = mapped_column(Date)
    days_left: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=0)  # its event's aggregate version
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


__all__ = [
    "ACCESS",
    "CATEGORIES",
    "DOCUMENTS_HISTORY",
    "Document",
    "DocumentPermission",
    "DocumentReminder",
    "DocumentUser",
    "DocumentVersion",
    "metadata",
]
