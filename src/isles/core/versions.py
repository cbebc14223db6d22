"""Optimistic concurrency: an aggregate's version is its entity tag. A read answers
``ETag: "<version>"``; an update that sends ``If-Match`` with the tag it read is
refused with 412 when someone changed the row in between, so two people editing one
record never lose an update silently. ``If-Match`` is optional (an update without it
applies to whatever version is current); a route that honours it declares it."""

from __future__ import annotations

from collections.abc import Sequence

from isles.core.problems import Problem


def etag(version: int) -> str:
    """The entity tag of ``version`` (strong: the representation follows the version)."""
    return f'"{version}"'


class Precondition:
    """What a request's ``If-Match`` asks: the tags it accepts (None: it sent none)."""

    def __init__(self, tags: Sequence[str] | None = None) -> None:
        self.tags = tuple(tags) if tags is not None else None

    @classmethod
    def parse(cls, header: str | None) -> Precondition:
        if header is None or not header.strip():
            return cls(None)
        # Weak tags never match for If-Match (RFC 9110 13.1.1): they are dropped.
        return cls([t.strip() for t in header.split(",") if t.strip() and not t.strip().startswith("W/")])

    def check(self, version: int, what: str) -> None:
        """Refuse (412) when the request expected another version of ``what``."""
        if self.tags is None or "*" in self.tags or etag(version) in self.tags:
            return
        raise Problem(
            412,
            f"{what} changed since you read it (it is at version {version} now): read it again, "
            "then send If-Match with its new ETag",
            slug="precondition-failed",
            extra={"version": version, "etag": etag(version)},
        )
