"""RFC 9457 problem details at the HTTP edge: every error an API gives is answered as
a problem document naming the field at fault. Install once per app with
:func:`install`; the problems themselves are :mod:`isles.core.problems`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from isles.clients.service import ServiceError, from_service_error
from isles.core.problems import FieldError, Problem, invalid
from isles.http.bodies import unsupported_media_type

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


_DATE = "not a date: write it as YYYY-MM-DD, e.g. 2026-03-01"
_DATETIME = "not a date and time: write it as ISO 8601, e.g. 2026-03-01T09:30:00Z"
_MESSAGES = {
    "date_parsing": _DATE,
    "date_from_datetime_parsing": _DATE,
    "date_from_datetime_inexact": _DATE,
    "date_type": _DATE,
    "datetime_parsing": _DATETIME,
    "datetime_from_date_parsing": _DATETIME,
    "datetime_type": _DATETIME,
    "uuid_parsing": "not an id: expected a UUID, e.g. 6f1c2a52-64b2-4c4e-9a57-1d0e8f7d5a11",
    "uuid_type": "not an id: expected a UUID, e.g. 6f1c2a52-64b2-4c4e-9a57-1d0e8f7d5a11",
    "bool_parsing": "not true or false",
    "int_parsing": "not a whole number",
    "float_parsing": "not a number",
    "missing": "required",
    "extra_forbidden": "not a field of this request",
}


def _message(err: Mapping[str, Any], field: str) -> str:
    """What is wrong, in words a person reads: the expected format, never a regular
    expression or a parser's internals."""
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind == "string_pattern_mismatch":
        if "email" in field.lower():
            return "not an email address: expected name@example.com"
        return "not in the expected format"
    if kind in ("too_short", "string_too_short"):
        n = ctx.get("min_length")
        unit = "items" if isinstance(err.get("input"), list | tuple | set) else "characters"
        return f"too short: at least {n} {unit}" if n is not None else "too short"
    if kind in ("too_long", "string_too_long"):
        n = ctx.get("max_length")
        unit = "items" if isinstance(err.get("input"), list | tuple | set) else "characters"
        return f"too long: at most {n} {unit}" if n is not None else "too long"
    if kind == "value_error":  # a validator's own sentence, without pydantic's prefix
        return str(err.get("msg", "invalid")).removeprefix("Value error, ")
    return str(err.get("msg", "invalid"))


def _json_body_expected(request: Request, errors: Sequence[Mapping[str, Any]]) -> bool:
    """The route reads a JSON body, and the request sent none as JSON."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        return False
    if getattr(request.state, "isles_body_read", False):  # a route that reads other media (isles.json_or_form)
        return False
    return request.method in ("POST", "PUT", "PATCH") and any(
        tuple(e.get("loc", ()))[:1] == ("body",) and e.get("type") in ("missing", "model_attributes_type", "dict_type")
        for e in errors
    )


def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    raw = exc.errors()
    if _json_body_expected(request, raw):
        return respond(unsupported_media_type(request.headers.get("content-type")), request)
    errors = []
    malformed = False
    for err in raw:
        _where, field = _field(err.get("loc", ()))
        ctx = err.get("ctx") or {}
        if "field" in ctx:  # a check across fields names the one at fault (see isles.field_error)
            field = str(ctx["field"])
        if err.get("type") == "json_invalid":
            malformed = True
            errors.append(FieldError("body", f"malformed JSON: {ctx.get('error', err.get('msg'))}", "json_invalid"))
            continue
        errors.append(FieldError(field, _message(err, field), str(err.get("type", "invalid"))))
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
