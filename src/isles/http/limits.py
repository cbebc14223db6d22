"""Request body limit: a body over ``max_bytes`` is answered ``413`` (problem details)
before any route reads it — by its ``Content-Length``, or, for a chunked body, as soon
as the bytes received pass the limit. The POST paths a service declares as
``uploads`` (routes that stream their body to the blob store) have the upload limit
instead."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from isles.core.problems import PROBLEM_URN

#: What a multipart upload's body may carry beyond its file: boundaries, headers, fields.
UPLOAD_FRAMING = 64 * 1024


class BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int, uploads: Sequence[str] = (), max_upload_bytes: int = 0) -> None:
        self.app = app
        self.default_max_bytes = max_bytes
        self.uploads = [re.compile(p) for p in uploads]
        self.max_upload_bytes = max_upload_bytes

    def _limit(self, scope: Scope) -> int:
        if self.uploads and scope.get("method") == "POST":
            path: str = scope.get("path", "")
            root: str = scope.get("root_path", "")
            relative = path[len(root) :] if root and path.startswith(root) else path
            if any(p.fullmatch(relative) for p in self.uploads):
                return max(self.max_upload_bytes, self.default_max_bytes)
        return self.default_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, send, limit)
            return
        seen = 0
        started = False

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return message

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited, tracking)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, send, limit)

    async def _refuse(self, scope: Scope, send: Send, limit: int) -> None:
        body: dict[str, Any] = {
            "type": f"{PROBLEM_URN}body-too-large",
            "title": "Payload Too Large",
            "status": 413,
            "detail": f"the request body is larger than {limit} bytes",
            "instance": scope.get("path", ""),
            "limit": limit,
        }
        if limit != self.default_max_bytes:  # an upload: the file is what is too large
            body["errors"] = [{"field": "file", "message": f"larger than {limit} bytes", "code": "too_large"}]
        raw = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(raw)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": raw})
