"""Each service's OpenAPI document tells the truth about its errors and its security.

FastAPI documents a route's success and its own ``HTTPValidationError``; an Isles
service answers every error as an RFC 9457 problem (``application/problem+json``,
``errors[{field, message, code}]``). :func:`install` replaces the document's builder:

* the ``bearer`` security scheme on every route that needs a token (see
  :data:`isles.http.access.Bearer`), and beside it OAuth 2's ``password`` flow at the
  identity provider's ``/login``: Swagger UI's *Authorize* either takes a pasted token
  or logs in with an email and password;
* a ``Problem`` schema, and on every operation the problem statuses it can answer:
  400/413/415/422 where it reads a body, 422 where it takes parameters, 401/403 where
  it needs a token, 404 where the path names a record, 412 where it honours
  ``If-Match``, 503 where it may call another service, and any a route declares
  itself (its ``responses``) get the problem body too.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from isles.core.problems import PROBLEM_URN, status_title
from isles.security.tokens import IDENTITY_PROVIDER

MEDIA_TYPE = "application/problem+json"


def password_scheme(identity_provider: str = IDENTITY_PROVIDER) -> dict[str, Any]:
    """The OAuth2 password flow of the system whose login service is ``identity_provider``."""
    return {
        "type": "oauth2",
        "description": "Log in with a user's email (as username) and password.",
        "flows": {"password": {"tokenUrl": f"/api/{identity_provider}/login", "scopes": {}}},
    }


FIELD_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["field", "message", "code"],
    "properties": {
        "field": {"type": "string", "description": "The field, query parameter or header at fault."},
        "message": {"type": "string", "description": "What is wrong with it, in words."},
        "code": {"type": "string", "description": "A stable code, e.g. missing, not_found, conflict."},
    },
    "example": {"field": "email", "message": "not an email address: expected name@example.com", "code": "invalid"},
}
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": f"about:blank, or {PROBLEM_URN}<slug>"},
        "title": {"type": "string", "description": "The status's name; the same for every problem with it."},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What happened, for a person."},
        "instance": {"type": "string", "description": "The path that answered."},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}},
    },
    "additionalProperties": True,
    "example": {
        "type": f"{PROBLEM_URN}validation-error",
        "title": "Unprocessable Content",
        "status": 422,
        "detail": "1 field(s) are not valid",
        "instance": "/api/employee/employees",
        "errors": [FIELD_ERROR_SCHEMA["example"]],
    },
}
_WHY = {
    400: "The body is not valid JSON.",
    401: "No token, or a token that is not valid (expired, revoked, badly signed).",
    403: "The token does not grant this operation's permission.",
    404: "No such record (or not one the caller may see).",
    409: "A conflict with the current state (a unique value taken, a record that cannot change now).",
    412: "If-Match named another version: the record changed since it was read.",
    413: "The body is larger than the service accepts.",
    415: "The body was not sent as application/json.",
    422: "A field, parameter or header is not valid; each is named in errors.",
    503: "A service this operation needs did not answer; nothing was done, try again.",
}


def _problem_response(status: int, description: str | None = None) -> dict[str, Any]:
    return {
        "description": description or f"{status_title(status)}: {_WHY.get(status, HTTPStatus(status).phrase)}",
        "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _statuses(path: str, op: dict[str, Any]) -> set[int]:
    found: set[int] = set()
    parameters = op.get("parameters") or []
    if op.get("requestBody"):
        found |= {400, 413, 415, 422}
    if parameters or "{" in path:
        found.add(422)
    if op.get("security"):
        found |= {401, 403}
    if "{" in path:
        found.add(404)
    if any(p.get("name") == "If-Match" and p.get("in") == "header" for p in parameters):
        found.add(412)
    return found


def document(app: FastAPI, *, identity_provider: str = IDENTITY_PROVIDER) -> dict[str, Any]:
    """The app's OpenAPI document, with its problems and its security told."""
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        servers=app.servers,
    )
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["FieldError"] = FIELD_ERROR_SCHEMA
    schemes = components.get("securitySchemes") or {}
    if "bearer" in schemes:
        schemes["password"] = password_scheme(identity_provider)
        schemes["bearer"]["description"] = (
            f"An access token: POST /api/{identity_provider}/login (a user) or `isles token` (the operator)."
        )
    for path, item in schema.get("paths", {}).items():
        for op in item.values():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            responses: dict[str, Any] = op["responses"]
            if {"bearer": []} in op.get("security", []):
                op["security"].append({"password": []})
            usual = _statuses(path, op)
            for status in usual:
                responses[str(status)] = _problem_response(status)
            for code, response in list(responses.items()):
                if code.isdigit() and int(code) >= 400:
                    described = response.get("description") if int(code) not in usual else None
                    responses[code] = _problem_response(int(code), described)
    return schema


def install(app: FastAPI, *, identity_provider: str = IDENTITY_PROVIDER) -> None:
    """Make ``app``'s ``/openapi.json`` the document :func:`document` builds (once)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app, identity_provider=identity_provider)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
