"""The user database holds seed 003's user tables (with the diagram's column names),
its migrations match the models, go down and up again, and no foreign key leaves it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import inspect

from isles.runtime.system import SystemRuntime
from isles.storage import migrations

pytestmark = pytest.mark.integration

#: seed 003's USER, USER_ADDRESS, USER_PREFERENCE: their columns, as the diagram names them
DIAGRAM = {
    "users": {"id", "email", "password_hash", "first_name", "last_name", "created_at", "updated_at"},
    "user_addresses": {
        "id",
        "user_id",
        "address_line1",
        "address_line2",
        "city",
        "state",
        "postal_code",
        "country",
        "is_default",
    },
    "user_preferences": {"id", "user_id", "preference_key", "preference_value"},
}


def _read(conn: Any) -> dict[str, Any]:
    insp = inspect(conn)
    tables = set(insp.get_table_names())
    return {
        "tables": tables,
        "columns": {t: {c["name"] for c in insp.get_columns(t)} for t in DIAGRAM if t in tables},
        "fks": [(t, fk["referred_table"]) for t in tables for fk in insp.get_foreign_keys(t)],
        "unique": {
            t: {tuple(u["column_names"]) for u in insp.get_unique_constraints(t)}
            | {tuple(i["column_names"]) for i in insp.get_indexes(t) if i["unique"]}
            for t in DIAGRAM
            if t in tables
        },
    }


async def test_the_user_database_holds_the_diagrams_tables(shop: SystemRuntime) -> None:
    async with shop["user"].db.engine.connect() as conn:
        found = await conn.run_sync(_read)
    assert set(DIAGRAM) <= found["tables"]
    for table, columns in DIAGRAM.items():
        assert columns <= found["columns"][table], table
    assert ("email",) in found["unique"]["users"]
    assert ("user_id",) in found["unique"]["user_addresses"]  # the one default
    assert ("user_id", "preference_key") in found["unique"]["user_preferences"]
    own = set(shop["user"].service.metadata.tables)
    for table, target in found["fks"]:
        assert target in own, f"{table} -> {target}"
    for other in ("product", "order"):
        assert not set(DIAGRAM) & set(shop[other].service.metadata.tables), other


async def test_the_migrations_match_the_models_and_go_down_and_up(shop: SystemRuntime) -> None:
    rt = shop["user"]
    assert await migrations.drift(rt.db, rt.service) == []
    await migrations.downgrade(rt.db, rt.service, "base")
    async with rt.db.engine.connect() as conn:
        tables = (await conn.run_sync(_read))["tables"]
    assert not set(DIAGRAM) & tables
    await migrations.upgrade(rt.db, rt.service)
    assert (await migrations.status(rt.db, rt.service)).up_to_date
    assert await migrations.drift(rt.db, rt.service) == []
