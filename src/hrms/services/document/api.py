"""HTTP routes of the document service (mounted at ``/api/document``).

Uploads stream: the ``file`` part of a ``multipart/form-data`` body (or a raw body
whose ``Content-Type`` is the file's) goes to the blob store as it arrives, checked
against its declared media type on its first bytes. Downloads stream from the blob
store."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from starlette.background import BackgroundTask

from hrms.contracts.document import Category
from hrms.services.document import service
from hrms.services.document.deps import (
    ManageDocuments,
    ReadDocuments,
    WriteDocuments,
    access_of,
    forbidden,
    readable_document,
    writable_document,
)
from hrms.services.document.models import Document, DocumentVersion
from hrms.services.document.schemas import (
    DocumentFields,
    DocumentUpdate,
    DocumentView,
    GrantCreate,
    GrantView,
    HistoryView,
    ReviewView,
    VersionView,
)
from hrms.services.document.uploads import ALLOWED, MultipartReader, boundary_of, checked, media_type_of
from isles import (
    BlobInfo,
    BlobStore,
    BlobTooLarge,
    FieldError,
    Listing,
    Page,
    Problem,
    TenantData,
    as_of,
    blob_store,
    check_tenant,
    context_of,
    history_of,
    invalid,
    not_found,
)

router = APIRouter()
_FIELDS = ("company_id", "title", "category", "employee_id", "expires_on")

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The file (multipart ``file`` part with its Content-Type) and the metadata fields; or the "
        "file's bytes as the whole body, its Content-Type the file's (metadata then in the query).",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "The content."},
                        "title": {"type": "string", "maxLength": 200, "examples": ["Employment contract 2025"]},
                        "category": {
                            "type": "string",
                            "enum": ["contract", "id", "certificate", "policy", "payslip", "other"],
                        },
                        "employee_id": {"type": "string", "format": "uuid"},
                        "expires_on": {"type": "string", "format": "date", "examples": ["2026-02-28"]},
                    },
                },
                "encoding": {"file": {"contentType": ", ".join(sorted(ALLOWED))}},
            },
            **{t: {"schema": {"type": "string", "format": "binary"}} for t in sorted(ALLOWED)},
        },
    }
}
_UPLOAD_PROBLEMS: dict[int | str, dict[str, Any]] = {
    413: {"description": "The file is larger than the upload limit (problem naming `file`)."},
    415: {"description": "The file's media type is not taken (problem naming `file`)."},
}
_CONTENT: dict[int | str, dict[str, Any]] = {
    200: {"content": {t: {"schema": {"type": "string", "format": "binary"}} for t in sorted(ALLOWED)}},
    304: {"description": "The content is the one `If-None-Match` names."},
}


def document_view(d: Document, current: DocumentVersion | None = None) -> DocumentView:
    view = DocumentView.model_validate(d, from_attributes=True)
    if current is not None:
        view.current = VersionView.model_validate(current, from_attributes=True)
    return view


def _store(request: Request) -> BlobStore:
    return blob_store(context_of(request).settings)


def _filename(name: str | None) -> str:
    """The last path component of a client's file name, without control characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    return base[:255] or "document"


@dataclass
class Upload:
    fields: dict[str, str]
    blob: BlobInfo
    filename: str
    media_type: str


async def _put(store: BlobStore, chunks: AsyncIterator[bytes], limit: int) -> BlobInfo:
    try:
        return await store.put(chunks, max_bytes=limit)
    except BlobTooLarge:
        message = f"larger than {limit} bytes"
        raise Problem(
            413, f"the file is {message}", slug="file-too-large", errors=[FieldError("file", message, "too_large")]
        ) from None


async def receive(
    request: Request,
    store: BlobStore,
    query: dict[str, Any],
    before_file: Callable[[dict[str, str]], Awaitable[None]] | None = None,
) -> Upload:
    """Stream the upload's file to the blob store; its metadata fields (query
    parameters, then multipart fields). ``before_file`` sees the fields known when
    the file starts (all of them, when they come first) and may refuse it unread."""
    limit = context_of(request).settings.blobs.max_upload_bytes
    fields = {k: str(v) for k, v in query.items() if v is not None}
    content_type = request.headers.get("content-type", "")
    boundary = boundary_of(content_type)
    if boundary is None:
        media_type = media_type_of(content_type)
        if before_file is not None:
            await before_file(fields)
        blob = await _put(store, checked(request.stream(), media_type), limit)
        return Upload(fields, blob, _filename(query.get("filename")), media_type)
    reader = MultipartReader(request.stream(), boundary)
    upload: Upload | None = None
    while (part := await reader.next_part()) is not None:
        if part.name == "file":
            if upload is not None:
                raise invalid([FieldError("file", "one file per upload", "duplicate")])
            media_type = media_type_of(part.content_type)
            if before_file is not None:
                await before_file(fields)
            blob = await _put(store, checked(reader.body(), media_type), limit)
            upload = Upload(fields, blob, _filename(part.filename or query.get("filename")), media_type)
        elif part.name in (*_FIELDS, "filename"):
            fields[part.name] = await reader.value(part.name)
        else:
            name = part.name[:50] if part.name.isprintable() else "body"
            raise invalid([FieldError(name, "not a field of an upload", "unknown")])
    if upload is None:
        raise invalid([FieldError("file", "required: a multipart part named file", "missing")])
    if "filename" in fields:
        upload.filename = _filename(fields.pop("filename"))
    return upload


