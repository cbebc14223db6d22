"""The project service's copies of employee data: newer wins, whatever the order."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select

from hrms.contracts.employee import EmployeeUpdated
from hrms.services.project.models import EmployeeCopy
from isles import ACROSS_TENANTS
from isles.core.events import Envelope
from isles.runtime.system import SystemRuntime
from isles.storage.schema import dead_letters_table
from tests.hrms.helpers import assign, new_employee, new_project, ok

pytestmark = pytest.mark.integration


def updated(employee: dict[str, str], version: int, last_name: str, *, schema_v1: bool = False) -> Envelope:
    event = EmployeeUpdated(
        id=uuid.UUID(employee["id"]),
        first_name="Ada",
        last_name=last_name,
        email=employee["email"],
        is_active=True,
        changes=["last_name"],
    )
    env = Envelope.new(
        event,
        source="/isles/employee",
        aggregate_type="employee",
        aggregate_id=employee["id"],
        aggregate_version=version,
    )
    if schema_v1:  # the seed's shape: { id, name, email }
        data = {"id": employee["id"], "name": f"Ada {last_name}", "email": employee["email"]}
        env = Envelope(**{**env.__dict__, "schemaversion": 1, "data": data})
    return env


async def test_two_updates_in_reverse_order_the_newer_wins(api: httpx.AsyncClient, hrms: SystemRuntime) -> None:
    ada = await new_employee(api, "Ada", "Lovelace")
    a = ok(await assign(api, ada, await new_project(api)), 201)
    consumer = hrms["project"].consumer
    assert consumer is not None
    await consumer.deliver(updated(ada, 6, "Newer"))
    await consumer.deliver(updated(ada, 5, "Older"))
    assert ok(await api.get(f"/api/project/assignments/{a['id']}"))["employee_name"] == "Ada Newer"
    async with hrms["project"].db.read_session(tenant=ACROSS_TENANTS) as session:
        copy = await session.get(EmployeeCopy, uuid.UUID(ada["id"]))
    assert copy is not None
    assert (copy.full_name, copy.version) == ("Ada Newer", 6)


async def test_seed_shaped_v1_update_is_upcast_and_applied(api: httpx.AsyncClient, hrms: SystemRuntime) -> None:
    ada = await new_employee(api, "Ada", "Lovelace")
    a = ok(await assign(api, ada, await new_project(api)), 201)
    await hrms["project"].consumer.deliver(updated(ada, 9, "Byron", schema_v1=True))  # type: ignore[union-attr]
    assert ok(await api.get(f"/api/project/assignments/{a['id']}"))["employee_name"] == "Ada Byron"


async def test_assignment_created_after_an_unseen_rename_still_converges(
    api: httpx.AsyncClient, hrms: SystemRuntime
) -> None:
    """The API answered with an old version; the copy table holds the newer one."""
    ada = await new_employee(api, "Ada", "Lovelace")
    await hrms["project"].consumer.deliver(updated(ada, 50, "FromEvent"))  # type: ignore[union-attr]
    a = ok(await assign(api, ada, await new_project(api)), 201)
    assert a["employee_name"] == "Ada FromEvent"
    async with hrms["project"].db.read_session(tenant=ACROSS_TENANTS) as session:
        versions = (await session.execute(select(EmployeeCopy.version))).scalars().all()
    assert list(versions) == [50]


async def test_an_event_not_from_its_owner_is_parked_not_applied(api: httpx.AsyncClient, hrms: SystemRuntime) -> None:
    """Issue 16, finding 4: only the employee service publishes employee events; one
    that says it comes from elsewhere changes no replica and waits in the dead letters."""
    ada = await new_employee(api, "Ada", "Lovelace")
    a = ok(await assign(api, ada, await new_project(api)), 201)
    forged = updated(ada, 7, "Forged")
    forged = Envelope(**{**forged.__dict__, "source": "/isles/project"})
    consumer = hrms["project"].consumer
    assert consumer is not None
    await consumer.deliver(forged)
    assert ok(await api.get(f"/api/project/assignments/{a['id']}"))["employee_name"] == "Ada Lovelace"
    async with hrms["project"].db.reading() as conn:
        rows = (await conn.execute(select(dead_letters_table.c.event_id, dead_letters_table.c.error))).all()
    assert [(str(r.event_id), "/isles/project" in r.error and "/isles/employee" in r.error) for r in rows] == [
        (forged.id, True)
    ]
    await consumer.deliver(updated(ada, 8, "Genuine"))  # the owner's own still applies
    assert ok(await api.get(f"/api/project/assignments/{a['id']}"))["employee_name"] == "Ada Genuine"
