"""A body a route takes as JSON *or* as an HTML form (``application/x-www-form-urlencoded``).

Every Isles route reads JSON. A few must also read a form because a standard client
sends one: OAuth 2's password grant (RFC 6749 §4.3, what Swagger UI's *Authorize*
posts) sends ``grant_type=password&username=…&password=…``. :func:`json_or_form`
gives such a route one dependency that reads either into the same pydantic model,
with the platform's errors (a 422 naming the field *as the client sent it*, 400 for
malformed JSON, 415 for any other content type), and the OpenAPI ``requestBody``
declaring both media types.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from isles.core.problems import FieldError, Problem

M = TypeVar("M", bound=BaseModel)

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def unsupported_media_type(sent: str | None, expected: str = JSON) -> Problem:
    """The 415 every route answers to a body in a media type it does not read."""
    return Problem(
        415,
        f"send the body as {expected} (this request sent {sent or 'no content type'})",
        slug="unsupported-media-type",
        errors=[FieldError("Content-Type", f"expected {expected}", "unsupported_media_type")],
    )


def json_or_form(
    model: type[M],
    *,
    form: Mapping[str, str],
    fixed: Mapping[str, str] | None = None,
    ignored: Iterable[str] = (),
) -> tuple[Callable[[Request], Awaitable[M]], dict[str, Any]]:
    """A dependency reading ``model`` from a JSON body or a form, and the route's
    ``openapi_extra``. ``form`` maps each form field to the model's field (``username``
    to ``email``); ``fixed`` names form fields that must have one value when sent
    (``grant_type=password``); ``ignored`` form fields are accepted and dropped
    (``scope``, ``client_id``). Any other form field is a 422, as in JSON."""
    fixed = dict(fixed or {})
    known = set(form) | set(fixed) | set(ignored)
    back = {v: k for k, v in form.items()}

    def _relocated(exc: ValidationError, *, from_form: bool) -> RequestValidationError:
        errors = []
        for err in exc.errors():
            loc = tuple(err.get("loc", ()))
            if from_form and loc and loc[0] in back:
                loc = (back[str(loc[0])], *loc[1:])
            errors.append({**err, "loc": ("body", *loc)})
        return RequestValidationError(errors)

    async def read(request: Request) -> M:
        sent = request.headers.get("content-type")
        media = (sent or "").split(";")[0].strip().lower()
        raw = await request.body()
        request.state.isles_body_read = True  # its errors are the model's, not a missing JSON body
        if media == FORM:
            fields = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
            unknown = [name for name in fields if name not in known]
            bad = [FieldError(name, "is not a field of this form", "extra_forbidden") for name in unknown]
            for name, value in fixed.items():
                if name in fields and fields[name][-1] != value:
                    bad.append(FieldError(name, f"must be {value!r}", "unsupported_value"))
            if bad:
                raise Problem(422, f"{len(bad)} field(s) are not valid", slug="validation-error", errors=bad)
            data = {form[name]: values[-1] for name, values in fields.items() if name in form}
            try:
                return model.model_validate(data)
            except ValidationError as exc:
                raise _relocated(exc, from_form=True) from None
        if media == JSON or media.endswith("+json"):
            try:
                return model.model_validate_json(raw)
            except ValidationError as exc:
                raise _relocated(exc, from_form=False) from None
        raise unsupported_media_type(sent, f"{JSON} or {FORM}")

    schema = model.model_json_schema()
    form_schema: dict[str, Any] = {
        "type": "object",
        "required": [name for name, field in form.items() if field in schema.get("required", [])],
        "properties": {
            **{name: schema["properties"][field] for name, field in form.items()},
            **{name: {"type": "string", "enum": [value]} for name, value in fixed.items()},
            **{name: {"type": "string"} for name in ignored},
        },
        "additionalProperties": False,
    }
    extra = {
        "requestBody": {
            "required": True,
            "content": {JSON: {"schema": schema}, FORM: {"schema": form_schema}},
        }
    }
    return read, extra


__all__ = ["FORM", "JSON", "json_or_form", "unsupported_media_type"]
