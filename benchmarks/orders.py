"""Order benchmark (issue 18): orders placed per second through the place-order saga
beside one plain write, and the event-sourced order projections' rebuild rate.

* **saga**: the shop (user, product and order services, each on its own database)
  through the public API: ``PUT /api/product/products/{id}/stock`` (one transaction:
  the plain write) beside ``POST /api/order/orders`` (PlaceOrder: the user and address
  checked, the order created, the stock reserved, the payment taken by the fake
  provider, confirmed). One at a time (p50, p99), then from concurrent clients
  (orders/s), and each kind's ratio to the plain write of the same setup. Setups
  (``--backends``):

  - ``sqlite``, ``postgres``: embedded, one process (this one), in-process HTTP
    between the services, the embedded event bus;
  - ``nats``: as in production, on this machine: every service an ``isles serve``
    process on its own PostgreSQL database, events over a NATS JetStream server of
    the run's own, HTTP between the processes; the benchmark calls each service at
    its own port (no gateway in front). At the end it waits until every event has
    reached its consumers and says what was left over (dead letters, sagas).

  Each setup makes its own customer, address and product through the API (no demo
  data) and drops its databases at the end.
* **rebuild**: the order service alone, its event store filled with ``--events``
  order events (created, reserved, paid, placed: four per order, written in batches
  through the event store), then each projection rebuilt (``EventStore.rebuild``,
  what ``isles projections rebuild`` runs): events/s. On ``sqlite`` and ``postgres``
  only (the rebuild is one service's work: no bus in it).

    python benchmarks/orders.py                                  # both parts, every setup
    python benchmarks/orders.py --part rebuild --events 100000 --backends sqlite
    python benchmarks/orders.py --part saga --count 100 --backends postgres,nats
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from isles import System  # noqa: E402
from isles.core.clock import utcnow  # noqa: E402
from isles.core.logging import configure  # noqa: E402
from isles.core.settings import IslesSettings  # noqa: E402
from isles.runtime.keys import generate_system_keys  # noqa: E402
from isles.runtime.system import SystemRuntime  # noqa: E402
from isles.storage.db import connect_waiting, drop_postgres_databases  # noqa: E402
from shop.contracts import STORE  # noqa: E402
from shop.contracts.order import OrderLine  # noqa: E402
from shop.services import order as order_service  # noqa: E402
from shop.services.order import store  # noqa: E402
from shop.services.order.aggregate import Address, OrderAggregate, OrderCreated, PaymentCaptured, RequestedLine  # noqa: E402
from shop.system import build as build_shop  # noqa: E402
from tests.hrms.cluster import ServiceProcess  # noqa: E402
from tests.support import NATS_SERVER_BIN, NatsServer, free_port, operator_headers  # noqa: E402

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432"
PASSWORD = "bench horse battery staple 42"
SHOP_SPEC = "shop.system:build"
BACKENDS = ("sqlite", "postgres", "nats")


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
        await drop_postgres_databases(make_url(f"{PG}/{prefix}_{name}") for name in names)


def _ok(r: httpx.Response, status: int = 200) -> Any:
    if r.status_code != status:
        raise SystemExit(f"unexpected answer {r.status_code}: {r.text}")
    return r.json()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# --- the saga ------------------------------------------------------------------------------


@dataclass
class Shop:
    """A running shop as the benchmark sees it: where each service answers, a client
    with the operator's token, and how to make a client for another token."""

    api: httpx.AsyncClient
    base: dict[str, str]  # service -> base URL (the in-process gateway, or the service's own process)
    client_for: Callable[[str], httpx.AsyncClient]

    def url(self, service: str, path: str) -> str:
        return f"{self.base[service]}/api/{service}{path}"


async def measure(backend: str, shop: Shop, args: argparse.Namespace) -> list[Row]:
    """What every setup runs: a customer with an address and a product made through
    the API, then the plain write and PlaceOrder, one at a time and from ``--clients``
    concurrent clients."""
    api = shop.api
    email = f"bench-{uuid.uuid4().hex[:8]}@shop.example"
    body: dict[str, Any] = {
        "email": email,
        "password": PASSWORD,
        "first_name": "B",
        "last_name": "B",
        "roles": ["customer"],
    }
    user = _ok(await api.post(shop.url("user", "/users"), json=body), 201)
    body = {"recipient": "B", "line1": "1 Bench St", "city": "Lyon", "postal_code": "69001", "country": "FR"}
    address = _ok(await api.post(shop.url("user", f"/users/{user['id']}/addresses"), json=body), 201)
    sku = f"BENCH-{uuid.uuid4().hex[:6]}"
    body = {"sku": sku, "name": "Bench mug", "price": "9.90", "stock_quantity": 10 * args.count + 10}
    product = _ok(await api.post(shop.url("product", "/products"), json=body), 201)
    login = {"email": email, "password": PASSWORD}
    token = _ok(await api.post(shop.url("user", "/login"), json=login))["access_token"]
    order = {
        "lines": [{"product_id": product["id"], "quantity": 1}],
        "address_id": address["id"],
        "payment_method": "pm_ok",
    }
    stock_url = shop.url("product", f"/products/{product['id']}/stock")
    orders_url = shop.url("order", "/orders")
    level = iter(range(10 * args.count + 10, 0, -1))
    rows: list[Row] = []
    async with shop.client_for(token) as buyer:

        async def plain(_i: int) -> None:
            _ok(await api.put(stock_url, json={"stock_quantity": next(level) + 10 * args.count}))

        async def place(_i: int) -> None:
            _ok(await buyer.post(orders_url, json=order), 201)

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
    return rows


