"""A new service, as docs/services.md builds it from zero (``tests/fixtures/desks``):
it runs beside the HR services on SQLite and PostgreSQL -- CRUD over its own table,
an event in its outbox, a replica kept from employee events, a saga step that asks
the employee service -- its history is the one `isles migrate revision` writes, and
it costs the files and lines docs/services.md says."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from isles.runtime.system import SystemRuntime
from isles.storage import migrations
from isles.storage.schema import outbox_table
from tests.fixtures import desks, desks_system
from tests.hrms.helpers import headers_of, new_company, new_employee, ok, user_with_password
from tests.support import Backend, Templates, make_backend

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "tests/fixtures/desks"


@pytest.fixture
async def system(backend: Backend, templates: Templates) -> AsyncIterator[SystemRuntime]:
    built = desks_system.build()
    await templates.clone(built, backend)
    runtime = SystemRuntime(built, backend.settings, environ={})
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()
        backend.drop_later(runtime.services)  # its twelve databases were left by every run


async def test_desks_runs_beside_the_hr_services(system: SystemRuntime) -> None:
    async with system.client() as api:
        company = (await new_company(api, "Desk Co"))["id"]
        ada = await new_employee(api, "Ada", "Lovelace", company_id=company)

        r = await api.post("/api/desks/desks", json={"label": "A-12", "floor": 3, "company_id": company})
        desk = ok(r, 201)
        assert r.headers["location"] == f"/api/desks/desks/{desk['id']}"
        assert (desk["label"], desk["floor"], desk["holder_id"], desk["company_id"]) == ("A-12", 3, None, company)
        async with system["desks"].db.read_session() as session:
            types = (await session.scalars(select(outbox_table.c.event_type))).all()
        assert types == ["desks.DeskAdded"], "the event went with the row, in its transaction"

        bad = await api.patch(f"/api/desks/desks/{desk['id']}", json={"label": None})
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == "label"
        ok(await api.patch(f"/api/desks/desks/{desk['id']}", json={"floor": 4}))

        await system.settle()  # the replica has heard of Ada
        given = ok(await api.put(f"/api/desks/desks/{desk['id']}/holder", json={"employee_id": ada["id"]}))
        assert (given["holder_id"], given["holder_name"], given["floor"]) == (ada["id"], "Ada Lovelace", 4)
        again = await api.put(f"/api/desks/desks/{desk['id']}/holder", json={"employee_id": ada["id"]})
        assert again.status_code == 200
        assert again.headers["saga-id"], "a saga answered"

        nobody = await api.put(f"/api/desks/desks/{desk['id']}/holder", json={"employee_id": str(uuid.uuid4())})
        assert nobody.status_code == 422, nobody.text
        assert nobody.json()["errors"][0]["field"] == "employee_id"
        assert "saga_id" in nobody.json()

        ok(await api.patch(f"/api/employee/employees/{ada['id']}", json={"first_name": "Augusta"}))
        await system.settle()
        page = ok(await api.get("/api/desks/desks"))
        assert [(d["label"], d["holder_name"]) for d in page["items"]] == [("A-12", "Augusta Lovelace")]
        assert page["total"] == 1

        other = (await new_company(api, "Other Co"))["id"]
        stranger = await headers_of(api, await user_with_password(api, other, "admin"))
        looked = await api.get(f"/api/desks/desks/{desk['id']}", headers=stranger)
        assert looked.status_code == 404, "another company's desk is not there"
        assert ok(await api.get("/api/desks/desks", headers=stranger))["total"] == 0
        took = await api.put(f"/api/desks/desks/{desk['id']}/holder", json={"employee_id": ada["id"]}, headers=stranger)
        assert took.status_code == 404

        assert (await api.delete(f"/api/desks/desks/{desk['id']}")).status_code == 204
        assert (await api.get(f"/api/desks/desks/{desk['id']}")).status_code == 404

    for name, rt in system.services.items():
        assert await migrations.drift(rt.db, rt.service) == [], name


async def test_the_committed_history_is_what_migrate_revision_writes(tmp_path: Path) -> None:
    """No hand edits: a revision written from zero against an empty database is the
    committed one (but for its date)."""
    backend = make_backend("sqlite", tmp_path)
    service = desks.build()
    runtime = SystemRuntime(desks_system.build(), backend.settings, environ={})
    try:
        fresh = tmp_path / "history"
        rt = runtime["desks"]
        await rt.db.ensure_exists()
        mine = replace(service, migrations=fresh)
        await migrations.upgrade(rt.db, mine)
        written = await migrations.revision(rt.db, mine, "desks and the employees they know", "0001")
        (committed,) = HERE.joinpath("migrations").glob("*.py")
        assert written.name == committed.name
        assert _undated(written.read_text()) == _undated(committed.read_text())
    finally:
        await runtime.stop()


def _undated(source: str) -> str:
    return re.sub(r"Create Date: .*", "", source)
