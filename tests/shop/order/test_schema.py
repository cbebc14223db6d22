"""The order database holds seed 003's order tables (with the diagram's column names),
its migrations match the models, go down and up again, and no foreign key leaves it;
the references to other services' rows are ``*_ref`` columns, indexed."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import inspect

from isles.runtime.system import SystemRuntime
from isles.storage import migrations

pytestmark = pytest.mark.integration

#: seed 003's ORDER, ORDER_ITEM, ORDER_PAYMENT, ORDER_SHIPPING: their columns, as the diagram names them
DIAGRAM = {
    "orders": {"id", "user_id_ref", "order_number", "total_amount", "status", "created_at", "updated_at"},
    "order_items": {"id", "order_id", "product_id_ref", "product_name", "unit_price", "quantity", "subtotal"},
    "order_payment": {"id", "order_id", "payment_method", "payment_status", "transaction_id", "amount", "paid_at"},
    "order_shipping": {
        "id",
        "order_id",
        "recipient_name",
        "address_line1",
        "address_line2",
        "city",
        "state",
        "postal_code",
        "country",
        "tracking_number",
        "carrier",
        "shipping_status",
    },
}
OWN = (*DIAGRAM, "event_store", "order_history", "order_history_items", "order_history_reviews")


def _read(conn: Any) -> dict[str, Any]:
    insp = inspect(conn)
    tables = set(insp.get_table_names())
    return {
        "tables": tables,
        "columns": {t: {c["name"] for c in insp.get_columns(t)} for t in DIAGRAM if t in tables},
        "fks": [(t, fk["referred_table"]) for t in tables for fk in insp.get_foreign_keys(t)],
        "indexed": {
            t: {c for i in insp.get_indexes(t) for c in i["column_names"][:1]}
            | set(insp.get_pk_constraint(t)["constrained_columns"][:1])
            for t in tables
        },
        "unique": {
            t: {tuple(u["column_names"]) for u in insp.get_unique_constraints(t)}
            | {tuple(i["column_names"]) for i in insp.get_indexes(t) if i["unique"]}
            for t in tables
        },
    }


async def test_the_order_database_holds_the_diagrams_tables_and_no_foreign_key_leaves_it(shop: SystemRuntime) -> None:
    async with shop["order"].db.engine.connect() as conn:
        found = await conn.run_sync(_read)
    assert set(OWN) <= found["tables"]
    for table, columns in DIAGRAM.items():
        assert columns <= found["columns"][table], (table, columns - found["columns"][table])
    assert ("order_number",) in found["unique"]["orders"]
    assert ("aggregate_type", "aggregate_id", "version") in found["unique"]["event_store"]
    own = set(shop["order"].service.metadata.tables)
    for table, target in found["fks"]:
        assert target in own, f"{table} -> {target}"
    for ref in shop["order"].service.references:
        assert ref.column.endswith("_ref"), ref
        assert ref.column in found["indexed"][ref.table] or any(
            ref.column in cols for cols in found["unique"][ref.table]
        ), f"{ref} is not indexed"
    for other in ("user", "product"):
        assert not set(OWN) & set(shop[other].service.metadata.tables), other


async def test_the_migrations_match_the_models_and_go_down_and_up(shop: SystemRuntime) -> None:
    rt = shop["order"]
    assert await migrations.drift(rt.db, rt.service) == []
    await migrations.downgrade(rt.db, rt.service, "base")
    async with rt.db.engine.connect() as conn:
        tables = (await conn.run_sync(_read))["tables"]
    assert not set(OWN) & tables
    await migrations.upgrade(rt.db, rt.service)
    assert (await migrations.status(rt.db, rt.service)).up_to_date
    assert await migrations.drift(rt.db, rt.service) == []
