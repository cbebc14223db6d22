"""RFC 9457 problem details: every error an API gives is machine-readable and names
the field at fault. A :class:`Problem` is raised anywhere (a use case, a saga step);
the HTTP edge (:mod:`isles.http.problems`) answers it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

PROBLEM_URN = "urn:isles:problem:"  # a problem's type is this and its slug
_STANDARD = frozenset({"type", "title", "status", "detail", "instance", "errors"})


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
