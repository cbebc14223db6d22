"""Service-to-service calls over httpx, with errors that say what went wrong.

In the embedded mode the same client talks to the in-process gateway app.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx

from isles import tracing


class ServiceError(Exception):
    def __init__(self, service: str, message: str) -> None:
        super().__init__(f"{service}: {message}")
        self.service = service


class ServiceUnavailable(ServiceError):
    """The service did not answer, or answered with a server error, after retries."""


class NotFound(ServiceError):
    """The service says the resource does not exist."""


class Conflict(ServiceError):
    """The service refused the change because of the resource's current state."""


class ServiceClient:
    """GET with retries (jittered backoff) on transport errors and 5xx; errors typed."""

    def __init__(self, http: httpx.AsyncClient, *, service: str, retries: int = 2, backoff: float = 0.05) -> None:
        self._http = http
        self.service = service
        self._retries = retries
        self._backoff = backoff

    async def get_json(self, path: str, **params: Any) -> Any:
        last: str = ""
        for attempt in range(self._retries + 1):
            if attempt:
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1) * (0.5 + random.random()))
            try:
                headers = {"traceparent": tracing.current()} if tracing.current() else None
                response = await self._http.get(path, params=params or None, headers=headers)
            except httpx.TransportError as exc:
                last = f"no answer ({type(exc).__name__})"
                continue
            if response.status_code >= 500:
                last = f"answered {response.status_code}"
                continue
            if response.status_code == 404:
                raise NotFound(self.service, f"{path} not found")
            if response.status_code == 409:
                raise Conflict(self.service, response.text)
            if response.status_code >= 400:
                raise ServiceError(self.service, f"GET {path} answered {response.status_code}: {response.text}")
            return response.json()
        raise ServiceUnavailable(self.service, f"GET {path}: {last}")
