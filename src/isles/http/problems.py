"""RFC 9457 problem details at the HTTP edge: every error an API gives is answered as
a problem document naming the field at fault. Install once per app with
:func:`install`; the problems themselves are :mod:`isles.core.problems`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from isles.clients.service import ServiceError, from_service_error
from isles.core.problems import FieldError, Problem, invalid

MEDIA_TYPE = "application/problem+json"
log = structlog.get_logger("isles.problems")


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


def _service(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return respond(from_service_error(exc), request)


def install(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _problem)
    app.add_exception_handler(ServiceError, _service)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
