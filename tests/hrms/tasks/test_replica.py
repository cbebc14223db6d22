"""The tasks service's copy of the employees (task_users): it follows the employee
service's events, and a redelivered or out-of-order event changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from hrms.contracts.employee import EmployeeDeactivated, EmployeeUpdated
from hrms.services.tasks.models import TaskUser
from isles import ACROSS_TENANTS, Event, utcnow
from isles.core.events import Envelope
from isles.runtime.system import SystemRuntime
from isles.storage.schema import dead_letters_table
from tests.hrms.helpers import new_company, new_employee, ok

pytestmark = [pytest.mark.integration, pytest.mark.services("tasks")]


async def copy_of(hrms: SystemRuntime, employee_id: str) -> TaskUser | None:
    async with hrms["tasks"].db.read_session(tenant=ACROSS_TENANTS) as session:
        return await session.get(TaskUser, uuid.UUID(employee_id))


def as_tuple(u: TaskUser | None) -> Any:
    assert u is not None
    return (str(u.user_id), str(u.company_id), u.email, u.first_name, u.last_name, u.is_active, u.version)


def envelope(event: Event, employee_id: str, version: int) -> Envelope:
    return Envelope.new(
        event, source="/isles/employee", aggregate_type="employee", aggregate_id=employee_id, aggregate_version=version
    )


def updated(e: dict[str, Any], last_name: str, *, active: bool = True) -> EmployeeUpdated:
    return EmployeeUpdated(
        id=uuid.UUID(e["id"]),
        first_name=e["first_name"],
        last_name=last_name,
        email=e["email"],
        is_active=active,
        company_id=uuid.UUID(e["company_id"]),
        user_id=uuid.UUID(e["user_id"]),
        changes=["last_name"],
    )


async def test_the_copy_follows_creation_rename_email_change_and_deactivation(
    api: httpx.AsyncClient, hrms: SystemRuntime
) -> None:
    company = await new_company(api, "Acme")
    ada = await new_employee(api, "Ada", "Lovelace", company_id=company["id"])
    await hrms.settle()
    assert as_tuple(await copy_of(hrms, ada["id"])) == (
        ada["user_id"],
        company["id"],
        ada["email"],
        "Ada",
        "Lovelace",
        True,
        ada["version"],
    )

    ok(await api.patch(f"/api/employee/employees/{ada['id']}", json={"last_name": "Byron"}))
    changed = ok(await api.patch(f"/api/employee/employees/{ada['id']}", json={"email": "ada.byron@example.com"}))
    await hrms.settle()
    assert as_tuple(await copy_of(hrms, ada["id"])) == (
        ada["user_id"],
        company["id"],
        "ada.byron@example.com",
        "Ada",
        "Byron",
        True,
        changed["version"],
    )

    gone = ok(await api.post(f"/api/employee/employees/{ada['id']}/deactivate"))
    await hrms.settle()
    copy = await copy_of(hrms, ada["id"])
    assert copy is not None
    assert (copy.is_active, copy.version) == (False, gone["version"])


async def test_a_redelivered_or_older_event_changes_nothing(api: httpx.AsyncClient, hrms: SystemRuntime) -> None:
    ada = await new_employee(api, "Ada", "Lovelace")
    await hrms.settle()
    consumer = hrms["tasks"].consumer
    assert consumer is not None
    newer = envelope(updated(ada, "Newer"), ada["id"], 7)
    await consumer.deliver(newer)
    await consumer.deliver(envelope(updated(ada, "Older"), ada["id"], 6))  # late
    await consumer.deliver(newer)  # the same event again
    stale = EmployeeDeactivated(
        id=uuid.UUID(ada["id"]), first_name="Ada", last_name="Gone", email=ada["email"], deactivated_at=utcnow()
    )
    await consumer.deliver(envelope(stale, ada["id"], 5))  # older than the copy: not applied
    copy = await copy_of(hrms, ada["id"])
    assert copy is not None
    assert (copy.last_name, copy.is_active, copy.version) == ("Newer", True, 7)


async def test_an_event_without_company_or_user_keeps_those_the_copy_knows(
    api: httpx.AsyncClient, hrms: SystemRuntime
) -> None:
    """The contract makes them optional (a seed-shaped v1 EmployeeUpdated, upcast,
    has neither): the copy keeps its company and user, and takes the rest."""
    ada = await new_employee(api, "Ada", "Lovelace")
    await hrms.settle()
    consumer = hrms["tasks"].consumer
    assert consumer is not None
    bare = updated(ada, "Byron").model_copy(update={"company_id": None, "user_id": None})
    await consumer.deliver(envelope(bare, ada["id"], 8))
    seed_shaped = envelope(updated(ada, "Ignored"), ada["id"], 9)
    data = {"id": ada["id"], "name": "Ada King", "email": "ada.king@example.com"}
    await consumer.deliver(Envelope(**{**seed_shaped.__dict__, "schemaversion": 1, "data": data}))
    assert as_tuple(await copy_of(hrms, ada["id"])) == (
        ada["user_id"],
        ada["company_id"],
        "ada.king@example.com",
        "Ada",
        "King",
        True,
        9,
    )


async def test_no_copy_is_made_from_an_event_without_a_company(api: httpx.AsyncClient, hrms: SystemRuntime) -> None:
    consumer = hrms["tasks"].consumer
    assert consumer is not None
    stranger = {"id": str(uuid.uuid4()), "first_name": "Nobody", "email": "no.body@example.com"}
    event = EmployeeUpdated(
        id=uuid.UUID(stranger["id"]), first_name="No", last_name="Body", email=stranger["email"], is_active=True
    )
    await consumer.deliver(envelope(event, stranger["id"], 3))
    assert await copy_of(hrms, stranger["id"]) is None
    async with hrms["tasks"].db.reading() as conn:
        assert (await conn.execute(select(dead_letters_table.c.event_id))).all() == []  # applied, as nothing
