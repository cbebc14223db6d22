"""The blob store's contract, run against both backends: the file store and the S3
store (against moto's standalone S3 server: the `moto_endpoint` fixture of tests/conftest.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from isles.core.settings import IslesSettings
from isles.storage.blobs import (
    PART,
    BlobInfo,
    BlobNotFound,
    BlobStore,
    BlobStoreError,
    BlobTooLarge,
    FileBlobStore,
    S3BlobStore,
    blob_store,
    sigv4_headers,
)
from tests.s3 import KEYS, boto, new_bucket

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.e2e)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "file":
        return {"kind": "file", "root": str(tmp_path / "blobs")}
    endpoint = request.getfixturevalue("moto_endpoint")
    return {"kind": "s3", "endpoint": endpoint, "bucket": new_bucket(endpoint)}


def _make(backend: dict[str, str]) -> BlobStore:
    if backend["kind"] == "file":
        return FileBlobStore(backend["root"])
    return S3BlobStore(backend["endpoint"], backend["bucket"], **KEYS)


@pytest.fixture
async def store(backend: dict[str, str]) -> AsyncIterator[BlobStore]:
    made = _make(backend)
    yield made
    await made.aclose()


def _leftovers(backend: dict[str, str]) -> list[str]:
    """Everything in the store besides finished blobs: temp files, S3 temp objects,
    unfinished multipart uploads."""
    if backend["kind"] == "file":
        tmp = Path(backend["root"]) / "tmp"
        return [str(p) for p in tmp.iterdir()] if tmp.exists() else []
    s3 = boto(backend["endpoint"])
    objects = s3.list_objects_v2(Bucket=backend["bucket"]).get("Contents", [])
    uploads = s3.list_multipart_uploads(Bucket=backend["bucket"]).get("Uploads", [])
    return [o["Key"] for o in objects if not o["Key"].startswith("sha256/")] + [f"upload {u['Key']}" for u in uploads]


def _count(backend: dict[str, str]) -> int:
    if backend["kind"] == "file":
        return sum(1 for p in Path(backend["root"]).rglob("*") if p.is_file() and p.parent.name != "tmp")
    contents = boto(backend["endpoint"]).list_objects_v2(Bucket=backend["bucket"]).get("Contents", [])
    return len(contents)


async def _chunks(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _read(store: BlobStore, sha256: str) -> bytes:
    return b"".join([chunk async for chunk in store.get(sha256)])


@pytest.mark.parametrize("length", [0, 1000, PART, PART + 1, 2 * PART + 12345])
async def test_a_blob_goes_in_and_comes_back(store: BlobStore, backend: dict[str, str], length: int) -> None:
    data = os.urandom(length)
    info = await store.put(_chunks(data), max_bytes=10 * PART)
    assert info == BlobInfo(hashlib.sha256(data).hexdigest(), length)
    assert await store.exists(info.sha256)
    assert await store.size(info.sha256) == length
    assert await _read(store, info.sha256) == data
    assert _leftovers(backend) == []


async def test_the_same_content_is_stored_once(store: BlobStore, backend: dict[str, str]) -> None:
    small, large = os.urandom(5000), os.urandom(PART + 100)
    first = await store.put(_chunks(small), max_bytes=len(small))
    again = await store.put(_chunks(small, 7), max_bytes=len(small))
    big = await store.put(_chunks(large), max_bytes=len(large))
    big_again = await store.put(_chunks(large, 1 << 20), max_bytes=len(large))
    assert first == again
    assert big == big_again
    assert _count(backend) == 2
    assert _leftovers(backend) == []
    assert await _read(store, big.sha256) == large


@pytest.mark.parametrize("length", [1001, 3 * PART])
async def test_content_over_the_limit_is_refused_and_leaves_nothing(
    store: BlobStore, backend: dict[str, str], length: int
) -> None:
    data = os.urandom(length)
    with pytest.raises(BlobTooLarge, match=f"larger than {length - 1} bytes"):
        await store.put(_chunks(data), max_bytes=length - 1)
    assert _leftovers(backend) == []
    assert _count(backend) == 0
    assert not await store.exists(hashlib.sha256(data).hexdigest())


async def test_a_failing_stream_leaves_nothing(store: BlobStore, backend: dict[str, str]) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield os.urandom(PART)
        yield os.urandom(PART)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await store.put(broken(), max_bytes=10 * PART)
    assert _leftovers(backend) == []
    assert _count(backend) == 0


async def test_delete_and_a_missing_blob(store: BlobStore, backend: dict[str, str]) -> None:
    info = await store.put(_chunks(b"hello"), max_bytes=100)
    assert await store.delete(info.sha256)
    assert not await store.delete(info.sha256)
    assert not await store.exists(info.sha256)
    with pytest.raises(BlobNotFound):
        await store.size(info.sha256)
    with pytest.raises(BlobNotFound):
        await _read(store, info.sha256)
    assert _count(backend) == 0
    with pytest.raises(ValueError, match="not a SHA-256"):
        await store.exists("../../etc/passwd")


_MEMORY_SCRIPT = """
import asyncio, hashlib, json, resource, sys, tracemalloc
from isles.storage.blobs import FileBlobStore, S3BlobStore

