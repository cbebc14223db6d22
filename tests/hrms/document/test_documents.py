"""Documents over HTTP, on SQLite and PostgreSQL: uploads (multipart and raw) kept as
versions in the blob store (identical content once), downloads with their headers,
the size limit and the media type checked against the content, soft deletion, and
the change history of the metadata."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from isles.runtime.system import SystemRuntime
from tests.hrms.document.helpers import DOCS, PDF, PNG, document_events, fields, new_version, office, upload
from tests.hrms.helpers import count, ok

pytestmark = [pytest.mark.integration, pytest.mark.services("document")]


def blobs(hrms: SystemRuntime) -> list[Path]:
    root = hrms["document"].settings.data_dir / "blobs"
    return sorted(p for p in root.rglob("*") if p.is_file() and p.parent.name != "tmp") if root.exists() else []


async def test_upload_versions_and_download_each(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    o = await office(hrms, api)
    r = await upload(api, o.as_admin, employee_id=o.worker["id"], expires_on="2031-01-31")
    doc = ok(r, 201)
    assert r.headers["location"].endswith(f"/documents/{doc['id']}")
    assert (doc["employee_id"], doc["category"], doc["current_version"]) == (o.worker["id"], "contract", 1)
    assert doc["current"]["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert (doc["current"]["size"], doc["current"]["filename"]) == (len(PDF), "contract.pdf")

    second = b"%PDF-1.7\nthe renewed contract\n%%EOF\n"
    v2 = ok(await new_version(api, o.as_admin, doc["id"], second, filename="Vertrag für Ada.pdf"), 201)
    assert v2["number"] == 2
    assert ok(await api.get(f"{DOCS}/{doc['id']}", headers=o.as_admin))["current_version"] == 2
    numbers = [v["number"] for v in ok(await api.get(f"{DOCS}/{doc['id']}/versions", headers=o.as_admin))]
    assert numbers == [1, 2]

    current = await api.get(f"{DOCS}/{doc['id']}/content", headers=o.as_admin)
    assert current.status_code == 200
    assert current.content == second
    assert current.headers["content-type"] == "application/pdf"
    assert current.headers["content-length"] == str(len(second))
    assert current.headers["etag"] == f'"{hashlib.sha256(second).hexdigest()}"'
    assert current.headers["x-content-type-options"] == "nosniff"
    assert "filename*=UTF-8''Vertrag%20f%C3%BCr%20Ada.pdf" in current.headers["content-disposition"]
    assert current.headers["content-disposition"].startswith("attachment;")
    first = await api.get(f"{DOCS}/{doc['id']}/versions/1/content", headers=o.as_admin)
    assert first.content == PDF, "an older version stays readable"
    again = await api.get(
        f"{DOCS}/{doc['id']}/content", headers={**o.as_admin, "If-None-Match": current.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.content == b""
    assert (await api.get(f"{DOCS}/{doc['id']}/versions/3/content", headers=o.as_admin)).status_code == 404

    kinds = [(e, d["version"]) for e, d in await document_events(hrms, doc["id"])]
    assert kinds == [("document.DocumentUploaded", 1), ("document.DocumentUploaded", 2)]


async def test_identical_content_is_stored_once(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    o = await office(hrms, api)
    a = ok(await upload(api, o.as_admin, title="One"), 201)
    b = ok(await upload(api, o.as_admin, title="Two"), 201)
    ok(await new_version(api, o.as_admin, a["id"]), 201)
    assert a["current"]["sha256"] == b["current"]["sha256"]
    assert [p.name for p in blobs(hrms)] == [hashlib.sha256(PDF).hexdigest()]
    assert await count(hrms, "document", "document_versions") == 3


async def test_raw_body_upload_with_metadata_in_the_query(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    o = await office(hrms, api)
    params = {"title": "Badge photo", "category": "id", "filename": "me.png"}
    r = await api.post(DOCS, content=PNG, params=params, headers={**o.as_worker, "Content-Type": "image/png"})
    doc = ok(r, 201)
    assert (doc["employee_id"], doc["current"]["media_type"]) == (o.worker["id"], "image/png"), "the caller's own"
    got = await api.get(f"{DOCS}/{doc['id']}/content", headers=o.as_worker)
    assert got.content == PNG
    assert 'filename="me.png"' in got.headers["content-disposition"]


async def test_a_file_over_the_limit_is_refused_and_nothing_stored(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    o = await office(hrms, api)
    limit = hrms["document"].settings.blobs.max_upload_bytes
    big = b"%PDF-1.7\n" + b"x" * limit
    declared = await upload(api, o.as_admin, big)  # its Content-Length is over the limit: refused unread
    assert declared.status_code == 413, declared.text
    assert fields(declared) == ["file"]

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: the blob store stops at the limit
        for start in range(0, len(big), 1 << 20):
            yield big[start : start + (1 << 20)]

    headers = {**o.as_admin, "Content-Type": "application/pdf"}
    streamed = await api.post(DOCS, content=chunked(), params={"title": "Big", "category": "other"}, headers=headers)
    assert streamed.status_code == 413, streamed.text
    assert fields(streamed) == ["file"]
    assert blobs(hrms) == []
    assert await count(hrms, "document", "documents") == 0


@pytest.mark.parametrize(
    ("content", "media_type", "status"),
    [
        (b"MZ\x90\x00 an executable", "application/pdf", 422),  # says PDF, is not
        (PDF, "image/png", 422),  # a PDF said to be a PNG
        (b"plain text\x00with a NUL", "text/plain", 422),
        (b"\xff\xfe not UTF-8", "text/plain", 422),
        (b"<html><script>", "text/html", 415),  # not a type taken
        (PDF, "application/octet-stream", 415),
    ],
)
async def test_a_wrong_media_type_is_refused(
    hrms: SystemRuntime, api: httpx.AsyncClient, content: bytes, media_type: str, status: int
) -> None:
    o = await office(hrms, api)
    r = await upload(api, o.as_admin, content, media_type, category="other")
    assert r.status_code == status, r.text
    assert fields(r) == ["file"]
    assert blobs(hrms) == []


async def test_bad_metadata_is_a_problem_naming_the_field(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    o = await office(hrms, api)
    assert fields(await upload(api, o.as_admin, category="poem")) == ["category"]
    assert fields(await upload(api, o.as_admin, title="")) == ["title"]
    assert fields(await upload(api, o.as_admin, expires_on="soon")) == ["expires_on"]
    assert fields(await upload(api, o.as_admin, employee_id="7c9e6679-7425-40de-944b-e07fc1f90ae7")) == ["employee_id"]
    no_file = await api.post(
        DOCS, data={"title": "x", "category": "other"}, files={"x": ("a", b"b")}, headers=o.as_admin
    )
    assert no_file.status_code == 422
    broken = await api.post(
        DOCS, content=b"--b\r\nnonsense", headers={**o.as_admin, "Content-Type": "multipart/form-data; boundary=b"}
    )
    assert broken.status_code == 422
    assert fields(broken) == ["body"]


async def test_soft_delete_and_listing(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    o = await office(hrms, api)
    a = ok(await upload(api, o.as_admin, title="Kept"), 201)
    b = ok(await upload(api, o.as_admin, title="Gone"), 201)
    ok(await api.delete(f"{DOCS}/{b['id']}", headers=o.as_admin), 204)
    titles = [d["title"] for d in ok(await api.get(DOCS, headers=o.as_admin))["items"]]
    assert titles == ["Kept"]
    everything = ok(await api.get(DOCS, params={"include_deleted": "true"}, headers=o.as_admin))["items"]
    assert sorted(d["title"] for d in everything) == ["Gone", "Kept"]
    assert (await api.get(f"{DOCS}/{b['id']}/content", headers=o.as_admin)).status_code == 404
    assert ok(await api.get(f"{DOCS}/{b['id']}", headers=o.as_admin))["deleted_at"] is not None
    assert [e for e, _ in await document_events(hrms, b["id"])][-1] == "document.DocumentDeleted"
    assert a["id"] != b["id"]


async def test_history_of_metadata_and_as_of(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    o = await office(hrms, api)
    doc = ok(await upload(api, o.as_admin, title="Contract", expires_on="2030-12-31"), 201)
    before_change = datetime.now(UTC)
    ok(await api.patch(f"{DOCS}/{doc['id']}", json={"title": "Contract (signed)"}, headers=o.as_admin))
    ok(await api.patch(f"{DOCS}/{doc['id']}", json={"expires_on": "2031-12-31"}, headers=o.as_admin))
    history = ok(await api.get(f"{DOCS}/{doc['id']}/history", headers=o.as_admin))
    assert [(h["values"]["title"], h["values"]["expires_on"]) for h in history] == [
        ("Contract", "2030-12-31"),
        ("Contract (signed)", "2030-12-31"),
        ("Contract (signed)", "2031-12-31"),
    ]
    assert [h["operation"] for h in history] == ["update", "update", None]
    assert history[0]["changed_by"] == f"user:{o.admin['user_id']}"
    assert history[-1]["valid_to"] is None
    then = ok(await api.get(f"{DOCS}/{doc['id']}", params={"as_of": before_change.isoformat()}, headers=o.as_admin))
    assert then["title"] == "Contract"
    now = ok(await api.get(f"{DOCS}/{doc['id']}", headers=o.as_admin))
    assert (now["title"], now["expires_on"]) == ("Contract (signed)", "2031-12-31")
    long_ago = await api.get(f"{DOCS}/{doc['id']}", params={"as_of": "2001-01-01T00:00:00Z"}, headers=o.as_admin)
    assert long_ago.status_code == 404


async def test_content_lost_from_the_store_is_410_not_a_broken_stream(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    o = await office(hrms, api)
    doc = ok(await upload(api, o.as_admin), 201)
    [blob] = blobs(hrms)
    blob.unlink()
    r = await api.get(f"{DOCS}/{doc['id']}/content", headers=o.as_admin)
    assert r.status_code == 410, r.text
    assert r.headers["content-type"] == "application/problem+json"
