"""Use cases of documents: create one with its first version, add versions, change
its metadata, delete it (softly), grant and revoke access, list and review.

The content is in the blob store before any of these runs (the route streams it
there); a use case records the version beside the document and emits its event in
one transaction. A refused or failed write leaves a blob no version names: it is
harmless (content-addressed, the next upload of the same content reuses it)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.services.document import events
from hrms.services.document.deps import Access, forbidden
from hrms.services.document.models import Document, DocumentPermission, DocumentUser, DocumentVersion
from hrms.services.document.schemas import DocumentFields, GrantCreate
from isles import BlobInfo, FieldError, ListSpec, UnitOfWork, invalid, not_found, utcnow


def _version(
    d: Document, number: int, blob: BlobInfo, filename: str, media_type: str, by: uuid.UUID | None
) -> DocumentVersion:
    return DocumentVersion(
        id=uuid.uuid4(),
        company_id=d.company_id,
        document_id=d.id,
        number=number,
        filename=filename,
        size=blob.size,
        media_type=media_type,
        sha256=blob.sha256,
        uploaded_by=by,
        uploaded_at=utcnow(),
    )


async def _check_employee(session: AsyncSession, company_id: uuid.UUID, employee_id: uuid.UUID | None) -> None:
    if employee_id is None:
        return
    person = await session.get(DocumentUser, employee_id)
    if person is None or person.company_id != company_id:
        raise invalid([FieldError("employee_id", f"employee {employee_id} does not exist", "not_found")])


async def owner_for(
    session: AsyncSession, access: Access, company_id: uuid.UUID, fields: DocumentFields
) -> uuid.UUID | None:
    """Whose a new document is (the named employee; else, but for an admin, the
    caller), if the caller may create it: 422 for an unknown employee, 403 if not."""
    employee_id = fields.employee_id if fields.employee_id is not None or access.admin else access.me_id
    await _check_employee(session, company_id, employee_id)
    if not access.may_create(employee_id, fields.category):
        raise forbidden(f"the caller may not create {fields.category} documents for this employee")
    return employee_id


async def create_document(
    *,
    uow: UnitOfWork,
    access: Access,
    company_id: uuid.UUID,
    fields: DocumentFields,
    blob: BlobInfo,
    filename: str,
    media_type: str,
    by: uuid.UUID | None,
) -> tuple[Document, DocumentVersion]:
    """A new document whose first version is ``blob``."""
    employee_id = await owner_for(uow.session, access, company_id, fields)
    document = Document(
        id=uuid.uuid4(),
        company_id=company_id,
        employee_id=employee_id,
        title=fields.title,
        category=fields.category,
        expires_on=fields.expires_on,
        current_version=1,
        created_by=by,
        version=0,
    )
    uow.session.add(document)
    version = _version(document, 1, blob, filename, media_type, by)
    uow.session.add(version)
    events.uploaded(uow, document, version)
    await uow.commit()
    return document, version


async def add_version(
    *, uow: UnitOfWork, document: Document, blob: BlobInfo, filename: str, media_type: str, by: uuid.UUID | None
) -> DocumentVersion:
    """The document's next version (``document`` locked by the caller's unit of work)."""
    number = document.current_version + 1
    version = _version(document, number, blob, filename, media_type, by)
    uow.session.add(version)
    document.current_version = number
    events.uploaded(uow, document, version)
    await uow.commit()
    return version


async def version_of(session: AsyncSession, document: Document, number: int | None = None) -> DocumentVersion:
    wanted = document.current_version if number is None else number
    version: DocumentVersion | None = await session.scalar(
        select(DocumentVersion).where(DocumentVersion.document_id == document.id, DocumentVersion.number == wanted)
    )
    if version is None:
        raise not_found("version", wanted)
    return version


async def versions_of(session: AsyncSession, document: Document) -> list[DocumentVersion]:
    rows = await session.scalars(
        select(DocumentVersion).where(DocumentVersion.document_id == document.id).order_by(DocumentVersion.number)
    )
    return list(rows.all())


async def update_document(*, uow: UnitOfWork, document: Document, changes: Mapping[str, Any]) -> Document:
    for key, value in changes.items():
        setattr(document, key, value)
    await uow.commit()
    return document


async def delete_document(*, uow: UnitOfWork, document: Document, by: uuid.UUID | None) -> None:
    """Softly: the document leaves the lists (``?include_deleted=true`` shows it); its versions stay."""
    now = utcnow()
    document.deleted_at = now
    events.deleted(uow, document, by, now)
    await uow.commit()


async def grant(*, uow: UnitOfWork, document: Document, data: GrantCreate, by: uuid.UUID | None) -> DocumentPermission:
    if len(data.grantees()) != 1:
        field = data.grantees()[1] if len(data.grantees()) > 1 else "employee_id"
        raise invalid([FieldError(field, "name exactly one of employee_id, role, department_id", "one_grantee")])
    await _check_employee(uow.session, document.company_id, data.employee_id)
    row = DocumentPermission(
        id=uuid.uuid4(),
        company_id=document.company_id,
        document_id=document.id,
        access=data.access,
        employee_id=data.employee_id,
        role=data.role,
        department_id=data.department_id,
        granted_by=by,
        created_at=utcnow(),
    )
    uow.session.add(row)
    await uow.commit()
    return row


async def grants_of(session: AsyncSession, document: Document) -> list[DocumentPermission]:
    rows = await session.scalars(
        select(DocumentPermission)
        .where(DocumentPermission.document_id == document.id)
        .order_by(DocumentPermission.created_at, DocumentPermission.id)
    )
    return list(rows.all())


async def revoke(*, uow: UnitOfWork, document: Document, grant_id: uuid.UUID) -> None:
    row = await uow.session.get(DocumentPermission, grant_id)
    if row is None or row.document_id != document.id:
        raise not_found("grant", grant_id)
    await uow.session.delete(row)
    await uow.commit()


#: How document lists sort and search (sort=, q=, cursor=).
DOCUMENTS = ListSpec(
    sort={
        "created_at": Document.created_at,
        "title": Document.title,
        "updated_at": Document.updated_at,
    },
    default=("-created_at",),
    key=Document.id,
    search=(Document.title,),
)


def documents_where(
    access: Access,
    *,
    include_deleted: bool,
    employee_id: uuid.UUID | None,
    category: str | None,
) -> Select[Any]:
    q = select(Document)
    rule = access.readable()
    if rule is not None:
        q = q.where(rule)
    if not include_deleted:
        q = q.where(Document.deleted_at.is_(None))
    if employee_id is not None:
        q = q.where(Document.employee_id == employee_id)
    if category is not None:
        q = q.where(Document.category == category)
    return q


def review_where() -> Select[Any]:
    """Documents (not deleted) of employees who are deactivated, with who they were."""
    return (
        select(Document)
        .join(DocumentUser, DocumentUser.id == Document.employee_id)
        .where(DocumentUser.is_active.is_(False), Document.deleted_at.is_(None))
    )


async def people(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, DocumentUser]:
    rows = await session.scalars(select(DocumentUser).where(DocumentUser.id.in_(ids))) if ids else None
    return {u.id: u for u in rows.all()} if rows is not None else {}


async def count_versions_of_blob(session: AsyncSession, sha256: str) -> int:
    return int(await session.scalar(select(func.count()).where(DocumentVersion.sha256 == sha256)) or 0)
