"""``isles audit`` on the shop (issue 20): its demo data — users, catalogue, orders
placed and cancelled through the sagas — leaves no orphaned reference nor stale copy;
an order whose user is deleted behind the platform's back refers to an orphan. SQLite and
PostgreSQL."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import delete, select

from isles import ACROSS_TENANTS
from isles.runtime.system import SystemRuntime
from isles.service.audit import audit

pytestmark = pytest.mark.integration


async def test_the_demo_shop_is_consistent_and_an_orphan_is_found(
    shop: SystemRuntime, shop_api: httpx.AsyncClient
) -> None:
    assert shop.system.demo is not None
    await shop.system.demo(shop_api)
    await shop.settle()
    dbs = {n: rt.db for n, rt in shop.services.items()}
    report = await audit(shop.system, dbs)
    assert report.findings == 0, [(c.name, c.samples) for c in report.checks if c.findings]
    names = {c.name for c in report.checks}
    assert "order.orders.user_id_ref -> user.users" in names

    orders = shop["order"].service.metadata.tables["orders"]
    users = shop["user"].service.metadata.tables["users"]
    async with shop["order"].db.read_session(tenant=ACROSS_TENANTS) as session:
        buyer = await session.scalar(select(orders.c.user_id_ref).limit(1))
    assert buyer is not None, "the demo places orders"
    async with shop["user"].db.writing(tenant=ACROSS_TENANTS) as session:
        conn = await session.connection()
        for table in [t for t in shop["user"].service.metadata.sorted_tables if "user_id" in t.c and t is not users]:
            await conn.execute(delete(table).where(table.c.user_id == buyer))
        await conn.execute(delete(users).where(users.c.id == buyer))
        await session.commit()
    found = await audit(shop.system, dbs)
    [check] = [c for c in found.checks if c.name == "order.orders.user_id_ref -> user.users"]
    assert [(f.kind, f.key) for f in check.samples] == [("orphan", str(buyer))]
