"""Who may call what: FastAPI dependencies that check the bearer token, the
permission a route needs, and give the route database access scoped to the caller's
company.

A service collects its rules in one ``deps.py``::

    ReadEmployees = Annotated[Principal, Depends(require("employees:read"))]

    @router.get("/employees/{id}")
    async def get_employee(id: UUID, request: Request, caller: ReadEmployees):
        async with TenantData(request, caller).read() as session: ...

``401`` for a missing, malformed, forged or expired token (with ``WWW-Authenticate``),
``403`` for a valid token without the permission. Another company's rows are simply
not there for a tenant's session: ``404``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from isles.core.problems import FieldError, Problem, invalid
from isles.http.context import context_of
from isles.security.tokens import InvalidToken, Principal
from isles.storage import history
from isles.storage.tenancy import ACROSS_TENANTS, AcrossTenants

if TYPE_CHECKING:
    from isles.storage.uow import UnitOfWork

_STATE = "isles_principal"


def unauthorized(detail: str, code: str) -> Problem:
    """A 401 with its ``WWW-Authenticate`` challenge (RFC 6750)."""
    header = f'Bearer realm="isles", error="{code}", error_description="{detail.replace(chr(34), chr(39))}"'
    if code == "missing_token":
        header = 'Bearer realm="isles"'
    return Problem(401, detail, slug=code.replace("_", "-"), headers={"WWW-Authenticate": header})


def client_ip(request: Request) -> str | None:
    """Where a request came from (the peer's address), for the security log."""
    return request.client.host if request.client else None


def _refused(request: Request, detail: str, code: str) -> Problem:
    """A 401, recorded in the security log (the token itself never is)."""
    context_of(request).security.record("token.refused", ip=client_ip(request), reason=code, path=request.url.path)
    return unauthorized(detail, code)


def principal_of(request: Request) -> Principal:
    """The verified caller of ``request`` (verified once per request), or a 401."""
    cached = getattr(request.state, _STATE, None)
    if isinstance(cached, Principal):
        return cached
    header = request.headers.get("authorization")
    if not header:
        raise _refused(request, "this endpoint needs a bearer token (Authorization: Bearer <token>)", "missing_token")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _refused(request, "the Authorization header must be 'Bearer <token>'", "invalid_request")
    verifier = context_of(request).verifier
    if verifier is None:
        raise Problem(503, "this service has no keys to verify tokens with", slug="no-keys")
    try:
        principal = verifier.verify(token.strip())
    except InvalidToken as exc:
        raise _refused(request, exc.reason, exc.code) from None
    setattr(request.state, _STATE, principal)
    # who and why, for the change history of what this request changes
    reason = request.headers.get("x-request-id") or request.headers.get("traceparent")
    history.set_changes_by(
        history.principal_name(principal.kind, principal.subject),
        reason or f"{request.method} {request.url.path}",
    )
    return principal


#: The token a route needs, as OpenAPI says it (the ``bearer`` scheme: Swagger UI's
#: Authorize). The check itself is :func:`principal_of`'s.
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An access token: POST /api/auth/login (a user) or `isles token` (the operator).",
)
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


async def authenticated(request: Request, _token: Bearer) -> Principal:
    """A dependency: the verified caller (any permission), or a 401."""
    return principal_of(request)


Authenticated = Annotated[Principal, Depends(authenticated)]


def optional_principal(request: Request) -> Principal | None:
    """The caller if the request carries a valid token, else ``None`` (no error)."""
    try:
        return principal_of(request) if request.headers.get("authorization") else None
    except Problem:
        return None


def require(permission: str) -> Callable[..., Any]:
    """A dependency: the caller, if its token grants ``permission``; else 401/403."""

    async def dependency(request: Request, _token: Bearer) -> Principal:
        principal = principal_of(request)
        if not principal.can(permission):
            context_of(request).security.record(
                "permission.denied",
                actor=principal.subject,
                company=principal.tenant,
                ip=client_ip(request),
                permission=permission,
                path=request.url.path,
            )
            raise Problem(
                403,
                f"your token does not grant {permission!r}",
                slug="forbidden",
                extra={"permission": permission},
            )
        return principal

    dependency.__name__ = f"require_{permission.replace(':', '_')}"
    return dependency


def check_tenant(principal: Principal, company_id: uuid.UUID | None, *, field: str = "company_id") -> uuid.UUID:
    """The company a write goes to: the one named, if the caller may act for it, else
    the caller's own. A company the caller does not belong to is treated as unknown
    (422 naming ``field``), never as someone else's."""
    if principal.tenant is None:
        if company_id is None:
            raise invalid([FieldError(field, "required for a caller acting for no company", "missing")])
        return company_id
    if company_id is not None and company_id != principal.tenant:
        raise invalid([FieldError(field, f"company {company_id} does not exist", "not_found")])
    return principal.tenant


@dataclass(frozen=True)
class TenantData:
    """The caller's view of its service's database: sessions and units of work scoped
    to the caller's company (every company for an operator, whose token names none)."""

    request: Request
    principal: Principal

    @property
    def tenant(self) -> uuid.UUID | AcrossTenants:
        return ACROSS_TENANTS if self.principal.tenant is None else self.principal.tenant

    def uow(self) -> UnitOfWork:
        return context_of(self.request).uow(tenant=self.tenant)

    def read(self) -> AsyncSession:
        return context_of(self.request).db.read_session(tenant=self.tenant)


__all__ = [
    "Authenticated",
    "Bearer",
    "TenantData",
    "authenticated",
    "check_tenant",
    "client_ip",
    "optional_principal",
    "principal_of",
    "require",
    "unauthorized",
]
