"""A 200 MB document uploaded (multipart) and downloaded through a real ``isles up``
process: the bytes come back equal, and the server's peak resident size grows by
less than 64 MiB over its size before the upload, so neither direction holds the
file in memory."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
import pytest

from tests import support

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
SIZE = 200 * 1024 * 1024
BUDGET = 64 * 1024 * 1024
CHUNK = b"a plain line of text, over and over, for a large file\n" * 1200  # ~64 KiB


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def big_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as f:
        written = 0
        while written < SIZE:
            piece = CHUNK[: SIZE - written]
            f.write(piece)
            digest.update(piece)
            written += len(piece)
    return digest.hexdigest()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_a_200_mb_file_streams_both_ways_in_bounded_memory(tmp_path: Path) -> None:
    source = tmp_path / "big.txt"
    sha = big_file(source)
    env = {**os.environ, "ISLES_BLOBS_MAX_UPLOAD_BYTES": str(256 * 1024 * 1024)}
    with support.isles_up("--data-dir", str(tmp_path / "data"), "--no-demo", env=env, timeout=120) as (proc, base):
        with httpx.Client(base_url=base, headers=support.AUTH[base], timeout=120) as client:
            company = client.post("/api/company/companies", json={"name": "Big files"})
            assert company.status_code == 201, company.text
            client.get("/api/document/documents", params={"company_id": company.json()["id"]})  # routes warm
            before = status_kib(proc.pid, "VmRSS")
            with source.open("rb") as f:
                r = client.post(
                    "/api/document/documents",
                    data={"company_id": company.json()["id"], "title": "Big", "category": "policy"},
                    files={"file": ("big.txt", f, "text/plain")},
                )
            assert r.status_code == 201, r.text
            doc = r.json()
            assert (doc["current"]["size"], doc["current"]["sha256"]) == (SIZE, sha)
            digest, received = hashlib.sha256(), 0
            with client.stream("GET", f"/api/document/documents/{doc['id']}/content") as down:
                assert down.status_code == 200
                assert down.headers["content-length"] == str(SIZE)
                for chunk in down.iter_bytes():
                    digest.update(chunk)
                    received += len(chunk)
            assert (received, digest.hexdigest()) == (SIZE, sha)
            peak = status_kib(proc.pid, "VmHWM")
        growth = (peak - before) * 1024
        print(f"server RSS before {before} KiB, peak {peak} KiB: +{growth / 2**20:.1f} MiB for a 200 MiB file")
        assert growth < BUDGET, f"the server's peak grew by {growth / 2**20:.1f} MiB"
