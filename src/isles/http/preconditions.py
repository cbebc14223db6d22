"""``If-Match`` at the HTTP edge: a route that honours it takes :data:`IfMatch` (the
header is then in its OpenAPI document) and hands it to its use case, which checks
it against the row it locked (:meth:`isles.core.versions.Precondition.check`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Response

from isles.core.versions import Precondition, etag


def if_match(
    value: Annotated[
        str | None,
        Header(
            alias="If-Match",
            description='The ETag you read (e.g. "3"): the change is refused with 412 if the record changed since. '
            "Optional: without it, the change applies to the current version.",
        ),
    ] = None,
) -> Precondition:
    return Precondition.parse(value)


IfMatch = Annotated[Precondition, Depends(if_match)]


def tag(response: Response, version: int) -> None:
    """Answer with the record's ``ETag`` (its version)."""
    response.headers["ETag"] = etag(version)
