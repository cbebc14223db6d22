"""The leave service's copy of the employees (``leave_request_users``): it follows
the employee service's events, and a redelivered or late event changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from hrms.contracts.employee import EmployeeDeactivated, EmployeeUpdated
from hrms.services.leave.models import LeaveRequestUser
from isles import ACROSS_TENANTS, utcnow
from isles.core.events import Envelope, Event
from isles.runtime.system import SystemRuntime
from tests.hrms.helpers import new_employee, ok

pytestmark = [pytest.mark.integration, pytest.mark.services("leave")]


async def copy_of(hrms: SystemRuntime, employee_id: str) -> LeaveRequestUser:
    async with hrms["leave"].db.read_session(tenant=ACROSS_TENANTS) as session:
        row = await session.get(LeaveRequestUser, uuid.UUID(employee_id))
    assert row is not None, "the leave service knows the employee"
    return row


def envelope(event: Event, employee: dict[str, Any], version: int) -> Envelope:
    return Envelope.new(
        event,
        source="/isles/employee",
        aggregate_type="employee",
        aggregate_id=employee["id"],
        aggregate_version=version,
    )


async def test_the_copy_follows_create_rename_email_manager_and_deactivation(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    boss = await new_employee(api, "Grace", "Hopper")
    other_boss = await new_employee(api, "Katherine", "Johnson", company_id=boss["company_id"])
    ada = await new_employee(api, "Ada", "Lovelace", company_id=boss["company_id"], manager_id=boss["id"])
    await hrms.settle()
    copy = await copy_of(hrms, ada["id"])
    assert (copy.first_name, copy.last_name, copy.email) == ("Ada", "Lovelace", ada["email"])
    assert (str(copy.user_id), str(copy.company_id), str(copy.manager_id)) == (
        ada["user_id"],
        ada["company_id"],
        boss["id"],
    )
    assert copy.is_active

    path = f"/api/employee/employees/{ada['id']}"
    ok(await api.patch(path, json={"last_name": "King"}))
    ok(await api.patch(path, json={"email": "ada.king@example.com"}))
    ok(await api.patch(path, json={"manager_id": other_boss["id"]}))
    await hrms.settle()
    copy = await copy_of(hrms, ada["id"])
    assert (copy.last_name, copy.email, str(copy.manager_id)) == ("King", "ada.king@example.com", other_boss["id"])

    ok(await api.post(f"{path}/deactivate"))
    await hrms.settle()
    copy = await copy_of(hrms, ada["id"])
    assert copy.is_active is False
    assert str(copy.manager_id) == other_boss["id"], "a deactivation does not carry the manager: it stays"


async def test_a_redelivered_or_late_event_changes_nothing(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    ada = await new_employee(api, "Ada", "Lovelace")
    await hrms.settle()
    consumer = hrms["leave"].consumer
    assert consumer is not None

    def updated(last_name: str, manager: uuid.UUID | None) -> EmployeeUpdated:
        return EmployeeUpdated(
            id=uuid.UUID(ada["id"]),
            first_name="Ada",
            last_name=last_name,
            email=ada["email"],
            is_active=True,
            company_id=uuid.UUID(ada["company_id"]),
            user_id=uuid.UUID(ada["user_id"]),
            manager_id=manager,
        )

    boss = uuid.uuid4()
    newer = envelope(updated("Newer", boss), ada, 8)
    await consumer.deliver(newer)
    await consumer.deliver(envelope(updated("Older", None), ada, 7))  # late
    await consumer.deliver(newer)  # again
    copy = await copy_of(hrms, ada["id"])
    assert (copy.last_name, copy.manager_id, copy.version) == ("Newer", boss, 8)

    gone = EmployeeDeactivated(
        id=uuid.UUID(ada["id"]),
        first_name="Ada",
        last_name="Newer",
        email=ada["email"],
        deactivated_at=utcnow(),
        company_id=uuid.UUID(ada["company_id"]),
        user_id=uuid.UUID(ada["user_id"]),
    )
    await consumer.deliver(envelope(gone, ada, 10))
    await consumer.deliver(envelope(updated("Revived", None), ada, 9))  # late: still deactivated
    copy = await copy_of(hrms, ada["id"])
    assert (copy.last_name, copy.is_active, copy.manager_id, copy.version) == ("Newer", False, boss, 10)
