"""Uploads read as they arrive: a streaming ``multipart/form-data`` reader (the
``file`` part goes to the blob store chunk by chunk, never whole in memory; the
other parts are small fields) and the media type checked against the content's
first bytes.

The reader keeps at most one network chunk and a delimiter's length in memory: a
body chunk is handed on as soon as it cannot hold the start of the next boundary."""

from __future__ import annotations

import codecs
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from isles import FieldError, Problem, invalid

#: What an upload may be: declared media type -> the sniffed kind it must have.
ALLOWED: dict[str, str] = {
    "application/pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/gif": "gif",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "zip",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "zip",
    "text/plain": "text",
}
#: Bytes of the content looked at to tell its kind.
SNIFF = 4096
#: A field's value, a part's headers: at most this many bytes.
FIELD_MAX = 16 * 1024
_MAGIC = (
    (b"%PDF-", "pdf"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"PK\x03\x04", "zip"),
)
_PARAM = re.compile(r';\s*([a-zA-Z0-9_*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def _file_error(message: str, code: str = "invalid") -> list[FieldError]:
    return [FieldError("file", message, code)]


def unsupported(message: str) -> Problem:
    return Problem(415, message, slug="unsupported-media-type", errors=_file_error(message, "unsupported"))


def sniff(head: bytes) -> str | None:
    """The kind of content that starts with ``head`` (None: none allowed)."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if b"\x00" in head:
        return None
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return None
    return "text"


def media_type_of(declared: str | None) -> str:
    """The declared media type without its parameters, if allowed; else a 415 naming ``file``."""
    media_type = (declared or "").split(";", 1)[0].strip().lower()
    if media_type not in ALLOWED:
        raise unsupported(f"media type {media_type or 'none'!r} is not taken; one of: {', '.join(sorted(ALLOWED))}")
    return media_type


async def checked(chunks: AsyncIterator[bytes], media_type: str) -> AsyncIterator[bytes]:
    """``chunks`` passed on once their first bytes are seen to be ``media_type``
    (a 422 naming ``file`` before anything is passed on, if not)."""
    head = bytearray()
    async for chunk in chunks:
        head += chunk
        if len(head) >= SNIFF:
            break
    if not head:
        raise invalid(_file_error("the file is empty", "empty"))
    kind = sniff(bytes(head[:SNIFF]))
    if kind != ALLOWED[media_type]:
        raise invalid(_file_error(f"the content is not {media_type} (it looks like {kind or 'something else'})"))
    yield bytes(head)
    del head
    async for chunk in chunks:
        yield chunk


def params(header: str) -> dict[str, str]:
    """``name=value`` parameters of a header value (quotes removed)."""
    out = {}
    for name, value in _PARAM.findall(header):
        value = value.strip()
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out[name.lower()] = value
    return out


def boundary_of(content_type: str) -> bytes | None:
    if not content_type.lower().startswith("multipart/form-data"):
        return None
    boundary = params(content_type).get("boundary", "")
    if not 1 <= len(boundary) <= 70:
        raise invalid([FieldError("body", "a multipart body needs a boundary of 1 to 70 characters", "invalid")])
    return boundary.encode("latin-1", "replace")


def _malformed(message: str) -> Problem:
    return invalid([FieldError("body", f"malformed multipart body: {message}", "malformed")])


@dataclass
class Part:
    name: str
    filename: str | None
    content_type: str | None
    headers: dict[str, str] = field(default_factory=dict)


class MultipartReader:
    """Parts of a ``multipart/form-data`` body, one at a time: :meth:`next_part`,
    then :meth:`body` (chunks) or :meth:`value` (a small field) before the next."""

    def __init__(self, chunks: AsyncIterator[bytes], boundary: bytes) -> None:
        self._chunks = chunks
        self._delimiter = b"\r\n--" + boundary
        self._buffer = bytearray(b"\r\n")  # the first boundary has no line break before it
        self._eof = False
        self._started = False
        self._done = False
        self._pending_body = False

    async def _more(self) -> bool:
        if self._eof:
            return False
        try:
            chunk = await anext(self._chunks)
        except StopAsyncIteration:
            self._eof = True
            return False
        self._buffer += chunk
        return True

    async def _need(self, n: int) -> None:
        while len(self._buffer) < n:
            if not await self._more():
                raise _malformed("it ends too soon")

    async def next_part(self) -> Part | None:
        if self._pending_body:
            async for _ in self.body():
                pass
        if not self._started:
            async for _ in self._until_delimiter():  # the preamble
                pass
            self._started = True
        if self._done:
            return None
        await self._need(2)
        if self._buffer[:2] == b"--":
            self._done = True
            return None
        end = self._buffer.find(b"\r\n\r\n")
        while end < 0:
            if len(self._buffer) > FIELD_MAX or not await self._more():
                raise _malformed("a part's headers do not end")
            end = self._buffer.find(b"\r\n\r\n")
        raw, self._buffer = bytes(self._buffer[:end]), self._buffer[end + 4 :]
        headers = {}
        for line in raw.decode("utf-8", "replace").split("\r\n")[1:]:  # [0]: what follows the boundary
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        if not disposition.lower().startswith("form-data"):
            raise _malformed("a part without Content-Disposition: form-data")
        found = params(disposition)
        if "name" not in found:
            raise _malformed("a part without a name")
        filename = found.get("filename")
        if "filename*" in found and found["filename*"].lower().startswith("utf-8''"):
            from urllib.parse import unquote

            filename = unquote(found["filename*"][7:])
        self._pending_body = True
        return Part(found["name"], filename, headers.get("content-type"), headers)

    async def _until_delimiter(self) -> AsyncIterator[bytes]:
        size = len(self._delimiter)
        while True:
            at = self._buffer.find(self._delimiter)
            if at >= 0:
                if at:
                    yield bytes(self._buffer[:at])
                del self._buffer[: at + size]
                return
            keep = size - 1
            if len(self._buffer) > keep:
                out = bytes(self._buffer[: len(self._buffer) - keep])
                del self._buffer[: len(self._buffer) - keep]
                yield out
            if not await self._more():
                raise _malformed("it ends before its closing boundary")

    async def body(self) -> AsyncIterator[bytes]:
        """The current part's content in chunks."""
        if not self._pending_body:
            return
        async for chunk in self._until_delimiter():
            yield chunk
        self._pending_body = False

    async def value(self, name: str) -> str:
        """The current part's content as text (a field of at most ``FIELD_MAX`` bytes)."""
        data = bytearray()
        async for chunk in self.body():
            data += chunk
            if len(data) > FIELD_MAX:
                raise invalid([FieldError(name, f"longer than {FIELD_MAX} bytes", "too_long")])
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise invalid([FieldError(name, "not UTF-8 text", "invalid")]) from None
