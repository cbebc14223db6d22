"""A new service's history is its revisions and nothing else: the platform owns the
Alembic environment, the template and the kernel tables' history. `isles migrate
revision` writes the platform's column types as ``isles.<Type>()``, leaves the kernel
tables out, and gives a new tenant table its row-level security; the revision runs,
and the database then matches the models (SQLite and PostgreSQL)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from fastapi import APIRouter
from sqlalchemy import Column, String, Table, inspect, text

import isles
from isles.storage import migrations
from isles.storage.db import resolve_database_url
from tests.support import Backend

pytestmark = pytest.mark.integration

MODELS = """
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import isles

metadata = isles.new_metadata()


class Base(DeclarativeBase):
    metadata = metadata


class Note(isles.TenantOwned, Base):
    __tablename__ = "notes"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(index=True)
    written_at = mapped_column(isles.UTCDateTime(), nullable=False)
    tags = mapped_column(isles.StringList(), nullable=False)
    email = mapped_column(isles.LowerCase(120), nullable=False)


sa.Table("note_counts", metadata, sa.Column("day", sa.Date, primary_key=True), sa.Column("n", sa.Integer))
"""


async def test_a_new_service_from_zero_gets_a_revision_that_runs(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = f"notes_models_{backend.name}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(MODELS))
    monkeypatch.syspath_prepend(str(tmp_path))
    history = tmp_path / "migrations"  # does not exist yet: the first revision makes it
    try:
        models = __import__(module)
        service = isles.Service(name="notes", metadata=models.metadata, router=APIRouter(), migrations=history)
        db = isles.ServiceDatabase("notes", resolve_database_url("notes", backend.settings, {}), backend.settings)
        try:
            await db.ensure_exists()
            await migrations.upgrade(db, service)  # the kernel's history only: the service has none yet
            written = await migrations.revision(db, service, "first", "0001")
            assert [p.name for p in history.iterdir()] == [written.name] == ["0001_first.py"]
            source = written.read_text()
            assert "isles.UTCDateTime(timezone=True)" in source
            assert "isles.StringList()" in source
            assert "sa.Column('email', sa.String(length=120), nullable=False)" in source  # what the database holds
            assert "isles.storage" not in source, "no internal module named"
            assert source.count("\nimport isles\n") == 1
            assert "isles_outbox" not in source, "the kernel tables are the kernel history's"
            assert "isles.enable_row_security('notes', 'company_id')" in source
            assert "isles.disable_row_security('notes')" in source
            assert "row_security('note_counts'" not in source, "not a tenant table"

            await migrations.upgrade(db, service)
            await migrations.upgrade(db, service)  # at its heads: nothing to do
            status = await migrations.status(db, service)
            assert (status.current, status.kernel) == ("0001", status.kernel_head)
            assert status.up_to_date
            assert await migrations.drift(db, service) == []
            if backend.name == "postgres":
                async with db.engine.connect() as conn:
                    forced = await conn.scalar(text("SELECT relforcerowsecurity FROM pg_class WHERE relname = 'notes'"))
                assert forced is True

            # A second revision in the same process: the history's new head is seen.
            Table("note_tags", models.metadata, Column("tag", String(40), primary_key=True))
            second = await migrations.revision(db, service, "tags", "0002")
            assert "create_table('note_tags'" in second.read_text()
            await migrations.upgrade(db, service)
            assert (await migrations.status(db, service)).current == "0002"

            await migrations.downgrade(db, service, "base")
            async with db.engine.connect() as conn:
                left = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            assert left <= {"alembic_version", migrations.KERNEL_VERSION_TABLE}
        finally:
            await db.dispose()
    finally:
        sys.modules.pop(module, None)
        backend.drop_later(["notes"])


def test_a_history_with_its_own_env_py_is_refused_with_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "env.py").write_text("")
    with pytest.raises(ValueError, match="platform owns the Alembic environment"):
        isles.Service(name="notes", metadata=isles.new_metadata(), router=APIRouter(), migrations=tmp_path)


async def test_a_database_whose_kernel_an_older_service_history_made_is_adopted(
    backend: Backend, tmp_path: Path
) -> None:
    """Before the kernel had a history of its own, each service's first revisions made
    the kernel tables. Such a database is stamped at the kernel revision its tables
    match, then brought to the kernel's head, its data kept."""
    service = isles.Service(name="notes", metadata=isles.new_metadata(), router=APIRouter(), migrations=tmp_path / "m")
    db = isles.ServiceDatabase("notes", resolve_database_url("notes", backend.settings, {}), backend.settings)
    try:
        await db.ensure_exists()
        await migrations.upgrade(db, service)
        async with db.engine.begin() as conn:  # as an older history left it: kernel step 2, no kernel version
            for table in (migrations.KERNEL_VERSION_TABLE, "isles_idempotency_keys", "isles_saga_steps", "isles_sagas"):
                await conn.execute(text(f"DROP TABLE {table}"))
            await conn.execute(
                text(
                    "INSERT INTO isles_inbox_events VALUES ("
                    "'6b0c3c6e-0d8b-4a53-9a51-6b6c1f0e8a11', 't', 's', 'a', 1, 'processed', "
                    "'2026-11-28 00:00:00+00:00')"
                )
            )
        assert (await migrations.status(db, service)).kernel is None
        await migrations.upgrade(db, service)
        status = await migrations.status(db, service)
        assert status.kernel == status.kernel_head == "kernel_0003"
        assert await migrations.drift(db, service) == []
        async with db.engine.connect() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM isles_inbox_events")) == 1
    finally:
        await db.dispose()
        backend.drop_later(["notes"])
