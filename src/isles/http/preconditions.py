"""``ETag`` and ``If-Match`` at the HTTP edge. A route that honours ``If-Match`` reads it
with :func:`if_match` and declares it with ``openapi_extra=IF_MATCH``; a read answers
with :func:`tagged`. Both work on the request and the response directly: a FastAPI
header parameter, or a ``Response`` parameter, cost this write path 150-300 us each
(measured: issue 15's note in docs/performance.md)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from pydantic import BaseModel

from isles.core.versions import Precondition, etag

#: ``openapi_extra`` of a route that honours ``If-Match`` (the document then lists the
#: header, and the 412 it may answer).
IF_MATCH: dict[str, Any] = {
    "parameters": [
        {
            "name": "If-Match",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": 'The ETag you read (e.g. "3"): the change is refused with 412 if the record changed '
            "since. Optional: without it, the change applies to the current version.",
        }
    ]
}


def if_match(request: Request) -> Precondition:
    """What the request's ``If-Match`` asks (nothing when it sent none)."""
    return Precondition.parse(request.headers.get("if-match"))


def tagged(view: BaseModel, version: int, status_code: int = 200) -> Response:
    """``view`` as JSON, with the record's ``ETag`` (its version)."""
    return Response(
        view.model_dump_json(), status_code=status_code, media_type="application/json", headers={"ETag": etag(version)}
    )
