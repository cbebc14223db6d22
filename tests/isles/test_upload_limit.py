"""The request body limit, and the larger one of a service's declared upload paths
(POST only, matched relative to where the service is mounted), by the declared
Content-Length (a chunked upload past its limit is the blob store's BlobTooLarge:
tests/hrms/document/test_documents.py)."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from isles.http.limits import BodyLimitMiddleware


async def echo(request: Request) -> PlainTextResponse:
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
    return PlainTextResponse(str(size))


def app() -> Starlette:
    inner = Starlette(
        routes=[Route("/documents", echo, methods=["POST", "PUT"]), Route("/other", echo, methods=["POST"])]
    )
    limited = BodyLimitMiddleware(inner, max_bytes=1024, uploads=(r"/documents",), max_upload_bytes=4096)
    return Starlette(routes=[Mount("/api/document", app=limited)])


@pytest.mark.parametrize(
    ("method", "path", "size", "status", "names_file"),
    [
        ("POST", "/api/document/documents", 3000, 200, False),  # an upload path: the upload limit
        ("POST", "/api/document/documents", 5000, 413, True),
        ("PUT", "/api/document/documents", 3000, 413, False),  # another method: the ordinary limit
        ("POST", "/api/document/other", 3000, 413, False),
        ("POST", "/api/document/other", 1000, 200, False),
    ],
)
async def test_upload_paths_take_the_upload_limit(
    method: str, path: str, size: int, status: int, names_file: bool
) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app()), base_url="http://t") as client:
        r = await client.request(method, path, content=b"x" * size)  # its Content-Length decides
    assert r.status_code == status, r.text
    if status == 200:
        assert r.text == str(size)
    else:
        assert r.json()["limit"] == (4096 if names_file else 1024)
        assert [e["field"] for e in r.json().get("errors", [])] == (["file"] if names_file else [])
