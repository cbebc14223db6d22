"""The NUL check (``no_nul_characters``) reads JSON and urlencoded bodies only: a
multipart upload's file is bytes that may hold NULs, and is not read whole by it."""

from __future__ import annotations

import httpx
from fastapi import Depends, FastAPI, Request

from isles.http import problems
from isles.http.queries import no_nul_characters


def app() -> FastAPI:
    made = FastAPI(dependencies=[Depends(no_nul_characters)])
    problems.install(made)

    @made.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    return made


async def test_a_file_with_nul_bytes_passes_and_json_text_with_one_does_not() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app()), base_url="http://t") as client:
        uploaded = await client.post("/upload", files={"file": ("a.bin", b"\x00\x01\x00binary")})
        assert uploaded.status_code == 200, uploaded.text
        refused = await client.post("/upload", json={"name": "a\x00b"})
        assert refused.status_code == 422
        assert refused.json()["errors"][0] == {
            "field": "name",
            "message": "text may not contain a NUL character (U+0000)",
            "code": "nul_character",
        }
        form = await client.post("/upload", data={"name": "a\x00b"})
        assert form.status_code == 422
