"""Who may do what with a document: every rule in one place.

Each route needs its permission (``documents:read``, ``documents:write``,
``documents:manage``); the tenant-scoped session shows a caller only its company's
documents. Within the company a caller **reads** a document when

* they are an admin of the company (or the operator, or a service): every document;
* it is theirs (its ``employee_id`` is the caller's employee record);
* they manage its employee directly and its category lets managers read
  (:data:`CATEGORY_RULES`: not ``id`` papers, not ``payslip``);
* a grant names them, one of their roles, or their department (``read`` or ``write``).

A caller **writes** (a new version, metadata, deletion) a document when they are an
admin, hold a ``write`` grant, or own it and its category lets owners write (their
own ``id`` papers, certificates and ``other`` documents; never their contract,
payslip or a policy). Creating one is writing: an admin creates any; others create
only their own documents of an owner-writable category.

A document the caller may not read answers 404, like another company's (its
existence is not revealed); one they read but may not write answers 403 to a write.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy import ColumnElement, and_, exists, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.contracts.permissions import ADMIN
from hrms.services.document.models import Document, DocumentPermission, DocumentUser
from isles import Principal, Problem, not_found, require

ReadDocuments = Annotated[Principal, Depends(require("documents:read"))]
WriteDocuments = Annotated[Principal, Depends(require("documents:write"))]
ManageDocuments = Annotated[Principal, Depends(require("documents:manage"))]


@dataclass(frozen=True)
class CategoryRule:
    owner_writes: bool  # the document's employee uploads new versions and changes it
    manager_reads: bool  # the employee's direct manager reads it


#: What owners and managers may do per category (admins and grants: everything granted).
CATEGORY_RULES: dict[str, CategoryRule] = {
    "contract": CategoryRule(owner_writes=False, manager_reads=True),
    "id": CategoryRule(owner_writes=True, manager_reads=False),
    "certificate": CategoryRule(owner_writes=True, manager_reads=True),
    "policy": CategoryRule(owner_writes=False, manager_reads=True),
    "payslip": CategoryRule(owner_writes=False, manager_reads=False),
    "other": CategoryRule(owner_writes=True, manager_reads=True),
}
MANAGER_READS = tuple(c for c, r in CATEGORY_RULES.items() if r.manager_reads)
OWNER_WRITES = tuple(c for c, r in CATEGORY_RULES.items() if r.owner_writes)


def is_admin(caller: Principal) -> bool:
    """An admin of the company, the operator or a service: every document."""
    return caller.kind != "user" or caller.has_role(ADMIN)


def forbidden(detail: str) -> Problem:
    return Problem(403, detail, slug="forbidden")


@dataclass(frozen=True)
class Access:
    """What a caller is to the access rules: an admin, or an employee (``me``, maybe
    unknown here) with roles, a department and direct reports."""

    admin: bool
    me: DocumentUser | None
    roles: frozenset[str]
    reports: frozenset[uuid.UUID] = frozenset()

    @property
    def me_id(self) -> uuid.UUID | None:
        return self.me.id if self.me is not None else None

    def _granted(self, access: tuple[str, ...]) -> ColumnElement[bool]:
        p = DocumentPermission
        whom: list[ColumnElement[bool]] = [p.role.in_(self.roles)] if self.roles else []
        if self.me is not None:
            whom.append(p.employee_id == self.me.id)
            if self.me.department_id is not None:
                whom.append(p.department_id == self.me.department_id)
        if not whom:
            return false()
        return exists().where(p.document_id == Document.id, p.access.in_(access), or_(*whom))

    def readable(self) -> ColumnElement[bool] | None:
        """The documents the caller reads, as a condition (None: all of them)."""
        if self.admin:
            return None
        rules: list[ColumnElement[bool]] = [self._granted(("read", "write"))]
        if self.me is not None:
            rules.append(Document.employee_id == self.me.id)
        if self.reports:
            rules.append(and_(Document.employee_id.in_(self.reports), Document.category.in_(MANAGER_READS)))
        return or_(*rules)

    def writable(self) -> ColumnElement[bool] | None:
        if self.admin:
            return None
        rules: list[ColumnElement[bool]] = [self._granted(("write",))]
        if self.me is not None:
            rules.append(and_(Document.employee_id == self.me.id, Document.category.in_(OWNER_WRITES)))
        return or_(*rules)

    def may_create(self, employee_id: uuid.UUID | None, category: str) -> bool:
        return self.admin or (employee_id is not None and employee_id == self.me_id and category in OWNER_WRITES)


async def access_of(session: AsyncSession, caller: Principal) -> Access:
    me = None
    if caller.kind == "user" and caller.tenant is not None:
        me = await session.scalar(
            select(DocumentUser).where(DocumentUser.user_id == caller.user_id, DocumentUser.company_id == caller.tenant)
        )
    if is_admin(caller):
        return Access(True, me, frozenset(caller.roles))
    reports: frozenset[uuid.UUID] = frozenset()
    if me is not None:
        ids = await session.scalars(
            select(DocumentUser.id).where(DocumentUser.manager_id == me.id, DocumentUser.company_id == me.company_id)
        )
        reports = frozenset(ids.all())
    return Access(False, me, frozenset(caller.roles), reports)


async def readable_document(
    session: AsyncSession, access: Access, document_id: uuid.UUID, *, include_deleted: bool = False, lock: bool = False
) -> Document:
    """The document, if the caller reads it (and it is not deleted, unless asked); else 404."""
    q: Any = select(Document).where(Document.id == document_id)
    rule = access.readable()
    if rule is not None:
        q = q.where(rule)
    if not include_deleted:
        q = q.where(Document.deleted_at.is_(None))
    if lock:
        q = q.with_for_update()
    document: Document | None = await session.scalar(q)
    if document is None:
        raise not_found("document", document_id)
    return document


async def writable_document(session: AsyncSession, access: Access, document_id: uuid.UUID) -> Document:
    """The document, locked, if the caller writes it: 404 if they do not read it, 403 if they only read it."""
    document = await readable_document(session, access, document_id, lock=True)
    rule = access.writable()
    if rule is not None:
        allowed = await session.scalar(select(Document.id).where(Document.id == document_id, rule))
        if allowed is None:
            raise forbidden("the caller may read this document but not change it")
    return document
