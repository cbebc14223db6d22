"""Change history (issue 19's platform part), on SQLite and PostgreSQL: every update
or delete of a declared table keeps the previous version with its period, who and
why; as-of reads; a rollback leaves none; an undeclared table gets none; UPDATE
statements on a declared table are refused."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

import pytest
from fastapi import APIRouter
from sqlalchemy import Integer, String, Uuid, func, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import isles
from isles.core.clock import utcnow
from isles.runtime.system import SystemRuntime
from isles.service.declaration import Service, System
from isles.storage.history import HistoryBypassed, add_history, as_of, changes_by, history, history_of
from isles.storage.schema import new_metadata
from isles.storage.tenancy import ACROSS_TENANTS
from tests.support import Backend, make_backend

pytestmark = pytest.mark.integration

metadata = new_metadata()


class Base(DeclarativeBase):
    metadata = metadata


class Item(Base, isles.Historied):
    __tablename__ = "items"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    price: Mapped[int] = mapped_column(Integer)


class Note(Base):  # no history declared
    __tablename__ = "notes"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    text: Mapped[str] = mapped_column(String(100))


ITEMS_HISTORY = add_history(metadata, "items")


router = APIRouter(prefix="/hitems")


@router.put("/{item_id}")
async def set_price(item_id: uuid.UUID, price: int, _: isles.Authenticated, rt: isles.Context) -> dict[str, int]:
    async with rt.uow() as uow:
        item = await uow.session.get(Item, item_id)
        assert item is not None
        item.price = price
        await uow.commit()
    return {"price": price}


class PriceSet(isles.Event):
    event_type: ClassVar[str] = "histoy.PriceSet"
    schema_version: ClassVar[int] = 1
    id: uuid.UUID
    price: int


@dataclass
class Pricing:  # the publisher's aggregate (kept nowhere: only its events matter)
    id: uuid.UUID
    version: int = 0


async def on_price_set(ctx: isles.HandlerContext, event: PriceSet) -> None:
    item = await ctx.uow.session.get(Item, event.id)
    assert item is not None
    item.price = event.price


def build() -> System:
    shop = Service(
        name="hshop",
        metadata=metadata,
        router=router,
        migrations=None,
        handlers=[isles.Handler(event=PriceSet, fn=on_price_set, name="price")],
    )
    pricer = Service(name="hpricer", metadata=new_metadata(), router=APIRouter(), migrations=None, publishes=[PriceSet])
    return System(name="histoy", services=[shop, pricer])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def shop(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SystemRuntime]:
    backend: Backend = make_backend(request.param, tmp_path)
    runtime = SystemRuntime(build(), backend.settings, environ={})
    await runtime.prepare()
    try:
        yield runtime
    finally:
        for rt in runtime.services.values():
            await rt.db.dispose()
        backend.drop_later(["hshop", "hpricer"])


async def _new(runtime: SystemRuntime, price: int) -> uuid.UUID:
    item_id = uuid.uuid4()
    async with runtime["hshop"].uow() as uow:
        uow.session.add(Item(id=item_id, name=f"i-{item_id.hex[:8]}", price=price))
        await uow.commit()
    return item_id


async def _set_price(runtime: SystemRuntime, item_id: uuid.UUID, price: int) -> None:
    async with runtime["hshop"].uow() as uow:
        item = await uow.session.get(Item, item_id)
        assert item is not None
        item.price = price
        await uow.commit()


async def _rows(runtime: SystemRuntime) -> int:
    async with runtime["hshop"].db.read_session(tenant=ACROSS_TENANTS) as session:
        return int(await session.scalar(select(func.count()).select_from(ITEMS_HISTORY)) or 0)


async def test_every_change_keeps_the_previous_version_and_as_of_reads_it(shop: SystemRuntime) -> None:
    assert history(Item) is ITEMS_HISTORY
    assert "id" in ITEMS_HISTORY.c
    assert not ITEMS_HISTORY.c.id.primary_key
    item_id = await _new(shop, 10)
    t0 = utcnow()
    assert await _rows(shop) == 0, "an insert leaves no history row"
    await asyncio.sleep(0.01)
    with changes_by("user:ada", "req-1"):
        await _set_price(shop, item_id, 20)
    t1 = utcnow()
    await asyncio.sleep(0.01)
    with changes_by("service:pricing", "event-7"):
        await _set_price(shop, item_id, 30)
    t2 = utcnow()
    assert await _rows(shop) == 2, "exactly one history row per change"
    async with shop["hshop"].db.read_session(tenant=ACROSS_TENANTS) as session:
        versions = await history_of(session, Item, item_id)
        assert [(v.values["price"], v.changed_by, v.change_reason, v.operation) for v in versions] == [
            (10, "user:ada", "req-1", "update"),
            (20, "service:pricing", "event-7", "update"),
            (30, "", "", ""),
        ]
        assert versions[0].valid_to == versions[1].valid_from, "the periods follow each other"
        assert versions[1].valid_to == versions[2].valid_from
        assert versions[2].valid_to is None
        assert versions[0].valid_from is not None
        assert versions[0].valid_from <= t0
        before = await as_of(session, Item, item_id, versions[0].valid_from - timedelta(seconds=1))
        first, second, now = (
            await as_of(session, Item, item_id, t0),
            await as_of(session, Item, item_id, t1),
            await as_of(session, Item, item_id, t2 + timedelta(seconds=1)),
        )
    assert before is None, "before the row existed"
    assert first is not None
    assert first["price"] == 10
    assert second is not None
    assert second["price"] == 20
    assert now is not None
    assert now["price"] == 30


async def test_a_delete_keeps_the_last_version(shop: SystemRuntime) -> None:
    item_id = await _new(shop, 5)
    with changes_by("operator:bob", "cleanup"):
        async with shop["hshop"].uow() as uow:
            item = await uow.session.get(Item, item_id)
            await uow.session.delete(item)
            await uow.commit()
    after = utcnow() + timedelta(seconds=1)
    async with shop["hshop"].db.read_session(tenant=ACROSS_TENANTS) as session:
        versions = await history_of(session, Item, item_id)
        gone = await as_of(session, Item, item_id, after)
        kept = await as_of(session, Item, item_id, versions[0].valid_to - timedelta(microseconds=1))
    assert [(v.values["price"], v.changed_by, v.change_reason, v.operation) for v in versions] == [
        (5, "operator:bob", "cleanup", "delete")
    ]
    assert gone is None
    assert kept is not None
    assert kept["price"] == 5


async def test_a_rolled_back_change_leaves_no_history(shop: SystemRuntime) -> None:
    item_id = await _new(shop, 1)
    async with shop["hshop"].uow() as uow:
        item = await uow.session.get(Item, item_id)
        assert item is not None
        item.price = 2
        await uow.flush()  # the history row is written ...
    assert await _rows(shop) == 0, "... and rolled back with the change"


async def test_an_undeclared_table_gets_none_and_statements_are_refused(shop: SystemRuntime) -> None:
    note_id = uuid.uuid4()
    async with shop["hshop"].uow() as uow:
        uow.session.add(Note(id=note_id, text="a"))
        await uow.commit()
    async with shop["hshop"].uow() as uow:
        note = await uow.session.get(Note, note_id)
        assert note is not None
        note.text = "b"
        await uow.session.execute(update(Note).values(text="c"))
        await uow.commit()
    assert "notes_history" not in metadata.tables
    assert await _rows(shop) == 0
    with pytest.raises(HistoryBypassed):
        async with shop["hshop"].uow() as uow:
            await uow.session.execute(update(Item).values(price=0))


def test_the_lint_does_not_review_history_tables(tmp_path: Path) -> None:
    from isles.lint.config import LintConfig
    from isles.lint.engine import lint
    from isles.lint.isles_source import read_service
    from isles.lint.model import Column as LintColumn
    from isles.lint.model import Location, Project
    from isles.lint.model import Table as LintTable
    from isles.lint.rules import check_tables

    project = Project()
    read_service(build().services[0], project, tmp_path)
    findings = lint(project, LintConfig())
    assert not [f for f in findings if "items_history" in f.message], findings
    assert project.owners["items_history"] == "hshop"
    # the same table as a migration creates it (read by its shape, no metadata)
    where = Location("m.py")
    as_created = LintTable(
        name="items_history",
        loc=where,
        columns=[LintColumn(c.name, "text", where) for c in ITEMS_HISTORY.c],
    )
    assert list(check_tables(Project(tables=[as_created]))) == []
    bare = LintTable(name="ItemsHistory", loc=where, columns=[LintColumn("ID", "text", where)])
    assert list(check_tables(Project(tables=[bare]))), "an ordinary table is still reviewed"


async def test_a_change_through_a_route_records_the_caller_and_the_request(shop: SystemRuntime) -> None:
    item_id = await _new(shop, 1)
    async with shop.client() as client:  # the operator
        answer = await client.put(f"/api/hshop/hitems/{item_id}", params={"price": 2}, headers={"x-request-id": "r-42"})
        assert answer.status_code == 200, answer.text
        answer = await client.put(f"/api/hshop/hitems/{item_id}", params={"price": 3})
        assert answer.status_code == 200, answer.text
    async with shop["hshop"].db.read_session(tenant=ACROSS_TENANTS) as session:
        versions = await history_of(session, Item, item_id)
    assert [(v.values["price"], v.changed_by, v.change_reason) for v in versions] == [
        (1, "operator:operator", "r-42"),
        (2, "operator:operator", f"PUT /api/hshop/hitems/{item_id}"),
        (3, "", ""),
    ]


async def test_a_value_never_loaded_is_read_from_the_row(shop: SystemRuntime) -> None:
    item_id = await _new(shop, 7)
    async with shop["hshop"].uow() as uow:
        item = await uow.session.get(Item, item_id)
        assert item is not None
        uow.session.expire(item, ["price"])
        item.price = 8  # set without loading the old value
        await uow.commit()
    async with shop["hshop"].db.read_session(tenant=ACROSS_TENANTS) as session:
        versions = await history_of(session, Item, item_id)
    assert [v.values["price"] for v in versions] == [7, 8]


@pytest.mark.parametrize("backend_name", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_a_change_by_an_event_handler_records_the_publisher_and_the_event(
    backend_name: str, tmp_path: Path
) -> None:
    backend = make_backend(backend_name, tmp_path)
    runtime = SystemRuntime(build(), backend.settings, environ={})
    await runtime.start()
    try:
        item_id = await _new(runtime, 1)
        async with runtime["hpricer"].uow() as uow:
            envelope = uow.emit(PriceSet(id=item_id, price=2), aggregate=Pricing(item_id), aggregate_type="pricing")
            await uow.commit()
        await runtime.settle()
        async with runtime["hshop"].db.read_session(tenant=ACROSS_TENANTS) as session:
            versions = await history_of(session, Item, item_id)
    finally:
        await runtime.stop()
        backend.drop_later(["hshop", "hpricer"])
    assert [(v.values["price"], v.changed_by, v.change_reason) for v in versions] == [
        (1, "service:hpricer", f"event:{envelope.id}"),
        (2, "", ""),
    ]


HISTORIED_MODELS = """
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import isles

