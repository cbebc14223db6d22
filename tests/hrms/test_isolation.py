"""Each service's database holds only its own tables; migrations match the models."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from hrms.system import build
from isles.runtime.system import SystemRuntime
from isles.storage import migrations
from isles.storage.schema import KERNEL_TABLES
from tests.support import Backend, Templates

pytestmark = pytest.mark.integration


async def _tables_and_fks(rt: SystemRuntime, service: str) -> tuple[set[str], list[tuple[str, str]]]:
    def read(conn: object) -> tuple[set[str], list[tuple[str, str]]]:
        insp = inspect(conn)
        tables = set(insp.get_table_names())
        fks = [(t, fk["referred_table"]) for t in tables for fk in insp.get_foreign_keys(t)]
        return tables, fks

    async with rt[service].db.engine.connect() as conn:
        return await conn.run_sync(read)


async def test_each_database_holds_only_its_own_tables(hrms: SystemRuntime) -> None:
    owned = {name: set(rt.service.metadata.tables) for name, rt in hrms.services.items()}
    for name in hrms.services:
        tables, fks = await _tables_and_fks(hrms, name)
        assert tables == owned[name] | {"alembic_version", migrations.KERNEL_VERSION_TABLE}, name
        for other, their_tables in owned.items():
            if other != name:
                assert not (tables & (their_tables - set(owned[name]))), f"{name} holds {other}'s tables"
        for table, target in fks:
            assert target in owned[name], f"{name}.{table} has a foreign key to {target}"
    shared = set.intersection(*owned.values())
    assert shared == set(KERNEL_TABLES), "only the kernel's own tables are in every database"
    assert hrms["employee"].db.url != hrms["project"].db.url


async def test_migrations_match_the_models(hrms: SystemRuntime) -> None:
    for name, rt in hrms.services.items():
        assert await migrations.drift(rt.db, rt.service) == [], f"{name}: models and migrations disagree"


async def test_initial_migrations_downgrade_and_upgrade_again(backend: Backend, templates: Templates) -> None:
    system = build()
    await templates.clone(system, backend)  # migrated up once per session already
    runtime = SystemRuntime(system, backend.settings, environ={})
    try:
        for name, rt in runtime.services.items():
            await migrations.downgrade(rt.db, rt.service, "base")
            tables, _ = await _tables_and_fks(runtime, name)
            assert tables <= {"alembic_version", migrations.KERNEL_VERSION_TABLE}, f"{name} left {tables}"
            assert (await migrations.status(rt.db, rt.service)).current is None
            await migrations.upgrade(rt.db, rt.service)
            assert (await migrations.status(rt.db, rt.service)).up_to_date
    finally:
        await runtime.stop()
        backend.drop_later(runtime.services)