async def saga_rows(backend: str, args: argparse.Namespace) -> list[Row]:
    """The shop embedded: one process (this one), in-process HTTP, the embedded bus."""
    tmp = tempfile.TemporaryDirectory(prefix="isles-orderbench-")
    prefix = f"isles_ob_{uuid.uuid4().hex[:10]}"
    rt = SystemRuntime(build_shop(), _settings(backend, Path(tmp.name), prefix, args.clients), environ={})
    rows: list[Row] = []
    try:
        await rt.start()
        async with rt.client() as api:
            shop = Shop(api, dict.fromkeys(rt.services, "http://gateway"), rt.client)
            rows = await measure(backend, shop, args)
        await rt.settle(timeout=120)
    finally:
        await rt.stop()
        await _drop(backend, prefix, list(rt.services))
        tmp.cleanup()
    return rows


class Processes:
    """The shop as in production, on this machine: every service an ``isles serve``
    process on its own PostgreSQL database, events over a NATS JetStream server of the
    run's own, HTTP between the processes (each service called at its own port)."""

    def __init__(self, root: Path, clients: int) -> None:
        self.root = root
        self.prefix = f"isles_ob_{uuid.uuid4().hex[:10]}"
        self.system = build_shop()
        self.names = [s.name for s in self.system.services]
        self.keys = root / "keys"
        generate_system_keys(self.system, self.keys)
        self.headers = operator_headers(self.keys)
        self.nats = NatsServer(root / "nats")
        template = f"{PG}/{self.prefix}_{{service}}"
        env = {
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p),
            "ISLES_SYSTEM": SHOP_SPEC,
            "ISLES_KEYS_DIR": str(self.keys),
            "ISLES_DATA_DIR": str(root / "data"),
            "ISLES_NATS_PREFIX": self.prefix,
            "ISLES_LOG_LEVEL": "error",
            "ISLES_LOG_FORMAT": "json",
            # As the embedded setup: a connection per client in flight, no scheduled jobs.
            "ISLES_POOL_SIZE": str(max(5, clients)),
            "ISLES_POOL_MAX_OVERFLOW": str(clients * 2),
            "ISLES_JOBS_ENABLED": "false",
        }
        ports = {name: free_port() for name in self.names}
        self.services: dict[str, ServiceProcess] = {}
        for name, port in ports.items():
            cli = ["--port", str(port), "--bus", "nats", "--nats-url", self.nats.url, "--database-url", template]
            for other, p in ports.items():
                if other != name:
                    cli += ["--peer", f"{other}=http://127.0.0.1:{p}"]
            self.services[name] = ServiceProcess(name, port, cli, env, root / f"{name}.log")

    async def start(self) -> None:
        self.nats.start()
        for service in self.services.values():
            service.start()
        for service in self.services.values():
            await service.wait_ready(timeout=180)

    async def stop(self) -> None:
        for service in self.services.values():
            service.kill()  # nothing of it is kept: no need to wait for a graceful stop
        self.nats.kill()
        await drop_postgres_databases(make_url(f"{PG}/{self.prefix}_{name}") for name in self.names)

    async def _query(self, service: str, sql: str) -> list[asyncpg.Record]:
        conn = await connect_waiting(f"postgresql://postgres@127.0.0.1:5432/{self.prefix}_{service}")
        try:
            return list(await conn.fetch(sql))
        finally:
            await conn.close()

    async def settle(self, timeout: float = 120.0) -> str:  # noqa: ASYNC109 - a bound, not a cancel scope
        """Wait until every event is published and every consumer has it (applied or
        parked); what was left over: dead letters, sagas not completed."""
        handled = {s.name: {h.event.event_type for h in s.all_handlers()} for s in self.system.services}
        deadline = time.monotonic() + timeout
        while True:
            published: Counter[str] = Counter()
            unpublished = 0
            for name in self.names:
                for r in await self._query(
                    name,
                    "SELECT event_type, published_at IS NULL AS pending, count(*) AS n FROM isles_outbox_events "
                    "GROUP BY 1, 2",
                ):
                    if r["pending"]:
                        unpublished += r["n"]
                    else:
                        published[r["event_type"]] += r["n"]
            missing = unpublished
            dead: Counter[str] = Counter()
            for name, types in handled.items():
                seen: Counter[str] = Counter()
                for table in ("isles_inbox_events", "isles_dead_letters"):
                    for r in await self._query(name, f"SELECT event_type, count(*) AS n FROM {table} GROUP BY 1"):
                        seen[r["event_type"]] += r["n"]
                        if table == "isles_dead_letters":
                            dead[f"{name}: {r['event_type']}"] += r["n"]
                missing += sum(max(0, published[t] - seen[t]) for t in types)
            if not missing:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"not settled within {timeout} s: {missing} events not published or not applied")
            await asyncio.sleep(0.25)
        sagas = await self._query("order", "SELECT status, count(*) AS n FROM isles_sagas GROUP BY 1")
        done = ", ".join(f"{r['n']} {r['status']}" for r in sagas)
        letters = ", ".join(f"{n} {what}" for what, n in dead.items()) or "none"
        return f"{sum(published.values())} events published, all applied; dead letters: {letters}; sagas: {done}"

    def shop(self, api: httpx.AsyncClient) -> Shop:
        def client_for(token: str) -> httpx.AsyncClient:
            return httpx.AsyncClient(timeout=60, headers={"Authorization": f"Bearer {token}"})

        return Shop(api, {name: s.url for name, s in self.services.items()}, client_for)


