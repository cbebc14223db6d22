"""The platform refuses what would break the islands, at declaration time."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import APIRouter
from sqlalchemy import Column, ForeignKey, Integer, MetaData, Table, Uuid

from hrms.system import build
from isles.core.references import BoundaryError, reference_column
from isles.core.settings import IslesSettings, PoolSettings
from isles.runtime.system import SystemRuntime
from isles.service.declaration import Service
from isles.storage.db import DatabaseConfigError, check_distinct, resolve_database_url, resolve_pool
from isles.storage.schema import new_metadata


def service(metadata: MetaData) -> Service:
    return Service(name="orders", metadata=metadata, router=APIRouter(), migrations=None)


def test_a_foreign_key_to_another_services_table_is_refused() -> None:
    md = new_metadata()
    Table(
        "orders", md, Column("id", Uuid, primary_key=True), Column("user_id", Uuid, ForeignKey("users.id"), index=True)
    )
    Table("users", MetaData(), Column("id", Uuid, primary_key=True))
    with pytest.raises(BoundaryError, match=r"orders.user_id has a foreign key to users"):
        service(md)


def test_a_reference_must_be_indexed_and_not_a_foreign_key() -> None:
    md = new_metadata()
    col = reference_column("user_id", "auth.users")
    col.index = False
    Table("orders", md, Column("id", Uuid, primary_key=True), col)
    with pytest.raises(BoundaryError, match="must be indexed"):
        service(md)


def test_references_are_registered() -> None:
    md = new_metadata()
    Table("orders", md, Column("id", Uuid, primary_key=True), reference_column("user_id", "auth.users"))
    refs = service(md).references
    assert [str(r) for r in refs] == ["orders.orders.user_id -> auth.users"]


def test_service_without_kernel_tables_is_refused() -> None:
    md = MetaData()
    Table("orders", md, Column("id", Integer, primary_key=True))
    with pytest.raises(ValueError, match="kernel tables"):
        service(md)


def test_database_urls_resolve_per_service(tmp_path: Path) -> None:
    s = IslesSettings(data_dir=tmp_path)
    assert resolve_database_url("employee", s, {}) == f"sqlite+aiosqlite:///{tmp_path.resolve()}/employee.db"
    pg = IslesSettings(database_url="postgresql+asyncpg://postgres@127.0.0.1:5432/hrms_{service}")
    assert resolve_database_url("project", pg, {}).endswith("/hrms_project")
    own = {"ISLES_PROJECT_DATABASE_URL": "postgresql+asyncpg://p@db9/projects"}
    assert resolve_database_url("project", pg, own) == own["ISLES_PROJECT_DATABASE_URL"]


def test_a_shared_database_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DatabaseConfigError, match=r"\{service\} placeholder"):
        resolve_database_url("employee", IslesSettings(database_url="postgresql+asyncpg://h/one"), {})
    with pytest.raises(DatabaseConfigError, match="same database"):
        check_distinct({"a": "sqlite+aiosqlite:////x/db", "b": "sqlite+aiosqlite:////x/db"})
    env = {
        "ISLES_EMPLOYEE_DATABASE_URL": "sqlite+aiosqlite:////tmp/same.db",
        "ISLES_PROJECT_DATABASE_URL": "sqlite+aiosqlite:////tmp/same.db",
    }
    with pytest.raises(DatabaseConfigError, match=r"employee.*project"):
        SystemRuntime(build(), IslesSettings(data_dir=tmp_path), environ=env)


def test_a_service_engine_reaches_only_its_own_database(tmp_path: Path) -> None:
    runtime = SystemRuntime(build(), IslesSettings(data_dir=tmp_path), environ={})
    urls = {name: str(rt.db.url) for name, rt in runtime.services.items()}
    assert urls["employee"].endswith("employee.db")
    assert urls["project"].endswith("project.db")
    assert not hasattr(runtime["project"], "engine_for"), "no API hands out another service's engine"


def test_pool_settings_are_per_service_with_system_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ISLES_POOL_IDLE_TIMEOUT")  # the tests' own (tests/conftest.py)
    settings = IslesSettings(data_dir=tmp_path, pool_size=7, pool_max_overflow=3)
    env = {"ISLES_PROJECT_POOL_SIZE": "20", "ISLES_PROJECT_POOL_TIMEOUT": "2.5"}
    assert resolve_pool("employee", settings, env) == PoolSettings(size=7, max_overflow=3, timeout=30.0, recycle=1800.0)
    assert resolve_pool("project", settings, env) == PoolSettings(size=20, max_overflow=3, timeout=2.5, recycle=1800.0)
    with pytest.raises(DatabaseConfigError, match="ISLES_PROJECT_POOL_SIZE='many': input should be a valid integer"):
        resolve_pool("project", settings, {"ISLES_PROJECT_POOL_SIZE": "many"})
    with pytest.raises(
        DatabaseConfigError, match="ISLES_PROJECT_POOL_SIZE='0': input should be greater than or equal to 1"
    ):
        resolve_pool("project", settings, {"ISLES_PROJECT_POOL_SIZE": "0"})
    pg = settings.model_copy(update={"database_url": "postgresql+asyncpg://u@h/x_{service}"})
    rt = SystemRuntime(build(), pg, environ=env)  # engines are lazy: nothing connects
    assert rt["project"].db.engine.pool.size() == 20  # type: ignore[attr-defined]
    assert rt["employee"].db.engine.pool.size() == 7  # type: ignore[attr-defined]
