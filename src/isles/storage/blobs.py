"""The blob store: files (uploads, documents) kept by the SHA-256 of their content.

One interface, :class:`BlobStore`, two backends: :class:`FileBlobStore` (a folder, the
embedded mode) and :class:`S3BlobStore` (S3-compatible object storage over its HTTP API,
signed with SigV4 over httpx). Content is streamed both ways, never held whole in memory;
identical content is stored once. ``blob_store(settings)`` picks the backend."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import os
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol, runtime_checkable
from urllib.parse import quote

import httpx

from isles.core.settings import IslesSettings

#: Chunks handed out by ``get`` (and written to disk at a time by the file store).
CHUNK = 1024 * 1024
#: Parts of an S3 multipart upload (S3 wants at least 5 MiB for all but the last).
PART = 8 * 1024 * 1024
#: Largest object one S3 CopyObject copies, so the largest blob the S3 store takes.
S3_MAX_COPY = 5 * 1024**3

_HEX64 = re.compile(r"[0-9a-f]{64}")


class BlobTooLarge(ValueError):
    """The content ran past ``max_bytes``; nothing was stored."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"blob larger than {max_bytes} bytes refused")
        self.max_bytes = max_bytes


class BlobNotFound(LookupError):
    """No blob has this SHA-256."""


class BlobStoreError(RuntimeError):
    """The backing store failed (an S3 error answer)."""


@dataclass(frozen=True, slots=True)
class BlobInfo:
    sha256: str
    size: int


@runtime_checkable
class BlobStore(Protocol):
    async def put(self, stream: AsyncIterable[bytes], *, max_bytes: int) -> BlobInfo:
        """Store the content, keyed by its SHA-256; a second put of it is a no-op.
        Raises :class:`BlobTooLarge` past ``max_bytes``, leaving nothing behind."""
        ...

    def get(self, sha256: str) -> AsyncIterator[bytes]:
        """The content in chunks; :class:`BlobNotFound` at the first iteration if absent."""
        ...

    async def exists(self, sha256: str) -> bool: ...

    async def size(self, sha256: str) -> int:
        """Bytes of the blob; :class:`BlobNotFound` if absent."""
        ...

    async def delete(self, sha256: str) -> bool:
        """Remove the blob; False if there was none."""
        ...

    async def aclose(self) -> None: ...