metadata = isles.new_metadata()


class Base(DeclarativeBase):
    metadata = metadata


class Contract(Base, isles.Historied):
    __tablename__ = "contracts"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(20), unique=True)
    hours: Mapped[int] = mapped_column()


CONTRACTS_HISTORY = isles.add_history(metadata, "contracts")
"""


async def test_a_revision_creates_the_history_and_it_works_after_the_upgrade(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    import textwrap

    from isles.storage import migrations
    from isles.storage.db import resolve_database_url

    module = f"contracts_models_{backend.name}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(HISTORIED_MODELS))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        models = __import__(module)
        service = isles.Service(
            name="hcontracts", metadata=models.metadata, router=APIRouter(), migrations=tmp_path / "migrations"
        )
        db = isles.ServiceDatabase(
            "hcontracts", resolve_database_url("hcontracts", backend.settings, {}), backend.settings
        )
        try:
            await db.ensure_exists()
            await migrations.upgrade(db, service)
            source = (await migrations.revision(db, service, "contracts", "0001")).read_text()
            assert "create_table('contracts_history'" in source
            assert "'valid_from'" in source
            await migrations.upgrade(db, service)
            assert await migrations.drift(db, service) == []
            contract_id = uuid.uuid4()
            async with isles.UnitOfWork(db, source="/isles/hcontracts") as uow:
                uow.session.add(models.Contract(id=contract_id, code="c1", hours=40))
                await uow.commit()
            with changes_by("operator:alice", "ticket-1"):
                async with isles.UnitOfWork(db, source="/isles/hcontracts") as uow:
                    contract = await uow.session.get(models.Contract, contract_id)
                    contract.hours = 32
                    await uow.commit()
            async with db.read_session(tenant=ACROSS_TENANTS) as session:
                versions = await history_of(session, models.Contract, contract_id)
            assert [(v.values["hours"], v.changed_by) for v in versions] == [(40, "operator:alice"), (32, "")]
        finally:
            await db.dispose()
    finally:
        sys.modules.pop(module, None)
        backend.drop_later(["hcontracts"])


async def test_a_statement_that_records_the_previous_version_itself_is_let_through(shop: SystemRuntime) -> None:
    """A hot path may change a row with one UPDATE statement (no ORM load): it writes
    the previous version with ``record_change`` and marks the statement as recorded."""
    item_id = await _new(shop, 1)
    table = Item.__table__
    with changes_by("user:fast", "req-1"):
        async with shop["hshop"].uow() as uow:
            row = (await uow.session.execute(select(table).where(table.c.id == item_id).with_for_update())).one()
            began = await isles.record_change(uow.session, Item, row._mapping)
            statement = update(table).where(table.c.id == item_id).values(price=2, valid_from=began)
            await uow.session.execute(statement.execution_options(**isles.HISTORY_RECORDED))
            await uow.commit()
    versions = await _versions(shop, item_id)
    assert [(v.values["price"], v.operation, v.changed_by, v.change_reason) for v in versions] == [
        (1, "update", "user:fast", "req-1"),
        (2, "", "", ""),
    ]
    assert versions[0].valid_to == versions[1].valid_from == began
    with pytest.raises(HistoryBypassed):  # unmarked, still refused
        async with shop["hshop"].uow() as uow:
            await uow.session.execute(update(table).where(table.c.id == item_id).values(price=3))


async def _versions(runtime: SystemRuntime, item_id: uuid.UUID) -> list[isles.HistoryVersion]:
    async with runtime["hshop"].db.read_session(tenant=ACROSS_TENANTS) as session:
        return await history_of(session, Item, item_id)