backend = json.loads(sys.argv[1])
SIZE = 64 * 1024 * 1024
BLOCK = bytes(range(256)) * 256  # 64 KiB

async def content(n):
    for i in range(n // len(BLOCK)):
        yield i.to_bytes(8, "big") + BLOCK[8:]

def rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

async def main():
    if backend["kind"] == "file":
        store = FileBlobStore(backend["root"])
    else:
        store = S3BlobStore(backend["endpoint"], backend["bucket"], "testing", "testing", "us-east-1")
    warm = await store.put(content(1024 * 1024), max_bytes=SIZE)
    async for _ in store.get(warm.sha256):
        pass
    before = rss()
    tracemalloc.start()
    info = await store.put(content(SIZE), max_bytes=SIZE)
    digest = hashlib.sha256()
    async for chunk in store.get(info.sha256):
        digest.update(chunk)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    await store.aclose()
    same = digest.hexdigest() == info.sha256
    print(json.dumps({"peak": peak, "growth": rss() - before, "size": info.size, "same": same}))

asyncio.run(main())
"""


@pytest.mark.e2e
def test_a_large_blob_streams_in_bounded_memory(backend: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, json.dumps(backend)],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(backend["kind"], result)
    assert result["size"] == 64 * 1024 * 1024
    assert result["same"]
    # 64 MiB went in and out: Python's allocations peaked at a few parts' worth at
    # most (tracemalloc), and so did the process's resident size.
    assert result["peak"] < 24 * 1024 * 1024, result
    assert result["growth"] < 24 * 1024 * 1024, result
    assert _leftovers(backend) == []


def test_the_signer_matches_botocore() -> None:
    if os.environ.get("CI") != "true":
        pytest.importorskip("botocore", reason="botocore comes with moto[server], the dev extra")
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    body = b"some content"
    payload = hashlib.sha256(body).hexdigest()
    request = AWSRequest(
        method="PUT",
        url="http://127.0.0.1:9000/my-bucket/tmp/a%20b?partNumber=2&uploadId=x%2By",
        data=body,
        headers={"x-amz-copy-source": "/my-bucket/tmp/x", "x-amz-content-sha256": payload},
    )
    S3SigV4Auth(Credentials("AKID", "SECRET"), "s3", "eu-west-1").add_auth(request)
    now = dt.datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    ours = sigv4_headers(
        "PUT",
        "127.0.0.1:9000",
        "/my-bucket/tmp/a%20b",
        {"partNumber": "2", "uploadId": "x+y"},
        {"x-amz-copy-source": "/my-bucket/tmp/x"},
        payload,
        access_key="AKID",
        secret_key="SECRET",
        region="eu-west-1",
        now=now,
    )
    assert ours["authorization"] == request.headers["Authorization"]


@pytest.mark.e2e
async def test_an_s3_error_is_raised_as_such(moto_endpoint: str) -> None:
    store = S3BlobStore(moto_endpoint, "no-such-bucket", **KEYS)
    try:
        with pytest.raises(BlobStoreError, match="NoSuchBucket"):
            await store.put(_chunks(b"hello"), max_bytes=100)
        with pytest.raises(BlobStoreError, match="NoSuchBucket"):
            await store.put(_chunks(os.urandom(2 * PART)), max_bytes=3 * PART)
    finally:
        await store.aclose()


def test_the_factory_follows_the_settings(tmp_path: Path) -> None:
    store = blob_store(IslesSettings(data_dir=tmp_path))
    assert isinstance(store, FileBlobStore)
    assert store.root == tmp_path / "blobs"
    assert blob_store(IslesSettings(blobs_dir=tmp_path / "b")).root == tmp_path / "b"  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="ISLES_BLOBS_S3_ENDPOINT, ISLES_BLOBS_S3_BUCKET"):
        blob_store(IslesSettings(blobs_backend="s3"))
    s3 = blob_store(
        IslesSettings(
            blobs_backend="s3",
            blobs_s3_endpoint="http://s3.local:9000",
            blobs_s3_bucket="b",
            blobs_s3_access_key="a",
            blobs_s3_secret_key="s",
            blobs_s3_region="eu-west-1",
        )
    )
    assert isinstance(s3, S3BlobStore)
    assert (s3.bucket, s3.region) == ("b", "eu-west-1")
    asyncio.run(s3.aclose())
