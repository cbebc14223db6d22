"""Orphaned references and their policies (issue 20), on SQLite and PostgreSQL: a
reference to a row its owner does not have is an orphan; with ``live``, one to a row
the owner has deleted (``deleted_at``) or deactivated (``active`` false) is one too;
``isles audit --repair`` reports, nullifies or marks the rows holding them as each
reference declares — a change with a new version, its event in the outbox and its
history row — and a second repair changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fastapi import APIRouter
from sqlalchemy import Boolean, Integer, String, Uuid, func, insert, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import isles
from isles import Orphans, reference
from isles.core.references import BoundaryError, check_boundaries, reference_column
from isles.runtime.system import SystemRuntime
from isles.service.audit import audit, repair
from isles.service.declaration import Service, System
from isles.storage.history import add_history, history_of
from isles.storage.schema import UTCDateTime, new_metadata, outbox_table
from isles.storage.tenancy import ACROSS_TENANTS
from tests.support import Backend, make_backend

pytestmark = pytest.mark.integration

people_md = new_metadata()
desk_md = new_metadata()


class PeopleBase(DeclarativeBase):
    metadata = people_md


class DeskBase(DeclarativeBase):
    metadata = desk_md


class Person(PeopleBase):
    __tablename__ = "people"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)


class Task(DeskBase, isles.Historied):
    __tablename__ = "tasks"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    title: Mapped[str] = mapped_column(String(50))
    # Report only (the default): an orphan is shown, never changed.
    person_id: Mapped[uuid.UUID] = reference("otoy_people.people")
    # A deactivated or missing owner: the repair sets it to NULL.
    owner_id: Mapped[uuid.UUID | None] = reference(
        "otoy_people.people", nullable=True, live="active", on_orphan=Orphans.nullify()
    )
    # A deleted or missing watcher: the repair marks the row, keeping the id.
    watcher_id: Mapped[uuid.UUID | None] = reference(
        "otoy_people.people", nullable=True, live="deleted_at", on_orphan=Orphans.mark("watcher_lost_at")
    )
    watcher_lost_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)


add_history(desk_md, "tasks")


class TaskChanged(isles.Event):
    event_type: ClassVar[str] = "otoy_desk.TaskChanged"
    schema_version: ClassVar[int] = 1
    id: uuid.UUID
    owner_id: uuid.UUID | None
    watcher_lost: bool


def _task_changed(task: Any) -> TaskChanged:
    return TaskChanged(id=task.id, owner_id=task.owner_id, watcher_lost=task.watcher_lost_at is not None)


def build() -> System:
    people = Service(name="otoy_people", metadata=people_md, router=APIRouter(), migrations=None)
    desk = Service(
        name="otoy_desk",
        metadata=desk_md,
        router=APIRouter(),
        migrations=None,
        publishes=[TaskChanged],
        resend=[isles.Resend(Task, "otoy_desk.Task", _task_changed, tenant=lambda _t: "")],
    )
    return System(name="otoy", services=[people, desk])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def toy(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SystemRuntime]:
    backend: Backend = make_backend(request.param, tmp_path)
    runtime = SystemRuntime(build(), backend.settings, environ={})
    await runtime.prepare()
    try:
        yield runtime
    finally:
        for rt in runtime.services.values():
            await rt.db.dispose()
        backend.drop_later(["otoy_people", "otoy_desk"])


def test_policies_are_checked_where_they_are_declared() -> None:
    with pytest.raises(ValueError, match="report, nullify or mark"):
        Orphans("forget")
    with pytest.raises(ValueError, match="names the column"):
        Orphans("mark")
    with pytest.raises(ValueError, match="needs a nullable column"):
        reference("a.b", on_orphan=Orphans.nullify())
    md = new_metadata()
    from sqlalchemy import Column, Table

    Table(
        "rows",
        md,
        Column("id", Uuid, primary_key=True),
        reference_column("thing_id", "other.things", on_orphan=Orphans.mark("lost")),
    )
    with pytest.raises(BoundaryError, match=r"Orphans.mark\('lost'\) needs a nullable date-time or a boolean"):
        check_boundaries("svc", md)
    [ref] = [r for r in build().services[1].references if r.column == "watcher_id"]
    assert (ref.on_orphan, ref.live) == (Orphans.mark("watcher_lost_at"), "deleted_at")
    assert str(ref.on_orphan) == "mark watcher_lost_at"


async def _seed(toy: SystemRuntime) -> dict[str, uuid.UUID]:
    ids = {name: uuid.uuid4() for name in ("alive", "deactivated", "deleted", "missing", "t1", "t2", "t3")}
    people = [
        {"id": ids["alive"], "name": "alive", "active": True, "deleted_at": None, "version": 1},
        {"id": ids["deactivated"], "name": "off", "active": False, "deleted_at": None, "version": 2},
        {"id": ids["deleted"], "name": "gone", "active": True, "deleted_at": isles.utcnow(), "version": 2},
    ]
    async with toy["otoy_people"].db.writing(tenant=ACROSS_TENANTS) as session:
        await session.execute(insert(Person), people)
        await session.commit()
    alive, missing = ids["alive"], ids["missing"]
    tasks = [
        (ids["t1"], missing, alive, alive),  # person orphaned (report only)
        (ids["t2"], alive, ids["deactivated"], ids["deleted"]),  # owner inactive, watcher deleted
        (ids["t3"], alive, missing, missing),  # owner and watcher missing
    ]
    async with toy["otoy_desk"].uow() as uow:
        for task_id, person, owner, watcher in tasks:
            uow.session.add(Task(id=task_id, title="t", person_id=person, owner_id=owner, watcher_id=watcher))
        await uow.commit()
    return ids


def _by(report: Any) -> dict[str, dict[str, set[tuple[str, str]]]]:
    """column -> kind -> {(id, detail)}."""
    out: dict[str, dict[str, set[tuple[str, str]]]] = {}
    for c in report.checks:
        if c.kind != "reference":
            continue
        column = c.name.split(" -> ")[0].rsplit(".", 1)[1]
        for f in c.samples:
            out.setdefault(column, {}).setdefault(f.kind, set()).add((f.key, f.detail))
    return out


async def _tasks(toy: SystemRuntime) -> dict[uuid.UUID, Any]:
    async with toy["otoy_desk"].db.read_session(tenant=ACROSS_TENANTS) as session:
        return {t.id: t for t in (await session.scalars(select(Task))).all()}


async def test_orphans_are_found_and_repaired_by_each_references_policy(toy: SystemRuntime) -> None:
    ids = await _seed(toy)
    dbs = {n: rt.db for n, rt in toy.services.items()}
    s = {k: str(v) for k, v in ids.items()}
    report = await audit(toy.system, dbs)
    assert _by(report) == {
        "person_id": {"orphan": {(s["missing"], "")}},
        "owner_id": {"orphan": {(s["missing"], "")}, "inactive": {(s["deactivated"], "deactivated")}},
        "watcher_id": {"orphan": {(s["missing"], "")}, "inactive": {(s["deleted"], "deleted")}},
    }
    policies = {c.name.split(" -> ")[0]: c.policy for c in report.checks}
    assert policies["otoy_desk.tasks.watcher_id"] == "mark watcher_lost_at"

    before = await _tasks(toy)
    dry = await repair(toy.system, dbs, report, dry_run=True)
    assert sorted((r.check.split(" -> ")[0], r.changed, r.resent) for r in dry) == [
        ("otoy_desk.tasks.owner_id", 2, 0),
        ("otoy_desk.tasks.watcher_id", 2, 0),
    ]
    assert all(r.note.startswith("dry run") for r in dry)
    assert {k: t.version for k, t in (await _tasks(toy)).items()} == {k: t.version for k, t in before.items()}

    done = await repair(toy.system, dbs, report)
    assert sorted((r.check.split(" -> ")[0], r.changed, r.resent) for r in done) == [
        ("otoy_desk.tasks.owner_id", 2, 2),
        ("otoy_desk.tasks.watcher_id", 2, 2),
    ]
    after = await _tasks(toy)
    t1, t2, t3 = after[ids["t1"]], after[ids["t2"]], after[ids["t3"]]
    assert (t1.person_id, t1.version) == (ids["missing"], 1), "report only: untouched"
    assert (t2.owner_id, t3.owner_id) == (None, None), "nullified"
    assert (t2.watcher_id, t3.watcher_id) == (ids["deleted"], ids["missing"]), "marked rows keep the id"
    assert t2.watcher_lost_at is not None
    assert t3.watcher_lost_at is not None
    assert (t2.version, t3.version) == (3, 3), "each change a new version"
    async with toy["otoy_desk"].db.read_session(tenant=ACROSS_TENANTS) as session:
        versions = await history_of(session, Task, ids["t2"])
        sent = (
            await session.execute(
                select(outbox_table.c.aggregate_id, func.max(outbox_table.c.aggregate_version))
                .where(outbox_table.c.event_type == "otoy_desk.TaskChanged")
                .group_by(outbox_table.c.aggregate_id)
            )
        ).all()
    assert [v.changed_by for v in versions[:-1]] == ["operator:isles-audit"] * 2
    assert "nullify" in versions[0].change_reason or "mark" in versions[0].change_reason
    assert dict(sent) == {str(ids["t2"]): 3, str(ids["t3"]): 3}, "the new state re-published at its version"

    again = await audit(toy.system, dbs)
    assert _by(again) == {"person_id": {"orphan": {(s["missing"], "")}}}, "nullified and marked rows: no finding"
    assert await repair(toy.system, dbs, again) == [], "a report-only orphan is never changed"
    # Repairing the first report twice changes nothing more.
    twice = await repair(toy.system, dbs, report)
    assert sorted((r.changed, r.resent) for r in twice) == [(0, 0), (0, 0)]
    assert {k: t.version for k, t in (await _tasks(toy)).items()} == {k: t.version for k, t in after.items()}
