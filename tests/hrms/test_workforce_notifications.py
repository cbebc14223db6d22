"""The notification service on the workforce services' events (issue 17), SQLite and
PostgreSQL: a leave request's receipt to the requester and the request to its
approver — the manager, else the company's admins (whose roles this service keeps
from auth events) —, the decision to the requester, a task to its new assignee and
its completion to its creator; once per event, whatever the redeliveries."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from hrms.contracts.leave import LeaveApproved, LeaveRequested
from hrms.contracts.tasks import TaskAssigned, TaskCompleted
from hrms.services.notification.models import Notification, Recipient
from isles import ACROSS_TENANTS, Event
from isles.core.clock import utcnow
from isles.core.events import Envelope
from isles.runtime.system import SystemRuntime
from tests.hrms.helpers import new_company, new_employee, user_with_password

pytestmark = pytest.mark.integration


def envelope(event: Event, source: str, aggregate_type: str, version: int = 1) -> Envelope:
    aggregate = str(getattr(event, "id"))  # noqa: B009 - every event here has one
    return Envelope.new(
        event, source=source, aggregate_type=aggregate_type, aggregate_id=aggregate, aggregate_version=version
    )


async def sent(hrms: SystemRuntime) -> list[tuple[str, str]]:
    """(template, user id) of every queued or delivered message."""
    async with hrms["notification"].db.read_session(tenant=ACROSS_TENANTS) as session:
        rows = await session.scalars(select(Notification).order_by(Notification.created_at))
        return [(n.template_key, str(n.user_id)) for n in rows if n.template_key not in ("invitation", "welcome")]


def leave(kind: type[LeaveRequested] | type[LeaveApproved], employee: Any, **more: Any) -> Any:
    return kind(
        id=uuid.uuid4(),
        company_id=uuid.UUID(employee["company_id"]),
        employee_id=uuid.UUID(employee["id"]),
        leave_type_id=uuid.uuid4(),
        leave_type_name="Annual",
        start_date=date(2026, 12, 21),
        end_date=date(2026, 12, 23),
        last_day="morning",
        days=Decimal("2.5"),
        **more,
    )


async def test_a_leave_request_reaches_its_requester_and_their_manager_once(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    company = await new_company(api)
    boss = await new_employee(api, "Bo", "Ss", company_id=company["id"])
    worker = await new_employee(api, "Wo", "Rker", company_id=company["id"], manager_id=boss["id"])
    await hrms.settle()
    consumer = hrms["notification"].consumer
    assert consumer is not None
    requested = envelope(leave(LeaveRequested, worker, approver_id=uuid.UUID(boss["id"])), "/isles/leave", "leave")
    await consumer.deliver(requested)
    await consumer.deliver(requested)  # a redelivery queues nothing more
    assert await sent(hrms) == [("leave_requested", worker["user_id"]), ("leave_request_waiting", boss["user_id"])]
    async with hrms["notification"].db.read_session(tenant=ACROSS_TENANTS) as session:
        waiting = await session.scalar(select(Notification).where(Notification.template_key == "leave_request_waiting"))
        assert waiting is not None
        assert waiting.subject == "Wo Rker asks for Annual"
        assert "from 2026-12-21 to 2026-12-23 (morning) (2.5 days)" in waiting.body
    approved = leave(LeaveApproved, worker, approved_by=uuid.UUID(boss["id"]), approved_at=utcnow())
    await consumer.deliver(envelope(approved, "/isles/leave", "leave", 2))
    assert (await sent(hrms))[-1] == ("leave_approved", worker["user_id"])


async def test_without_a_manager_the_request_goes_to_the_companys_admins(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    company = await new_company(api)
    other = await new_company(api, "Other Co")
    admin = await user_with_password(api, company["id"], role="admin")
    await user_with_password(api, other["id"], role="admin")  # another company's admin hears nothing
    alone = await new_employee(api, "Al", "One", company_id=company["id"])
    await hrms.settle()
    async with hrms["notification"].db.read_session(tenant=ACROSS_TENANTS) as session:
        copy = await session.get(Recipient, uuid.UUID(admin["user_id"]))
        assert copy is not None
        assert "admin" in copy.roles, "the roles came with auth's user events"
    consumer = hrms["notification"].consumer
    assert consumer is not None
    await consumer.deliver(envelope(leave(LeaveRequested, alone), "/isles/leave", "leave"))
    assert await sent(hrms) == [("leave_requested", alone["user_id"]), ("leave_request_waiting", admin["user_id"])]


async def test_tasks_reach_their_assignee_and_their_creator(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    company = await new_company(api)
    creator = await new_employee(api, "Cre", "Ator", company_id=company["id"])
    doer = await new_employee(api, "Do", "Er", company_id=company["id"])
    await hrms.settle()
    consumer = hrms["notification"].consumer
    assert consumer is not None
    task = uuid.uuid4()
    common = {"id": task, "company_id": uuid.UUID(company["id"]), "title": "File the report"}
    ids = {"assignee_id": uuid.UUID(doer["id"]), "creator_id": uuid.UUID(creator["id"])}
    await consumer.deliver(
        envelope(TaskAssigned(**common, **ids, assigned_by=ids["creator_id"]), "/isles/tasks", "task")
    )
    # Taking a task oneself is no news to oneself.
    mine = TaskAssigned(
        **common, assignee_id=ids["creator_id"], creator_id=ids["creator_id"], assigned_by=ids["creator_id"]
    )
    await consumer.deliver(envelope(mine, "/isles/tasks", "task", 2))
    done = TaskCompleted(**common, **ids, completed_by=ids["assignee_id"], completed_at=utcnow())
    await consumer.deliver(envelope(done, "/isles/tasks", "task", 3))
    assert await sent(hrms) == [("task_assigned", doer["user_id"]), ("task_completed", creator["user_id"])]
