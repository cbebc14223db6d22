"""RFC 9457 problem details: every error an API gives is machine-readable and names
the field at fault. A :class:`Problem` is raised anywhere (a use case, a saga step);
the HTTP edge (:mod:`isles.http.problems`) answers it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from pydantic_core import PydanticCustomError

PROBLEM_URN = "urn:isles:problem:"  # a problem's type is this and its slug
_STANDARD = frozenset({"type", "title", "status", "detail", "instance", "errors"})


class FieldError(dict[str, str]):
    """``{"field": ..., "message": ..., "code": ...}`` — one thing wrong with one field."""

    def __init__(self, field: str, message: str, code: str = "invalid") -> None:
        super().__init__(field=field, message=message, code=code)


#: RFC 9110's names where Python's HTTPStatus still has the older ones: one title per
#: status, whoever answers.
_TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}


def status_title(status: int) -> str:
    """The title of a problem with ``status`` (the same for every problem with it)."""
    if status in _TITLES:
        return _TITLES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


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
        self.title = title or status_title(status)
        self.errors = list(errors)
        self.headers = headers

    def body(self, instance: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"{PROBLEM_URN}{self.slug}" if self.slug else "about:blank",
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
            slug=kind.removeprefix(PROBLEM_URN) if kind.startswith(PROBLEM_URN) else None,
            title=str(body["title"]) if body.get("title") else None,
            errors=[
                FieldError(str(e.get("field", "")), str(e.get("message", "")), str(e.get("code", "invalid")))
                for e in errors
                if isinstance(e, dict)
            ],
            extra={k: v for k, v in body.items() if k not in _STANDARD},
        )


def field_error(field: str, message: str) -> PydanticCustomError:
    """Raise from a model validator that checks several fields: the 422 names ``field``
    (not ``body``). Example::

        @model_validator(mode="after")
        def _dates_ordered(self) -> Self:
            if self.end_date is not None and self.end_date < self.start_date:
                raise field_error("end_date", "must not be before start_date")
            return self
    """
    return PydanticCustomError("field_error", message.replace("{", "{{").replace("}", "}}"), {"field": field})


def not_found(resource: str, ident: object) -> Problem:
    return Problem(404, f"{resource} {ident} does not exist", slug="not-found")


def invalid(errors: Sequence[FieldError], detail: str = "the request is not valid") -> Problem:
    return Problem(422, detail, slug="validation-error", errors=errors)


def conflict(field: str, message: str) -> Problem:
    return Problem(409, message, slug="conflict", errors=[FieldError(field, message, "conflict")])


def unavailable(service: str, detail: str | None = None) -> Problem:
    """503: ``service`` (another one this request needed) did not answer. ``detail`` is
    for the caller: say what happened, never the internal call."""
    return Problem(
        503,
        detail or f"the {service} service is not available right now; try again shortly",
        slug="dependency-unavailable",
        headers={"Retry-After": "1"},
        extra={"service": service},
    )


def not_ready(checks: dict[str, str]) -> Problem:
    """503 for ``/ready``: ``checks`` maps each dependency to "ok" or what is wrong."""
    failing = sorted(k for k, v in checks.items() if v != "ok")
    return Problem(
        503,
        f"not ready: {', '.join(failing)}",
        slug="not-ready",
        headers={"Retry-After": "1"},
        extra={"checks": checks},
    )
