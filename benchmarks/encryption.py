"""Field-encryption benchmark: what encrypted columns cost a read and a rename.

Runs the HR system embedded on SQLite and on PostgreSQL and, per backend, times
through the public API, alternating the two kinds of employee so that both see the
same machine:

* **plain** — an employee with no salary and no profile: nothing to decrypt;
* **encrypted** — an employee with a salary and a profile (date of birth, address,
  emergency contacts): five AES-GCM values.

For each: ``GET /employees/{id}`` then ``GET .../profile`` (the read), and a rename
(``PATCH`` of the last name with ``If-Match``: the row is read, decrypted and written
back; the salary is re-encrypted only if it changed, which a rename does not). The
table gives p50 per operation and the ratio encrypted/plain; the last line times the
cipher alone (µs per value).

    python benchmarks/encryption.py                      # 300 rounds, both backends
    python benchmarks/encryption.py --rounds 50 --backends sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from hrms.system import build  # noqa: E402
from isles.core.logging import configure  # noqa: E402
from isles.core.settings import IslesSettings  # noqa: E402
from isles.runtime.system import SystemRuntime  # noqa: E402
from isles.storage import crypto  # noqa: E402
from isles.storage.db import drop_postgres_databases  # noqa: E402

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432"
PROFILE = {
    "date_of_birth": "1990-12-10",
    "address": "12 Analytical Row, London",
    "emergency_contact_name": "Mary Somerville",
    "emergency_contact_phone": "+44 20 7946 0321",
}


@dataclass
class Row:
    backend: str
    operation: str
    plain_ms: float
    encrypted_ms: float


async def _json(response: Any, status: int = 200) -> Any:
    r = await response
    if r.status_code != status:
        raise SystemExit(f"unexpected answer {r.status_code}: {r.text}")
    return r.json() if r.content else None


async def _hire(api: httpx.AsyncClient, company: str, tag: str, *, sensitive: bool) -> str:
    body: dict[str, Any] = {
        "employee_number": f"E-{tag}",
        "company_id": company,
        "first_name": "Bench",
        "last_name": tag,
        "email": f"{tag}@example.com",
        "hire_date": "2024-01-01",
    }
    if sensitive:
        body["salary"] = "85000.50"
    employee_id: str = (await _json(api.post("/api/employee/employees", json=body), 201))["id"]
    if sensitive:
        await _json(api.put(f"/api/employee/employees/{employee_id}/profile", json=PROFILE))
    return employee_id


async def run_backend(backend: str, rounds: int) -> list[Row]:
    tmp = tempfile.TemporaryDirectory(prefix="isles-encbench-")
    prefix = f"isles_eb_{uuid.uuid4().hex[:10]}"
    options: dict[str, Any] = {"keys_dir": Path(tmp.name) / "keys", "generate_keys": True}
    if backend == "sqlite":
        settings = IslesSettings(data_dir=Path(tmp.name), **options)
    else:
        settings = IslesSettings(database_url=f"{PG}/{prefix}_{{service}}", data_dir=Path(tmp.name), **options)
    rt = SystemRuntime(build(), settings, environ={})
    times: dict[tuple[str, bool], list[float]] = {}
    try:
        await rt.start()
        async with rt.client() as api:
            company = (await _json(api.post("/api/company/companies", json={"name": "Bench"}), 201))["id"]
            ids = {
                False: await _hire(api, company, f"p{uuid.uuid4().hex[:6]}", sensitive=False),
                True: await _hire(api, company, f"s{uuid.uuid4().hex[:6]}", sensitive=True),
            }
            await rt.settle(timeout=60)
            versions = {k: (await _json(api.get(f"/api/employee/employees/{v}")))["version"] for k, v in ids.items()}
            for i in range(rounds):
                for sensitive in (False, True) if i % 2 == 0 else (True, False):
                    url = f"/api/employee/employees/{ids[sensitive]}"
                    started = time.perf_counter()
                    await _json(api.get(url))
                    if sensitive:
                        await _json(api.get(f"{url}/profile"))
                    else:
                        await api.get(f"{url}/profile")  # 404: no profile, the same round trip
                    times.setdefault(("read", sensitive), []).append(time.perf_counter() - started)
                    started = time.perf_counter()
                    body = await _json(
                        api.patch(url, json={"last_name": f"R{i}"}, headers={"If-Match": f'"{versions[sensitive]}"'})
                    )
                    times.setdefault(("rename", sensitive), []).append(time.perf_counter() - started)
                    versions[sensitive] = body["version"]
            await rt.settle(timeout=60)
    finally:
        await rt.stop()
        if backend == "postgres":
            await drop_postgres_databases(make_url(f"{PG}/{prefix}_{name}") for name in rt.services)
        tmp.cleanup()
    return [
        Row(backend, op, statistics.median(times[(op, False)]) * 1000, statistics.median(times[(op, True)]) * 1000)
        for op in ("read", "rename")
    ]


def cipher_cost(n: int = 20_000) -> tuple[float, float]:
    """µs to encrypt and to decrypt one salary with the module's own functions."""
    folder = Path(tempfile.mkdtemp(prefix="isles-enckey-"))
    crypto.generate_data_key(folder)
    crypto.ring("bench").load(folder)
    value = Decimal("85000.50")
    started = time.perf_counter()
    sealed = [crypto.encrypt("bench", "employees.salary", value) for _ in range(n)]
    enc = (time.perf_counter() - started) / n * 1e6
    started = time.perf_counter()
    for s in sealed:
        crypto.decrypt("bench", "employees.salary", s)
    dec = (time.perf_counter() - started) / n * 1e6
    return enc, dec


def table(rows: list[Row], rounds: int) -> str:
    head = f"{'backend':<9} {'operation':<22} {'plain p50 ms':>13} {'encrypted p50 ms':>17} {'ratio':>7}"
    lines = [head, "-" * len(head)]
    for r in rows:
        what = {"read": "read (employee+profile)", "rename": "rename (PATCH)"}[r.operation]
        lines.append(
            f"{r.backend:<9} {what:<22} {r.plain_ms:>13.2f} {r.encrypted_ms:>17.2f} "
            f"{r.encrypted_ms / r.plain_ms:>6.2f}x"
        )
    enc, dec = cipher_cost()
    lines.append("")
    lines.append(f"{rounds} rounds each; the cipher alone: encrypt {enc:.1f} µs, decrypt {dec:.1f} µs per value")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=300, help="reads and renames of each kind (default 300)")
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    args = parser.parse_args()
    configure("warning")
    rows: list[Row] = []
    for backend in args.backends.split(","):
        print(f"running {backend} ...", file=sys.stderr)
        rows.extend(asyncio.run(run_backend(backend.strip(), args.rounds)))
    print(table(rows, args.rounds))


if __name__ == "__main__":
    main()