def _check(sha256: str) -> str:
    if not _HEX64.fullmatch(sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return sha256


# -- the file store -----------------------------------------------------------------


class FileBlobStore:
    """Blobs as files ``<root>/ab/cd/<sha256>``. A put writes a temporary file in
    ``<root>/tmp`` (the same file system), fsyncs it and renames it into place, so a
    blob is either whole or absent. File I/O runs in worker threads."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._tmp = self.root / "tmp"

    def path(self, sha256: str) -> Path:
        _check(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    async def put(self, stream: AsyncIterable[bytes], *, max_bytes: int) -> BlobInfo:
        await asyncio.to_thread(self._tmp.mkdir, parents=True, exist_ok=True)
        temp = self._tmp / f"{uuid.uuid4().hex}.part"
        file: IO[bytes] = await asyncio.to_thread(open, temp, "xb")
        digest = hashlib.sha256()
        size = 0
        buffer = bytearray()
        done = False
        try:
            async for chunk in stream:
                size += len(chunk)
                if size > max_bytes:
                    raise BlobTooLarge(max_bytes)
                digest.update(chunk)
                buffer += chunk
                if len(buffer) >= CHUNK:
                    data, buffer = bytes(buffer), bytearray()
                    await asyncio.to_thread(file.write, data)
            sha256 = digest.hexdigest()
            await asyncio.to_thread(self._finish, file, bytes(buffer), temp, self.path(sha256))
            done = True
            return BlobInfo(sha256, size)
        finally:
            if not done:
                await asyncio.to_thread(self._discard, file, temp)

    @staticmethod
    def _finish(file: IO[bytes], rest: bytes, temp: Path, final: Path) -> None:
        with file:
            file.write(rest)
            file.flush()
            os.fsync(file.fileno())
        if final.exists():
            temp.unlink()
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, final)
        fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    @staticmethod
    def _discard(file: IO[bytes], temp: Path) -> None:
        file.close()
        temp.unlink(missing_ok=True)

    async def get(self, sha256: str) -> AsyncIterator[bytes]:
        path = self.path(sha256)
        try:
            file: IO[bytes] = await asyncio.to_thread(open, path, "rb")
        except FileNotFoundError:
            raise BlobNotFound(sha256) from None
        try:
            while chunk := await asyncio.to_thread(file.read, CHUNK):
                yield chunk
        finally:
            await asyncio.to_thread(file.close)

    async def exists(self, sha256: str) -> bool:
        return await asyncio.to_thread(self.path(sha256).is_file)

    async def size(self, sha256: str) -> int:
        try:
            return (await asyncio.to_thread(self.path(sha256).stat)).st_size
        except FileNotFoundError:
            raise BlobNotFound(sha256) from None

    async def delete(self, sha256: str) -> bool:
        try:
            await asyncio.to_thread(self.path(sha256).unlink)
        except FileNotFoundError:
            return False
        return True

    async def aclose(self) -> None:
        return None


# -- SigV4 --------------------------------------------------------------------------

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _uri(text: str, *, slash: bool) -> str:
    return quote(text, safe="/-_.~" if slash else "-_.~")


def sigv4_headers(
    method: str,
    host: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    payload_sha256: str,
    *,
    access_key: str,
    secret_key: str,
    region: str,
    now: dt.datetime,
    service: str = "s3",
) -> dict[str, str]:
    """The headers that sign one request with AWS Signature Version 4 (header form).

    ``path`` is already URI-encoded (S3 does not encode it twice); ``headers`` are the
    request's other headers to sign. Returns them with ``host``, ``x-amz-date``,
    ``x-amz-content-sha256`` and ``authorization`` added."""
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    signed = {k.lower(): " ".join(str(v).split()) for k, v in headers.items()}
    signed |= {"host": host, "x-amz-date": stamp, "x-amz-content-sha256": payload_sha256}
    names = sorted(signed)
    canonical_query = "&".join(f"{_uri(k, slash=False)}={_uri(v, slash=False)}" for k, v in sorted(query.items()))
    canonical = "\n".join(
        [
            method,
            path,
            canonical_query,
            "".join(f"{n}:{signed[n]}\n" for n in names),
            ";".join(names),
            payload_sha256,
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret_key}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out = {k: str(v) for k, v in headers.items()}
    out |= {"host": host, "x-amz-date": stamp, "x-amz-content-sha256": payload_sha256}
    out["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return out


# -- the S3 store -------------------------------------------------------------------


class _Once:
    """A request body that lets go of its bytes once sent: httpx's responses sit in
    reference cycles with their requests, so a part given as ``bytes`` would stay in
    memory until the cycle collector runs, one more part per upload."""

    def __init__(self, data: bytes) -> None:
        self._data: bytes | None = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        data, self._data = self._data, None
        if data is None:
            raise BlobStoreError("a request body cannot be sent twice")
        yield data


def _take(chunks: list[bytes], n: int) -> tuple[bytes, list[bytes]]:
    """The first ``n`` bytes of the chunks, and the chunks left (copying only what
    straddles the cut)."""
    taken: list[bytes] = []
    count = 0
    while chunks and count + len(chunks[0]) <= n:
        count += len(chunks[0])
        taken.append(chunks.pop(0))
    if count < n and chunks:
        head = chunks[0]
        taken.append(head[: n - count])
        chunks[0] = head[n - count :]
    part = b"".join(taken)
    taken.clear()
    return part, chunks


def _text(root: ET.Element, name: str) -> str | None:
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == name:
            return element.text
    return None


class S3BlobStore:
    """Blobs as objects ``sha256/<sha256>`` in an S3 bucket (path-style addressing).

    The key is known only once the content is hashed, so a put of more than one part
    (8 MiB) streams a multipart upload under a temporary key ``tmp/<uuid>``, then
    copies it server-side to its content key and deletes the temporary object; the
    upload is aborted on any failure or past ``max_bytes``. Content of one part or
    less is hashed in memory first and put under its content key at once. A crash
    mid-put can leave an unfinished upload or a ``tmp/`` object: give the bucket a
    lifecycle rule that aborts incomplete multipart uploads and expires ``tmp/``."""

    def __init__(
        self,
        endpoint: str,
        bucket: str,
        access_key: str,
        secret_key: str,
        region: str = "us-east-1",
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.endpoint = httpx.URL(endpoint.rstrip("/"))
        self.bucket = bucket
        self._access_key = access_key
        self._secret_key = secret_key
        self.region = region
        self._client = client or httpx.AsyncClient(timeout=timeout)
        port = self.endpoint.port
        self._host = self.endpoint.host + (f":{port}" if port else "")
        self._base = self.endpoint.path.rstrip("/")

    @staticmethod
    def key(sha256: str) -> str:
        return f"sha256/{_check(sha256)}"

    def _build(
        self,
        method: str,
        key: str,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> httpx.Request:
        query = query or {}
        path = (
            f"{self._base}/{_uri(self.bucket, slash=False)}/{_uri(key, slash=True)}"
            if key
            else (f"{self._base}/{_uri(self.bucket, slash=False)}")
        )
        signed = sigv4_headers(
            method,
            self._host,
            path,
            query,
            headers or {},
            hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256,
            access_key=self._access_key,
            secret_key=self._secret_key,
            region=self.region,
            now=dt.datetime.now(dt.UTC),
        )
        qs = "&".join(f"{_uri(k, slash=False)}" + (f"={_uri(v, slash=False)}" if v else "") for k, v in query.items())
        url = f"{self.endpoint.scheme}://{self._host}{path}" + (f"?{qs}" if qs else "")
        if not body:
            return self._client.build_request(method, url, headers=signed)
        signed["content-length"] = str(len(body))
        return self._client.build_request(method, url, headers=signed, content=_Once(body))

    async def _send(
        self,
        method: str,
        key: str,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        *,
        ok: tuple[int, ...] = (200,),
    ) -> httpx.Response:
        response = await self._client.send(self._build(method, key, query, headers, body))
        if response.status_code not in ok or (method != "HEAD" and b"<Error>" in response.content[:512]):
            raise BlobStoreError(
                f"S3 {method} {key or self.bucket}: {response.status_code} {response.text[:300]}".strip()
            )
        return response

    async def put(self, stream: AsyncIterable[bytes], *, max_bytes: int) -> BlobInfo:
        if max_bytes > S3_MAX_COPY:
            raise ValueError(f"the S3 blob store takes blobs of up to {S3_MAX_COPY} bytes")
        digest = hashlib.sha256()
        size = 0
        pending: list[bytes] = []  # at most one part and a chunk, held until more content comes
        held = 0
        temp = f"tmp/{uuid.uuid4().hex}"
        upload: str | None = None
        parts: list[str] = []
        try:
            async for chunk in stream:
                size += len(chunk)
                if size > max_bytes:
                    raise BlobTooLarge(max_bytes)
                digest.update(chunk)
                if held >= PART:  # a whole part waits and more content comes: a multipart upload
                    if upload is None:
                        upload = await self._initiate(temp)
                    while held >= PART:
                        part, pending = _take(pending, PART)
                        held -= len(part)
                        parts.append(await self._upload_part(temp, upload, len(parts) + 1, part))
                        del part
                pending.append(bytes(chunk))
                held += len(chunk)
            sha256 = digest.hexdigest()
            key = self.key(sha256)
            rest = b"".join(pending)
            pending.clear()
            if upload is None:
                if not await self.exists(sha256):
                    await self._send("PUT", key, body=rest)
                return BlobInfo(sha256, size)
            if rest:
                parts.append(await self._upload_part(temp, upload, len(parts) + 1, rest))
            del rest
            await self._complete(temp, upload, parts)
            upload = None
            try:
                if not await self.exists(sha256):
                    source = f"/{_uri(self.bucket, slash=False)}/{_uri(temp, slash=True)}"
                    await self._send("PUT", key, headers={"x-amz-copy-source": source})
            finally:
                await self._send("DELETE", temp, ok=(200, 204))
            return BlobInfo(sha256, size)
        finally:
            if upload is not None:
                with contextlib.suppress(Exception):
                    await self._send("DELETE", temp, {"uploadId": upload}, ok=(200, 204, 404))

    async def _initiate(self, key: str) -> str:
        response = await self._send("POST", key, {"uploads": ""})
        upload = _text(ET.fromstring(response.content), "UploadId")
        if not upload:
            raise BlobStoreError(f"S3 gave no UploadId: {response.text[:300]}")
        return upload

    async def _upload_part(self, key: str, upload: str, number: int, data: bytes) -> str:
        response = await self._send("PUT", key, {"partNumber": str(number), "uploadId": upload}, body=data)
        etag: str | None = response.headers.get("etag")
        if not etag:
            raise BlobStoreError(f"S3 gave no ETag for part {number}")
        return etag

    async def _complete(self, key: str, upload: str, etags: list[str]) -> None:
        body = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>" for n, e in enumerate(etags, 1))
        xml = f"<CompleteMultipartUpload>{body}</CompleteMultipartUpload>".encode()
        await self._send("POST", key, {"uploadId": upload}, {"content-type": "application/xml"}, xml)

    async def _head(self, sha256: str) -> httpx.Response | None:
        response = await self._send("HEAD", self.key(sha256), ok=(200, 404))
        return response if response.status_code == 200 else None

    async def get(self, sha256: str) -> AsyncIterator[bytes]:
        request = self._build("GET", self.key(sha256))
        response = await self._client.send(request, stream=True)
        try:
            if response.status_code == 404:
                raise BlobNotFound(sha256)
            if response.status_code != 200:
                await response.aread()
                raise BlobStoreError(f"S3 GET {sha256}: {response.status_code} {response.text[:300]}")
            async for chunk in response.aiter_bytes(CHUNK):
                yield chunk
        finally:
            await response.aclose()

    async def exists(self, sha256: str) -> bool:
        return await self._head(sha256) is not None

    async def size(self, sha256: str) -> int:
        response = await self._head(sha256)
        if response is None:
            raise BlobNotFound(sha256)
        return int(response.headers["content-length"])

    async def delete(self, sha256: str) -> bool:
        if not await self.exists(sha256):
            return False
        await self._send("DELETE", self.key(sha256), ok=(200, 204))
        return True

    async def aclose(self) -> None:
        await self._client.aclose()


def blob_store(settings: IslesSettings) -> BlobStore:
    """The blob store the settings name (``ISLES_BLOBS_*``)."""
    blobs = settings.blobs
    if blobs.backend == "s3":
        endpoint, bucket = blobs.s3_endpoint, blobs.s3_bucket
        access_key, secret_key = blobs.s3_access_key, blobs.s3_secret_key
        if not (endpoint and bucket and access_key and secret_key):
            named = {"ENDPOINT": endpoint, "BUCKET": bucket, "ACCESS_KEY": access_key, "SECRET_KEY": secret_key}
            missing = ", ".join(f"ISLES_BLOBS_S3_{name}" for name, value in named.items() if not value)
            raise ValueError(f"ISLES_BLOBS_BACKEND=s3 needs {missing}")
        return S3BlobStore(endpoint, bucket, access_key, secret_key, blobs.s3_region)
    return FileBlobStore(blobs.dir or settings.data_dir / "blobs")
