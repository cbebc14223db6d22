"""Change-history benchmark: what a declared history (``isles.add_history``) costs an update.

One toy service with two tables of the same shape, ``plain_items`` (no history) and
``kept_items`` (a declared history). Per backend, it times N updates of each through
the unit of work (load the row, change a column, commit: one transaction each),
alternating the two tables so that both see the same machine, and prints the mean
and p50 per update and the ratio kept/plain. Each kept update also writes one
``kept_items_history`` row (checked at the end).

    python benchmarks/history.py                      # 1000 updates, both backends
    python benchmarks/history.py --updates 200 --backends sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from sqlalchemy import Integer, String, Uuid, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from isles.core.logging import configure  # noqa: E402
from isles.core.settings import IslesSettings  # noqa: E402
from isles.runtime.system import SystemRuntime  # noqa: E402
from isles.service.declaration import Service, System  # noqa: E402
from isles.storage.db import drop_postgres_database  # noqa: E402
from isles.storage.history import Historied, add_history, changes_by  # noqa: E402
from isles.storage.schema import new_metadata  # noqa: E402
from isles.storage.tenancy import ACROSS_TENANTS  # noqa: E402

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432"
metadata = new_metadata()


class Base(DeclarativeBase):
    metadata = metadata


class PlainItem(Base, Historied):  # the same columns, valid_from included: only the history differs
    __tablename__ = "plain_items"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    price: Mapped[int] = mapped_column(Integer)


class KeptItem(Base, Historied):
    __tablename__ = "kept_items"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    price: Mapped[int] = mapped_column(Integer)


KEPT_HISTORY = add_history(metadata, "kept_items")


async def run_backend(backend: str, updates: int) -> dict[str, list[float]]:
    tmp = tempfile.TemporaryDirectory(prefix="isles-histbench-")
    prefix = f"isles_hb_{uuid.uuid4().hex[:10]}"
    options: dict[str, Any] = {"keys_dir": Path(tmp.name) / "keys", "generate_keys": True}
    if backend == "sqlite":
        settings = IslesSettings(data_dir=Path(tmp.name), **options)
    else:
        settings = IslesSettings(database_url=f"{PG}/{prefix}_{{service}}", data_dir=Path(tmp.name), **options)
    service = Service(name="items", metadata=metadata, router=APIRouter(), migrations=None)
    system = System(name="histbench", services=[service])
    rt = SystemRuntime(system, settings, environ={})
    times: dict[str, list[float]] = {"plain": [], "kept": []}
    try:
        await rt.prepare()
        items = rt["items"]
        ids = {"plain": uuid.uuid4(), "kept": uuid.uuid4()}
        async with items.uow() as uow:
            uow.session.add(PlainItem(id=ids["plain"], name="p", price=0))
            uow.session.add(KeptItem(id=ids["kept"], name="k", price=0))
            await uow.commit()
        classes: dict[str, type[PlainItem] | type[KeptItem]] = {"plain": PlainItem, "kept": KeptItem}
        with changes_by("operator:bench", "benchmarks/history.py"):
            for i in range(updates):
                for kind in ("plain", "kept") if i % 2 == 0 else ("kept", "plain"):
                    started = time.perf_counter()
                    async with items.uow() as uow:
                        row = await uow.session.get(classes[kind], ids[kind])
                        assert row is not None
                        row.price = i + 1
                        await uow.commit()
                    times[kind].append(time.perf_counter() - started)
        async with items.db.read_session(tenant=ACROSS_TENANTS) as session:
            kept = await session.scalar(select(func.count()).select_from(KEPT_HISTORY))
        assert kept == updates, f"{kept} history rows for {updates} updates"
    finally:
        for running in rt.services.values():
            await running.db.dispose()
        if backend == "postgres":
            await drop_postgres_database(make_url(f"{PG}/{prefix}_items"))
        tmp.cleanup()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=1000, help="updates of each table (default 1000)")
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    args = parser.parse_args()
    configure("warning")
    print(f"{'backend':<10} {'table':<7} {'mean ms':>8} {'p50 ms':>8} {'total s':>8}  kept/plain")
    for backend in args.backends.split(","):
        times = asyncio.run(run_backend(backend.strip(), args.updates))
        means = {k: statistics.fmean(v) * 1000 for k, v in times.items()}
        for kind, values in times.items():
            ratio = f"{means['kept'] / means['plain']:.2f}x" if kind == "kept" else ""
            p50 = statistics.median(values) * 1000
            print(f"{backend:<10} {kind:<7} {means[kind]:>8.3f} {p50:>8.3f} {sum(values):>8.2f}  {ratio}")
    print(f"{args.updates} updates of each table, each its own transaction (load, change, commit)")


if __name__ == "__main__":
    main()
