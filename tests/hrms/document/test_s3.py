"""The document service on the S3 blob store (moto's S3 server), on SQLite and
PostgreSQL: versions uploaded and downloaded, identical content kept as one object,
a file over the limit leaving nothing in the bucket."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest

from isles.runtime.system import SystemRuntime
from tests.conftest import hr_system
from tests.hrms.document.helpers import DOCS, PDF, new_version, office, upload
from tests.hrms.helpers import ok
from tests.s3 import keys_in, new_bucket
from tests.support import Backend, Templates

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.services("document")]
LIMIT = 1024 * 1024


@pytest.fixture
async def on_s3(
    backend: Backend, templates: Templates, request: pytest.FixtureRequest, moto_endpoint: str
) -> AsyncIterator[tuple[SystemRuntime, str]]:
    """The HR system (the document service among it) with its blobs in a new bucket, and the bucket."""
    bucket = new_bucket(moto_endpoint)
    blobs = backend.settings.blobs.model_copy(
        update={
            "backend": "s3",
            "s3_endpoint": moto_endpoint,
            "s3_bucket": bucket,
            "s3_access_key": "testing",
            "s3_secret_key": "testing",
            "max_upload_bytes": LIMIT,
        }
    )
    system = hr_system(request)
    await templates.clone(system, backend)
    runtime = SystemRuntime(system, backend.settings.model_copy(update={"blobs": blobs}), environ={})
    await runtime.start()
    try:
        yield runtime, bucket
    finally:
        await runtime.stop()
        backend.drop_later(runtime.services)


async def test_versions_on_s3(on_s3: tuple[SystemRuntime, str], moto_endpoint: str) -> None:
    hrms, bucket = on_s3
    async with hrms.client() as api:
        o = await office(hrms, api)
        a = ok(await upload(api, o.as_admin, title="A"), 201)
        b = ok(await upload(api, o.as_admin, title="B"), 201)  # the same content
        second = b"%PDF-1.7\n" + b"x" * (LIMIT - 100)
        ok(await new_version(api, o.as_admin, a["id"], second), 201)
        assert keys_in(moto_endpoint, bucket) == sorted(
            f"sha256/{hashlib.sha256(c).hexdigest()}" for c in (PDF, second)
        ), "identical content once"
        assert (await api.get(f"{DOCS}/{a['id']}/versions/1/content", headers=o.as_admin)).content == PDF
        current = await api.get(f"{DOCS}/{a['id']}/content", headers=o.as_admin)
        assert current.content == second
        assert current.headers["etag"] == f'"{hashlib.sha256(second).hexdigest()}"'
        assert (await api.get(f"{DOCS}/{b['id']}/content", headers=o.as_admin)).content == PDF

        too_big = await upload(api, o.as_admin, b"%PDF-1.7\n" + b"y" * LIMIT, title="Big")
        assert too_big.status_code == 413
        assert [e["field"] for e in too_big.json()["errors"]] == ["file"]
        assert len(keys_in(moto_endpoint, bucket)) == 2, "nothing more stored"
        titles = {d["title"] for d in ok(await api.get(DOCS, headers=o.as_admin))["items"]}
        assert titles == {"A", "B"}
