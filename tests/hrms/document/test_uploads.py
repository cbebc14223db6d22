"""The streaming multipart reader and the content sniffing, without a server: the
same parts whatever the body's chunking (a boundary split anywhere), and each
allowed media type told from its first bytes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hrms.services.document.uploads import MultipartReader, sniff
from isles import Problem

BOUNDARY = b"----b0undary"


def body(fields: dict[str, str], content: bytes) -> bytes:
    out = b"preamble to ignore\r\n"
    for name, value in fields.items():
        out += b"--" + BOUNDARY + b"\r\n"
        out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value.encode() + b"\r\n"
    out += b"--" + BOUNDARY + b"\r\n"
    out += b'Content-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\n'
    return out + content + b"\r\n--" + BOUNDARY + b"--\r\n"


async def chunks(data: bytes, cuts: list[int]) -> AsyncIterator[bytes]:
    start = 0
    for cut in sorted({c % (len(data) + 1) for c in cuts}):
        yield data[start:cut]
        start = cut
    yield data[start:]


async def read(data: bytes, cuts: list[int]) -> tuple[dict[str, str], bytes, str | None]:
    reader = MultipartReader(chunks(data, cuts), BOUNDARY)
    fields: dict[str, str] = {}
    content, filename = b"", None
    while (part := await reader.next_part()) is not None:
        if part.name == "file":
            filename = part.filename
            async for piece in reader.body():
                content += piece
        else:
            fields[part.name] = await reader.value(part.name)
    return fields, content, filename


@settings(max_examples=200, deadline=None)
@given(
    content=st.binary(max_size=300).map(lambda b: b.replace(b"\r\n--" + BOUNDARY, b"")),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=30),
)
async def test_the_parts_do_not_depend_on_the_chunking(content: bytes, cuts: list[int]) -> None:
    # Content that looks like a boundary's start, split across chunks, stays content.
    content = b"\r\n--" + BOUNDARY[:5] + content + b"\r\n-"
    fields = {"title": "Contrat de travail", "category": "contract"}
    assert await read(body(fields, content), cuts) == (fields, content, "a.txt")


async def test_a_body_without_its_closing_boundary_is_a_problem() -> None:
    data = body({"title": "x"}, b"abc")[:-20]
    with pytest.raises(Problem) as caught:
        await read(data, [7, 50])
    assert caught.value.status == 422
    assert [e["field"] for e in caught.value.errors] == ["body"]


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"%PDF-1.7\n", "pdf"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "png"),
        (b"\xff\xd8\xff\xe0", "jpeg"),
        (b"GIF89a", "gif"),
        (b"PK\x03\x04\x14\x00", "zip"),
        ("Grüße\n".encode(), "text"),
        ("Grüße".encode()[:-1] + b"\xc3", "text"),  # a character cut at the end of the head
        (b"text\x00nul", None),
        (b"\xff\xfe\x00", None),
        (b"MZ\x90\x00", None),
    ],
)
def test_sniffing(head: bytes, kind: str | None) -> None:
    assert sniff(head) == kind
