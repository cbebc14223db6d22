"""Copies that begin after their data (issue 17): a revision of the source service
announces its rows once more (isles.announce, through the outbox), and the copies
that lack them take them, on SQLite and PostgreSQL.

* auth 0007 announces every user with their roles, for the notification service's
  copies, which keep roles from notification 0004 on (set back to version 0 there);
* employee 0010 announces every employee, for the workforce services' copies
  (LeaveRequestUser, CheckinUserInfo, TaskUser) — shown here on the project
  service's copy, the one every system has."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import text

from isles import ACROSS_TENANTS
from isles.runtime.system import SystemRuntime
from isles.storage import migrations
from tests.hrms.helpers import new_company, new_employee, user_with_password, value

pytestmark = pytest.mark.integration


async def test_users_are_announced_with_their_roles_to_the_notification_copies(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    company = (await new_company(api))["id"]
    admin = await user_with_password(api, company, role="admin")
    await hrms.settle()
    user = uuid.UUID(admin["user_id"])
    notification, auth = hrms["notification"], hrms["auth"]
    await migrations.downgrade(notification.db, notification.service, "0003")  # as before the roles
    await migrations.upgrade(notification.db, notification.service)
    assert await value(hrms, "notification", "notification_users", "version", id=user) == 0
    assert await value(hrms, "notification", "notification_users", "roles", id=user) in ([], "[]", "{}")

    await migrations.downgrade(auth.db, auth.service, "0006")
    await migrations.upgrade(auth.db, auth.service)
    await hrms.settle()
    roles = await value(hrms, "notification", "notification_users", "roles", id=user)
    assert "admin" in (roles if isinstance(roles, list) else str(roles))
    assert await value(hrms, "notification", "notification_users", "version", id=user) >= 1


async def test_employees_are_announced_to_copies_that_began_after_them(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    company = (await new_company(api))["id"]
    boss = await new_employee(api, "Bo", "Ss", company_id=company)
    worker = await new_employee(api, "Old", "Timer", company_id=company, manager_id=boss["id"])
    await hrms.settle()
    async with (
        hrms["project"].db.writing(tenant=ACROSS_TENANTS) as session,
        session.begin(),
    ):  # as if the copy began after these employees
        await session.execute(text("DELETE FROM employee_copies"))
    employee = hrms["employee"]
    await migrations.downgrade(employee.db, employee.service, "0009")
    await migrations.upgrade(employee.db, employee.service)
    await hrms.settle()
    for person in (boss, worker):
        pid = uuid.UUID(person["id"])
        assert await value(hrms, "project", "employee_copies", "full_name", id=pid) == (
            f"{person['first_name']} {person['last_name']}"
        )
        assert await value(hrms, "project", "employee_copies", "user_id", id=pid) == uuid.UUID(person["user_id"])