def _parse_fields(raw: dict[str, str]) -> DocumentFields:
    try:
        return DocumentFields.model_validate({k: v for k, v in raw.items() if v != "" and k in _FIELDS})
    except ValidationError as exc:
        errors = []
        for e in exc.errors():
            name = str(e.get("ctx", {}).get("field") or (e["loc"][-1] if e["loc"] else "body"))
            errors.append(FieldError(name, e["msg"], e["type"]))
        raise invalid(errors) from None


async def _content(request: Request, v: DocumentVersion, if_none_match: str | None) -> Response:
    """The version's content, streamed from the blob store (304 if the client has it;
    410 if the store lost it, asked before the response starts)."""
    tag = f'"{v.sha256}"'
    common = {"ETag": tag, "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-cache"}
    if if_none_match is not None and (
        if_none_match.strip() == "*" or tag in [t.strip() for t in if_none_match.split(",")]
    ):
        return Response(status_code=304, headers=common)
    ascii_name = re.sub(r"[^A-Za-z0-9._ -]", "_", v.filename) or "document"
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(v.filename, safe='')}"
    store = _store(request)
    try:
        present = await store.exists(v.sha256)
    except BaseException:
        await store.aclose()
        raise
    if not present:
        await store.aclose()
        raise Problem(410, "the content of this version is no longer stored", slug="content-gone")
    return StreamingResponse(
        store.get(v.sha256),
        media_type=v.media_type,
        headers={**common, "Content-Length": str(v.size), "Content-Disposition": disposition},
        background=BackgroundTask(store.aclose),
    )


# -- documents -------------------------------------------------------------------------


@router.post(
    "/documents",
    status_code=201,
    response_model=DocumentView,
    tags=["documents"],
    openapi_extra=_UPLOAD_BODY,
    responses=_UPLOAD_PROBLEMS,
)
async def create_document(
    request: Request,
    response: Response,
    caller: WriteDocuments,
    title: Annotated[str | None, Query(max_length=200, description="Raw uploads: the title.")] = None,
    category: Annotated[Category | None, Query(description="Raw uploads: the category.")] = None,
    employee_id: Annotated[uuid.UUID | None, Query(description="Raw uploads: whose it is.")] = None,
    expires_on: Annotated[date | None, Query(description="Raw uploads: when it expires.")] = None,
    company_id: Annotated[uuid.UUID | None, Query(description="Default: the caller's company.")] = None,
    filename: Annotated[str | None, Query(max_length=255, description="Raw uploads: the file's name.")] = None,
) -> DocumentView:
    """Create a document with its first version: ``multipart/form-data`` with a
    ``file`` part and the fields ``title``, ``category``, ``employee_id`` (default: the
    caller), ``expires_on``; or the file as the body (``Content-Type`` its type) and
    the fields in the query. The content is checked against its declared type."""
    query = {"title": title, "category": category, "employee_id": employee_id, "expires_on": expires_on}

    async def may_create(raw: dict[str, str]) -> None:
        """Refuse before the file is read when the fields before it say enough (the
        file first: checked after, and a refusal leaves an unused blob)."""
        if "title" in raw and "category" in raw:
            fields = _parse_fields(raw)
            async with TenantData(request, caller).read() as session:
                access = await access_of(session, caller)
                await service.owner_for(session, access, check_tenant(caller, fields.company_id), fields)

    store = _store(request)
    try:
        upload = await receive(request, store, {**query, "company_id": company_id, "filename": filename}, may_create)
    finally:
        await store.aclose()
    fields = _parse_fields(upload.fields)
    company = check_tenant(caller, fields.company_id)
    async with TenantData(request, caller).uow() as uow:
        access = await access_of(uow.session, caller)
        document, version = await service.create_document(
            uow=uow,
            access=access,
            company_id=company,
            fields=fields,
            blob=upload.blob,
            filename=upload.filename,
            media_type=upload.media_type,
            by=caller.user_id,
        )
    response.headers["Location"] = f"{request.url.path}/{document.id}"
    return document_view(document, version)


