"""Documents benchmark: upload and download throughput of the document service
through its HTTP API, on a real ``isles up`` process, with the blob store on files
and on S3 (moto's S3 server, a Python process: against real S3 the network decides).

Each size (default 1 MiB and 100 MiB) is uploaded ``--rounds`` times as a new
version of one document (multipart, streamed from a file; each round's content
differs, so each is stored) and its current content downloaded as many times; the
table gives the median MiB/s of each.

    python benchmarks/documents.py                            # 1 and 100 MiB, file and s3
    python benchmarks/documents.py --sizes 0.25 --rounds 2 --stores file
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from isles.security.tokens import OPERATOR, KeyRing, generate_keys  # noqa: E402

MIB = 1024 * 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, process: subprocess.Popen[bytes], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1) as poll:
        while True:
            try:
                if poll.get(url).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{what} did not start")
            time.sleep(0.1)


@contextmanager
def _process(args: list[str], env: dict[str, str], url: str, what: str) -> Iterator[None]:
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(url, process, what)
        yield
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _moto(stack: ExitStack) -> str:
    port = _free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    endpoint = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    stack.enter_context(_process(args, env, f"{endpoint}/moto-api/", "moto's S3 server"))
    return endpoint


def _bucket(endpoint: str) -> str:
    """A new bucket (an unsigned PUT: moto does not check signatures)."""
    name = f"docs-{uuid.uuid4().hex[:10]}"
    httpx.put(f"{endpoint}/{name}").raise_for_status()
    return name


def _system(stack: ExitStack, work: Path, store: str, max_bytes: int) -> tuple[str, dict[str, str]]:
    keys = work / "keys"
    env = {**os.environ, "ISLES_KEYS_DIR": str(keys), "ISLES_BLOBS_MAX_UPLOAD_BYTES": str(max_bytes)}
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    if store == "s3":
        endpoint = _moto(stack)
        env |= {
            "ISLES_BLOBS_BACKEND": "s3",
            "ISLES_BLOBS_S3_ENDPOINT": endpoint,
            "ISLES_BLOBS_S3_BUCKET": _bucket(endpoint),
            "ISLES_BLOBS_S3_ACCESS_KEY": "testing",
            "ISLES_BLOBS_S3_SECRET_KEY": "testing",
        }
    port = _free_port()
    args = [sys.executable, "-m", "isles.cli", "up", "--port", str(port), "--data-dir", str(work / "data"), "--no-demo"]
    base = f"http://127.0.0.1:{port}"
    stack.enter_context(_process(args, env, f"{base}/health", "isles up"))
    generate_keys(keys, [OPERATOR])
    token = KeyRing.load(keys, signers=[OPERATOR]).signer(OPERATOR, ttl=3600).issue(subject="operator", tenant=None)
    return base, {"Authorization": f"Bearer {token}"}


def _content(path: Path, size: int, salt: int) -> None:
    line = f"round {salt}: a line of a plain text document, repeated to the size wanted\n".encode()
    block = line * (MIB // len(line) + 1)
    with path.open("wb") as f:
        left = size
        while left > 0:
            piece = block[: min(left, len(block))]
            f.write(piece)
            left -= len(piece)


def measure(store: str, sizes: list[int], rounds: int) -> list[tuple[str, int, float, float]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="documents-bench-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        base, auth = _system(stack, work, store, max(sizes) + MIB)
        with httpx.Client(base_url=base, headers=auth, timeout=600) as client:
            company = client.post("/api/company/companies", json={"name": f"Bench {store}"}).json()["id"]
            for size in sizes:
                source = work / "upload.txt"
                ups, downs = [], []
                doc_id = None
                for n in range(rounds):
                    _content(source, size, n)
                    with source.open("rb") as f:
                        files = {"file": ("bench.txt", f, "text/plain")}
                        started = time.perf_counter()
                        if doc_id is None:
                            data = {"company_id": company, "title": "Bench", "category": "other"}
                            r = client.post("/api/document/documents", data=data, files=files)
                        else:
                            r = client.post(f"/api/document/documents/{doc_id}/versions", files=files)
                        ups.append(time.perf_counter() - started)
                    r.raise_for_status()
                    doc_id = doc_id or r.json()["id"]
                    started = time.perf_counter()
                    received = 0
                    with client.stream("GET", f"/api/document/documents/{doc_id}/content") as down:
                        down.raise_for_status()
                        for chunk in down.iter_bytes(MIB):
                            received += len(chunk)
                    downs.append(time.perf_counter() - started)
                    assert received == size, (received, size)
                mib = size / MIB
                rows.append((store, size, mib / statistics.median(ups), mib / statistics.median(downs)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 100], help="File sizes, MiB.")
    parser.add_argument("--rounds", type=int, default=5, help="Uploads and downloads per size.")
    parser.add_argument("--stores", nargs="+", default=["file", "s3"], choices=["file", "s3"])
    args = parser.parse_args()
    sizes = [max(1, int(s * MIB)) for s in args.sizes]
    print(f"{'store':<6} {'size MiB':>9} {'upload MiB/s':>13} {'download MiB/s':>15}")
    print("-" * 46)
    for store in args.stores:
        for name, size, up, down in measure(store, sizes, args.rounds):
            print(f"{name:<6} {size / MIB:>9.2f} {up:>13.1f} {down:>15.1f}", flush=True)


if __name__ == "__main__":
    main()
