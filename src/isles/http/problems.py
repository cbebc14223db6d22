"""RFC 9457 problem details: every error an API gives is machine-readable and names
the field at fault. Install once per app with :func:`install`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from isles.clients.service import Conflict, NotFound, Rejected, ServiceError, ServiceUnavailable

MEDIA_TYPE = "application/problem+json"
_URN = "urn:isles:problem:"
_STANDARD = frozenset({"type", "title", "status", "detail", "instance", "errors"})
log = structlog.get_logger("isles.problems")


class FieldError(dict[str, str]):
    """``{"field": ..., "message": ..., "code": ...}`` — one thing wrong with one field."""

    def __init__(self, field: str, message: str, code: str = "invalid") -> None:
        super().__init__(field=field, message=message, code=code)


class Problem(Exception):
    """Raise anywhere below a route to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        errors: Sequence[FieldError] = (),
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.extra = dict(extra or {})
        self.status = status
        self.detail = detail
        self.slug = slug
        self.title = title or HTTPStatus(status).phrase
        self.errors = list(errors)
        self.headers = headers

    def body(self, instance: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"{_URN}{self.slug}" if self.slug else "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
        }
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Problem:
        """A problem again from its document (as kept in a saga's state)."""
        kind = str(body.get("type", ""))
        errors = body.get("errors") or []
        return cls(
            int(body.get("status", 500)),
            str(body.get("detail", "")),
            slug=kind.removeprefix(_URN) if kind.startswith(_URN) else None,
            title=str(body["title"]) if body.get("title") else None,
            errors=[
                FieldError(str(e.get("field", "")), str(e.get("message", "")), str(e.get("code", "invalid")))
                for e in errors
                if isinstance(e, dict)
            ],
            extra={k: v for k, v in body.items() if k not in _STANDARD},
        )


def not_found(resource: str, ident: object) -> Problem:
    return Problem(404, f"{resource} {ident} does not exist", slug="not-found")


def invalid(errors: Sequence[FieldError], detail: str = "the request is not valid") -> Problem:
    return Problem(422, detail, slug="validation-error", title="Unprocessable Content", errors=errors)


def conflict(field: str, message: str) -> Problem:
    return Problem(409, message, slug="conflict", errors=[FieldError(field, message, "conflict")])


def unavailable(service: str, detail: str) -> Problem:
    return Problem(
        503, detail, slug="dependency-unavailable", headers={"Retry-After": "1"}, title=f"{service} service unavailable"
    )


def not_ready(checks: dict[str, str]) -> Problem:
    """503 for ``/ready``: ``checks`` maps each dependency to "ok" or what is wrong."""
    failing = sorted(k for k, v in checks.items() if v != "ok")
    return Problem(
        503,
        f"not ready: {', '.join(failing)}",
        slug="not-ready",
        title="Not ready",
        headers={"Retry-After": "1"},
        extra={"checks": checks},
    )


def respond(problem: Problem, request: Request) -> JSONResponse:
    return JSONResponse(
        problem.body(request.url.path),
        status_code=problem.status,
        media_type=MEDIA_TYPE,
        headers=problem.headers,
    )


def _field(loc: Sequence[Any]) -> tuple[str, str]:
    where = str(loc[0]) if loc else "body"
    path = [str(p) for p in loc[1:]]
    return where, ".".join(path) if path else where


def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    malformed = False
    for err in exc.errors():
        _where, field = _field(err.get("loc", ()))
        if err.get("type") == "json_invalid":
            malformed = True
            errors.append(
                FieldError("body", f"malformed JSON: {err.get('ctx', {}).get('error', err.get('msg'))}", "json_invalid")
            )
            continue
        errors.append(FieldError(field, str(err.get("msg", "invalid")), str(err.get("type", "invalid"))))
    if malformed:
        problem = Problem(400, "the request body is not valid JSON", slug="malformed-body", errors=errors)
    else:
        problem = invalid(errors, detail=f"{len(errors)} field(s) are not valid")
    return respond(problem, request)


def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    problem = Problem(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))
    return respond(problem, request)


def _problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return respond(exc, request)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("api.unhandled", path=request.url.path, error=repr(exc), exc_info=exc)
    return respond(Problem(500, "an unexpected error occurred; it has been logged", slug="internal"), request)


def from_service_error(exc: ServiceError) -> Problem:
    """The problem a client gets when a call to another service failed: 503 when it
    did not answer, its own 404/409/4xx (with its field errors) when it refused."""
    if isinstance(exc, ServiceUnavailable):
        return unavailable(exc.service, str(exc))
    errors = [
        FieldError(str(e.get("field", "body")), str(e.get("message", "")), str(e.get("code", "invalid")))
        for e in exc.errors
    ]
    if isinstance(exc, NotFound | Conflict | Rejected) and exc.status is not None:
        return Problem(exc.status, str(exc), slug="dependency-refused", errors=errors)
    return Problem(502, str(exc), slug="dependency-error", errors=errors)


def _service(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return respond(from_service_error(exc), request)


def install(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _problem)
    app.add_exception_handler(ServiceError, _service)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