DocumentList = Annotated[Listing, Depends(service.DOCUMENTS.dependency)]


@router.get("/documents", response_model=Page[DocumentView], tags=["documents"])
async def list_documents(
    request: Request,
    caller: ReadDocuments,
    listing: DocumentList,
    include_deleted: Annotated[bool, Query(description="Deleted documents too.")] = False,
    employee_id: Annotated[uuid.UUID | None, Query()] = None,
    category: Annotated[Category | None, Query()] = None,
) -> Page[DocumentView]:
    """The documents the caller may read (``q`` finds titles)."""
    async with TenantData(request, caller).read() as session:
        access = await access_of(session, caller)
        where = service.documents_where(
            access, include_deleted=include_deleted, employee_id=employee_id, category=category
        )
        rows, total, cursor = await listing.fetch(session, where)
    return listing.page([document_view(d) for d in rows], total, cursor)


ReviewList = Annotated[Listing, Depends(service.DOCUMENTS.dependency)]


@router.get("/documents/review", response_model=Page[ReviewView], tags=["documents"])
async def review(request: Request, caller: ManageDocuments, listing: ReviewList) -> Page[ReviewView]:
    """Documents of deactivated employees, for HR to review (admins)."""
    async with TenantData(request, caller).read() as session:
        rows, total, cursor = await listing.fetch(session, service.review_where())
        people = await service.people(session, {d.employee_id for d in rows if d.employee_id is not None})
    items = []
    for d in rows:
        person = people[d.employee_id]
        items.append(
            ReviewView(
                **document_view(d).model_dump(),
                employee_name=f"{person.first_name} {person.last_name}",
                employee_email=person.email,
            )
        )
    return listing.page(items, total, cursor)


@router.get("/documents/{document_id}", response_model=DocumentView, tags=["documents"])
async def get_document(
    document_id: uuid.UUID,
    request: Request,
    caller: ReadDocuments,
    as_of_: Annotated[
        datetime | None, Query(alias="as_of", description="The document's metadata as it was at this time.")
    ] = None,
) -> DocumentView:
    """A document the caller may read, with its current version; ``as_of``: its
    metadata at that time (404 if it did not exist then)."""
    async with TenantData(request, caller).read() as session:
        access = await access_of(session, caller)
        document = await readable_document(session, access, document_id, include_deleted=True)
        if as_of_ is not None:
            when = as_of_ if as_of_.tzinfo is not None else as_of_.replace(tzinfo=UTC)
            values = await as_of(session, Document, document_id, when)
            if values is None:
                raise not_found("document", document_id)
            return DocumentView.model_validate(dict(values))
        return document_view(document, await service.version_of(session, document))


@router.get("/documents/{document_id}/history", response_model=list[HistoryView], tags=["documents"])
async def document_history(document_id: uuid.UUID, request: Request, caller: ReadDocuments) -> list[HistoryView]:
    """Every version of the document's metadata, oldest first (the current one last, ``valid_to`` null)."""
    async with TenantData(request, caller).read() as session:
        access = await access_of(session, caller)
        await readable_document(session, access, document_id, include_deleted=True)
        versions = await history_of(session, Document, document_id)
    return [
        HistoryView(
            values={k: v for k, v in h.values.items() if k != "version"},
            valid_from=h.valid_from,
            valid_to=h.valid_to,
            changed_by=h.changed_by or None,
            change_reason=h.change_reason or None,
            operation=h.operation or None,
        )
        for h in versions
    ]


@router.patch("/documents/{document_id}", response_model=DocumentView, tags=["documents"])
async def update_document(
    document_id: uuid.UUID, body: DocumentUpdate, request: Request, caller: WriteDocuments
) -> DocumentView:
    """Change a document's title or expiry (its category: admins only)."""
    changes = body.model_dump(exclude_unset=True)
    async with TenantData(request, caller).uow() as uow:
        access = await access_of(uow.session, caller)
        document = await writable_document(uow.session, access, document_id)
        if "category" in changes and changes["category"] != document.category and not access.admin:
            raise forbidden("only an admin changes a document's category")
        document = await service.update_document(uow=uow, document=document, changes=changes)
    return document_view(document)


@router.delete("/documents/{document_id}", status_code=204, tags=["documents"])
async def delete_document(document_id: uuid.UUID, request: Request, caller: WriteDocuments) -> Response:
    """Delete a document softly: it leaves the lists; its versions stay stored."""
    async with TenantData(request, caller).uow() as uow:
        access = await access_of(uow.session, caller)
        document = await writable_document(uow.session, access, document_id)
        await service.delete_document(uow=uow, document=document, by=caller.user_id)
    return Response(status_code=204)


# -- versions and content ------------------------------------------------------------------


