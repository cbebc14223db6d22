"""Order benchmark (issue 18): orders placed per second through the place-order saga
beside one plain write, and the event-sourced order projections' rebuild rate.

* **saga**: the shop embedded (user, product and order services, each on its own
  database, in-process HTTP between them), on SQLite and PostgreSQL, through the
  public API: ``PUT /api/product/products/{id}/stock`` (one transaction: the plain
  write) beside ``POST /api/order/orders`` (PlaceOrder: the user and address checked,
  the order created, the stock reserved, the payment taken by the fake provider,
  confirmed). One at a time (p50, p99), then from concurrent clients (orders/s).
* **rebuild**: the order service alone, its event store filled with ``--events``
  order events (created, reserved, paid, placed: four per order, written in batches
  through the event store), then each projection rebuilt (``EventStore.rebuild``,
  what ``isles projections rebuild`` runs): events/s.

    python benchmarks/orders.py                                  # both parts, both backends
    python benchmarks/orders.py --part rebuild --events 100000 --backends sqlite
    python benchmarks/orders.py --part saga --count 100

Not measured here: the saga with NATS and one process per service.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from isles import System  # noqa: E402
from isles.core.clock import utcnow  # noqa: E402
from isles.core.logging import configure  # noqa: E402
from isles.core.settings import IslesSettings  # noqa: E402
from isles.runtime.system import SystemRuntime  # noqa: E402
from isles.storage.db import drop_postgres_database  # noqa: E402
from shop.contracts import STORE  # noqa: E402
from shop.contracts.order import OrderLine  # noqa: E402
from shop.services import order as order_service  # noqa: E402
from shop.services.order import store  # noqa: E402
from shop.services.order.aggregate import Address, OrderAggregate, OrderCreated, PaymentCaptured, RequestedLine  # noqa: E402
from shop.system import build as build_shop  # noqa: E402

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432"
PASSWORD = "bench horse battery staple 42"


@dataclass
class Row:
    backend: str
    kind: str
    count: int
    p50_ms: float
    p99_ms: float
    per_s: float


def _settings(backend: str, tmp: Path, prefix: str, clients: int) -> IslesSettings:
    options: dict[str, Any] = {
        "pool_size": max(5, clients),
        "pool_max_overflow": clients * 2,
        "keys_dir": tmp / "keys",
        "generate_keys": True,
        "jobs_enabled": False,
    }
    if backend == "sqlite":
        return IslesSettings(data_dir=tmp, **options)
    return IslesSettings(database_url=f"{PG}/{prefix}_{{service}}", **options)


async def _drop(backend: str, prefix: str, names: list[str]) -> None:
    if backend == "postgres":
        for name in names:
            await drop_postgres_database(make_url(f"{PG}/{prefix}_{name}"))


def _ok(r: httpx.Response, status: int = 200) -> Any:
    if r.status_code != status:
        raise SystemExit(f"unexpected answer {r.status_code}: {r.text}")
    return r.json()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# --- the saga ------------------------------------------------------------------------------


async def saga_rows(backend: str, args: argparse.Namespace) -> list[Row]:
    tmp = tempfile.TemporaryDirectory(prefix="isles-orderbench-")
    prefix = f"isles_ob_{uuid.uuid4().hex[:10]}"
    rt = SystemRuntime(build_shop(), _settings(backend, Path(tmp.name), prefix, args.clients), environ={})
    rows: list[Row] = []
    try:
        await rt.start()
        async with rt.client() as api:
            email = f"bench-{uuid.uuid4().hex[:8]}@shop.example"
            user = _ok(
                await api.post(
                    "/api/user/users",
                    json={
                        "email": email,
                        "password": PASSWORD,
                        "first_name": "B",
                        "last_name": "B",
                        "roles": ["customer"],
                    },
                ),
                201,
            )
            address = _ok(
                await api.post(
                    f"/api/user/users/{user['id']}/addresses",
                    json={
                        "recipient": "B",
                        "line1": "1 Bench St",
                        "city": "Lyon",
                        "postal_code": "69001",
                        "country": "FR",
                    },
                ),
                201,
            )
            sku = f"BENCH-{uuid.uuid4().hex[:6]}"
            body = {"sku": sku, "name": "Bench mug", "price": "9.90", "stock_quantity": 10 * args.count + 10}
            product = _ok(await api.post("/api/product/products", json=body), 201)
            token = _ok(await api.post("/api/user/login", json={"email": email, "password": PASSWORD}))["access_token"]
            buyer = rt.client(token)
            order = {
                "lines": [{"product_id": product["id"], "quantity": 1}],
                "address_id": address["id"],
                "payment_method": "pm_ok",
            }
            stock_url = f"/api/product/products/{product['id']}/stock"
            level = iter(range(10 * args.count + 10, 0, -1))

            async def plain(_i: int) -> None:
                r = await api.put(stock_url, json={"stock_quantity": next(level) + 10 * args.count})
                _ok(r)

            async def place(_i: int) -> None:
                _ok(await buyer.post("/api/order/orders", json=order), 201)

            kinds: dict[str, Callable[[int], Awaitable[None]]] = {"plain write": plain, "PlaceOrder": place}
            for kind, request in kinds.items():
                times = []
                for i in range(args.count):
                    started = time.perf_counter()
                    await request(i)
                    times.append(time.perf_counter() - started)
                queue = iter(range(args.count))

                async def client(request: Callable[[int], Awaitable[None]] = request, queue: Any = queue) -> None:
                    for i in queue:
                        await request(i)

                started = time.perf_counter()
                await asyncio.gather(*(client() for _ in range(args.clients)))
                per_s = args.count / (time.perf_counter() - started)
                rows.append(Row(backend, kind, args.count, statistics.median(times) * 1000, _pct(times, 0.99), per_s))
            await buyer.aclose()
        await rt.settle(timeout=120)
    finally:
        await rt.stop()
        await _drop(backend, prefix, list(rt.services))
        tmp.cleanup()
    return rows


# --- the rebuild -----------------------------------------------------------------------------


def _order(i: int) -> OrderAggregate:
    order_id = uuid.uuid4()
    product = uuid.UUID(int=i % 500 + 1)
    o = OrderAggregate(order_id, str(STORE))
    o.record(
        OrderCreated(
            id=order_id,
            order_number=f"SO-2026-{i + 1:06d}",
            user_id_ref=uuid.UUID(int=i % 2000 + 1),
            lines=[RequestedLine(product_id=product, quantity=1)],
            address=Address(recipient="B", line1="1 Bench St", city="Lyon", postal_code="69001", country="FR"),
            payment_method="pm_ok",
        )
    )
    price = Decimal("9.90")
    o.reserve(
        [
            OrderLine(
                product_id_ref=product,
                sku=f"S{i % 500}",
                product_name="Mug",
                unit_price=price,
                quantity=1,
                subtotal=price,
            )
        ]
    )
    now = utcnow()
    o.captured(
        PaymentCaptured(
            provider="fake",
            payment_reference=f"ch_{i}",
            amount=price,
            currency="EUR",
            method="pm_ok",
            authorized_at=now,
            captured_at=now,
        )
    )
    o.place(now)
    return o


async def rebuild_rows(backend: str, args: argparse.Namespace) -> list[Row]:
    tmp = tempfile.TemporaryDirectory(prefix="isles-orderbench-")
    prefix = f"isles_ob_{uuid.uuid4().hex[:10]}"
    system = System(name="order-bench", services=[order_service.build()])
    rt = SystemRuntime(system, _settings(backend, Path(tmp.name), prefix, 1), environ={})
    rows: list[Row] = []
    try:
        await rt.prepare()
        orders = args.events // 4
        service = rt["order"]
        for start in range(0, orders, 500):
            async with service.uow() as uow:
                for i in range(start, min(orders, start + 500)):
                    await store.STORE.save(uow, _order(i))
                await uow.commit()
        for name in ("orders", "order_history"):
            started = time.perf_counter()
            events = await store.STORE.rebuild(service.db, name)
            seconds = time.perf_counter() - started
            rows.append(Row(backend, f"rebuild {name}", events, seconds * 1000, seconds * 1000, events / seconds))
    finally:
        for s in rt.services.values():
            await s.db.dispose()
        await _drop(backend, prefix, list(rt.services))
        tmp.cleanup()
    return rows


def table(rows: list[Row], clients: int) -> str:
    lines = []
    saga = [r for r in rows if not r.kind.startswith("rebuild")]
    if saga:
        head = (
            f"{'backend':<9} {'kind':<12} {'count':>6} {'p50 ms':>8} {'p99 ms':>8} {f'req/s ({clients} clients)':>20}"
        )
        lines += [head, "-" * len(head)]
        lines += [
            f"{r.backend:<9} {r.kind:<12} {r.count:>6} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.per_s:>20.1f}" for r in saga
        ]
        lines.append("")
    rebuilt = [r for r in rows if r.kind.startswith("rebuild")]
    if rebuilt:
        head = f"{'backend':<9} {'projection':<22} {'events':>8} {'seconds':>8} {'events/s':>10}"
        lines += [head, "-" * len(head)]
        lines += [f"{r.backend:<9} {r.kind:<22} {r.count:>8} {r.p50_ms / 1000:>8.2f} {r.per_s:>10.0f}" for r in rebuilt]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("saga", "rebuild", "both"), default="both")
    parser.add_argument("--count", type=int, default=200, help="requests of each kind, per round (saga)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients in the throughput round")
    parser.add_argument("--events", type=int, default=100_000, help="order events to rebuild from")
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    args = parser.parse_args()
    if args.count < 1 or args.clients < 1 or args.events < 4:
        parser.error("--count and --clients must be at least 1, --events at least 4")
    configure("error")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    bad = [b for b in backends if b not in ("sqlite", "postgres")]
    if bad:
        parser.error(f"unknown backend(s): {', '.join(bad)}")
    rows: list[Row] = []
    for backend in backends:
        if args.part in ("saga", "both"):
            print(f"saga on {backend} ...", file=sys.stderr, flush=True)
            rows += asyncio.run(saga_rows(backend, args))
        if args.part in ("rebuild", "both"):
            print(f"rebuild on {backend} ...", file=sys.stderr, flush=True)
            rows += asyncio.run(rebuild_rows(backend, args))
    print(table(rows, args.clients))


if __name__ == "__main__":
    main()
