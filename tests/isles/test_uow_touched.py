"""UnitOfWork.after_commit_if_touched: a callback for commits that added or changed an
object of given classes (what wakes a worker that watches them); SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Integer, String, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from isles.storage.db import ServiceDatabase
from isles.storage.schema import new_metadata
from isles.storage.uow import UnitOfWork
from tests.support import Backend

pytestmark = pytest.mark.integration

md = new_metadata()


class Base(DeclarativeBase):
    metadata = md


class Watched(Base):
    __tablename__ = "watched"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class Other(Base):
    __tablename__ = "other"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(20))


@pytest.fixture
async def db(backend: Backend) -> AsyncIterator[ServiceDatabase]:
    url = (
        backend.url("touch") if backend.name == "postgres" else f"sqlite+aiosqlite:///{backend.settings.data_dir}/t.db"
    )
    database = ServiceDatabase("touch", url, backend.settings)
    await database.ensure_exists()
    async with database.engine.begin() as conn:
        await conn.run_sync(md.create_all)
    try:
        yield database
    finally:
        await database.dispose()
        backend.drop_later(["touch"])


async def commit(db: ServiceDatabase, *, do: str, target: uuid.UUID | None = None) -> list[str]:
    """Run one unit of work doing ``do``; the callbacks that fired."""
    fired: list[str] = []
    uow = UnitOfWork(db, source="touch")
    uow.after_commit_if_touched((Watched,), lambda: fired.append("watched"))
    uow.after_commit(lambda: fired.append("always"))
    async with uow:
        if do == "add watched":
            uow.session.add(Watched(id=uuid.uuid4(), n=1))
        elif do == "add other":
            uow.session.add(Other(id=uuid.uuid4(), name="x"))
        elif do == "change watched":
            row = await uow.session.get(Watched, target)
            assert row is not None
            row.n += 1
        elif do == "flush early":
            uow.session.add(Watched(id=uuid.uuid4(), n=1))
            await uow.flush()
        elif do == "roll back":
            uow.session.add(Watched(id=uuid.uuid4(), n=1))
            return fired  # leaves without committing
        await uow.commit()
    return fired


async def test_only_commits_that_touch_a_watched_class_call_back(db: ServiceDatabase) -> None:
    assert await commit(db, do="add watched") == ["always", "watched"]
    assert await commit(db, do="add other") == ["always"]
    assert await commit(db, do="nothing") == ["always"]
    assert await commit(db, do="flush early") == ["always", "watched"]
    assert await commit(db, do="roll back") == []
    row = Watched(id=uuid.uuid4(), n=1)
    async with db.writing() as session, session.begin():
        session.add(row)
    assert await commit(db, do="change watched", target=row.id) == ["always", "watched"]