@router.post(
    "/documents/{document_id}/versions",
    status_code=201,
    response_model=VersionView,
    tags=["versions"],
    openapi_extra=_UPLOAD_BODY,
    responses=_UPLOAD_PROBLEMS,
)
async def add_version(
    document_id: uuid.UUID,
    request: Request,
    response: Response,
    caller: WriteDocuments,
    filename: Annotated[str | None, Query(max_length=255, description="Raw uploads: the file's name.")] = None,
) -> VersionView:
    """Upload a new version of the document's content (multipart ``file`` part, or the raw body)."""
    async with TenantData(request, caller).read() as session:  # refuse before reading the body
        access = await access_of(session, caller)
        await writable_document(session, access, document_id)
    store = _store(request)
    try:
        upload = await receive(request, store, {"filename": filename})
    finally:
        await store.aclose()
    extra = sorted(set(upload.fields) - {"filename"})
    if extra:
        raise invalid([FieldError(extra[0], "a new version takes only a file (change metadata by PATCH)", "unknown")])
    async with TenantData(request, caller).uow() as uow:
        access = await access_of(uow.session, caller)
        document = await writable_document(uow.session, access, document_id)
        version = await service.add_version(
            uow=uow,
            document=document,
            blob=upload.blob,
            filename=upload.filename,
            media_type=upload.media_type,
            by=caller.user_id,
        )
    response.headers["Location"] = f"{request.url.path}/{version.number}"
    return VersionView.model_validate(version, from_attributes=True)


@router.get("/documents/{document_id}/versions", response_model=list[VersionView], tags=["versions"])
async def list_versions(document_id: uuid.UUID, request: Request, caller: ReadDocuments) -> list[VersionView]:
    async with TenantData(request, caller).read() as session:
        access = await access_of(session, caller)
        document = await readable_document(session, access, document_id)
        rows = await service.versions_of(session, document)
    return [VersionView.model_validate(v, from_attributes=True) for v in rows]


IfNoneMatch = Annotated[str | None, Header(description="The ETag (SHA-256) the client has: 304 if current.")]


@router.get("/documents/{document_id}/content", tags=["versions"], response_class=Response, responses=_CONTENT)
async def download(
    document_id: uuid.UUID, request: Request, caller: ReadDocuments, if_none_match: IfNoneMatch = None
) -> Response:
    """The current version's content, streamed (ETag: its SHA-256)."""
    async with TenantData(request, caller).read() as session:
        access = await access_of(session, caller)
        document = await readable_document(session, access, document_id)
        version = await service.version_of(session, document)
    return await _content(request, version, if_none_match)


@router.get(
    "/documents/{document_id}/versions/{number}/content",
    tags=["versions"],
    response_class=Response,
    responses=_CONTENT,
)
async def download_version(
    document_id: uuid.UUID,
    number: Annotated[int, Path(ge=1, le=1_000_000)],
    request: Request,
    caller: ReadDocuments,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """A version's content, streamed."""
    async with TenantData(request, caller).read() as session:
        access = await access_of(session, caller)
        document = await readable_document(session, access, document_id)
        version = await service.version_of(session, document, number)
    return await _content(request, version, if_none_match)


# -- grants --------------------------------------------------------------------------------


@router.get("/documents/{document_id}/permissions", response_model=list[GrantView], tags=["permissions"])
async def list_grants(document_id: uuid.UUID, request: Request, caller: ManageDocuments) -> list[GrantView]:
    async with TenantData(request, caller).read() as session:
        access = await access_of(session, caller)
        document = await readable_document(session, access, document_id)
        rows = await service.grants_of(session, document)
    return [GrantView.model_validate(g, from_attributes=True) for g in rows]


@router.post("/documents/{document_id}/permissions", status_code=201, response_model=GrantView, tags=["permissions"])
async def add_grant(document_id: uuid.UUID, body: GrantCreate, request: Request, caller: ManageDocuments) -> GrantView:
    """Grant ``read`` or ``write`` on the document to an employee, a role or a department."""
    async with TenantData(request, caller).uow() as uow:
        access = await access_of(uow.session, caller)
        document = await readable_document(uow.session, access, document_id)
        row = await service.grant(uow=uow, document=document, data=body, by=caller.user_id)
    return GrantView.model_validate(row, from_attributes=True)


@router.delete("/documents/{document_id}/permissions/{grant_id}", status_code=204, tags=["permissions"])
async def remove_grant(
    document_id: uuid.UUID, grant_id: uuid.UUID, request: Request, caller: ManageDocuments
) -> Response:
    async with TenantData(request, caller).uow() as uow:
        access = await access_of(uow.session, caller)
        document = await readable_document(uow.session, access, document_id)
        await service.revoke(uow=uow, document=document, grant_id=grant_id)
    return Response(status_code=204)


__all__ = ["router"]
