"""The errors of calls to other services (raised by :class:`isles.clients.service.ServiceClient`),
apart from the client so that code catching them does not import the HTTP client."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A call to another service did not give what was asked for.

    ``status`` is the HTTP status the service answered (None: no answer), ``problem``
    its problem document (empty if it sent none)."""

    def __init__(
        self, service: str, message: str, *, status: int | None = None, problem: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{service}: {message}")
        self.service = service
        self.status = status
        self.problem = dict(problem or {})

    @property
    def errors(self) -> list[dict[str, Any]]:
        """The field errors of the service's problem document."""
        errors = self.problem.get("errors", [])
        return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


class ServiceUnavailable(ServiceError):
    """The service did not answer, answered with a server error after retries, or its
    circuit is open. The call may or may not have taken effect."""


class NotFound(ServiceError):
    """The service says the resource does not exist."""


class Conflict(ServiceError):
    """The service refused the change because of the resource's current state."""


class Rejected(ServiceError):
    """The service refused the request as invalid (another 4xx): retrying cannot help."""