async def nats_rows(args: argparse.Namespace) -> list[Row]:
    """The shop as processes over NATS (see :class:`Processes`)."""
    tmp = tempfile.TemporaryDirectory(prefix="isles-orderbench-")
    cluster: Processes | None = None
    rows: list[Row] = []
    try:
        cluster = Processes(Path(tmp.name), args.clients)
        await cluster.start()
        async with httpx.AsyncClient(timeout=60, headers=cluster.headers) as api:
            rows = await measure("nats", cluster.shop(api), args)
        print(f"  nats: {await cluster.settle()}", file=sys.stderr, flush=True)
    except BaseException:
        for service in cluster.services.values() if cluster is not None else ():
            print(f"--- {service.name} (its log's last lines)\n{service.tail()}", file=sys.stderr)
        raise
    finally:
        if cluster is not None:
            await cluster.stop()
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
        plain = {r.backend: r for r in saga if r.kind == "plain write"}
        head = (
            f"{'backend':<9} {'kind':<12} {'count':>6} {'p50 ms':>8} {'p99 ms':>8} {f'req/s ({clients} clients)':>20}"
            f" {'p50 x':>7} {'req/s /':>8}"
        )
        lines += [head, "-" * len(head)]
        for r in saga:
            base = plain.get(r.backend)
            ratios = f" {r.p50_ms / base.p50_ms:>7.1f} {base.per_s / r.per_s:>8.1f}" if base else ""
            lines.append(
                f"{r.backend:<9} {r.kind:<12} {r.count:>6} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.per_s:>20.1f}{ratios}"
            )
        lines.append("(p50 x: the p50 over the plain write's; req/s /: the plain write's req/s over this one's)")
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
    parser.add_argument(
        "--backends",
        default=",".join(BACKENDS),
        help="comma-separated: sqlite, postgres (embedded), nats (processes; the saga only)",
    )
    args = parser.parse_args()
    if args.count < 1 or args.clients < 1 or args.events < 4:
        parser.error("--count and --clients must be at least 1, --events at least 4")
    configure("error")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    bad = [b for b in backends if b not in BACKENDS]
    if bad:
        parser.error(f"unknown backend(s): {', '.join(bad)}")
    if "nats" in backends and args.part != "rebuild" and not Path(NATS_SERVER_BIN).exists():
        parser.error(f"the nats setup runs a NATS server of its own: {NATS_SERVER_BIN} is not installed")
    rows: list[Row] = []
    for backend in backends:
        if args.part in ("saga", "both"):
            print(f"saga on {backend} ...", file=sys.stderr, flush=True)
            rows += asyncio.run(nats_rows(args) if backend == "nats" else saga_rows(backend, args))
        if args.part in ("rebuild", "both") and backend != "nats":  # the rebuild is one service's: no NATS in it
            print(f"rebuild on {backend} ...", file=sys.stderr, flush=True)
            rows += asyncio.run(rebuild_rows(backend, args))
    print(table(rows, args.clients))


if __name__ == "__main__":
    main()
