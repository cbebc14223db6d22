"""Expiry reminders and HR's review, on SQLite and PostgreSQL: the daily job emits a
DocumentExpiring 30 and 7 days before a document expires, once each however often
it runs, and the notification service mails the employee and the company's admins;
a deactivated employee's documents stay and are listed for review."""

from __future__ import annotations

import json
from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import select

from hrms.services.document.jobs import JOBS
from hrms.services.notification.models import Notification
from isles import ACROSS_TENANTS
from isles.runtime.system import SystemRuntime
from isles.storage.schema import outbox_table
from tests.hrms.document.helpers import DOCS, office, upload
from tests.hrms.helpers import ok

pytestmark = [pytest.mark.integration, pytest.mark.services("document")]
TODAY = date(2031, 3, 1)


async def mails(hrms: SystemRuntime) -> list[tuple[str, str, str]]:
    """(user, subject, body) of every expiry message queued."""
    async with hrms["notification"].db.read_session(tenant=ACROSS_TENANTS) as session:
        rows = await session.scalars(
            select(Notification).where(Notification.template_key == "document_expiring").order_by(Notification.id)
        )
        return [(str(n.user_id), n.subject, n.body) for n in rows]


async def expiring(hrms: SystemRuntime) -> list[tuple[str, int]]:
    """(document, days left) of every DocumentExpiring the service wrote, in order."""
    q = (
        select(outbox_table.c.payload)
        .where(outbox_table.c.event_type == "document.DocumentExpiring")
        .order_by(outbox_table.c.id)
    )
    async with hrms["document"].db.read_session(tenant=ACROSS_TENANTS) as session:
        payloads = [json.loads(p)["data"] for p in (await session.scalars(q)).all()]
    return [(d["id"], d["days_left"]) for d in payloads]


async def run(hrms: SystemRuntime, day: date) -> str:
    [job] = [j for j in JOBS if j.name == "remind_expiring"]
    summary = await job.run(hrms["document"], day)
    await hrms.settle()
    return summary


async def test_reminders_30_and_7_days_before_once_each(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    o = await office(hrms, api)
    expires = TODAY + timedelta(days=30)
    doc = ok(
        await upload(
            api, o.as_admin, title="Work permit", category="id", employee_id=o.worker["id"], expires_on=expires
        ),
        201,
    )
    later = ok(await upload(api, o.as_admin, title="Later", expires_on=TODAY + timedelta(days=90)), 201)
    assert (
        await run(hrms, TODAY - timedelta(days=1)) == f"remind_expiring {TODAY - timedelta(days=1)}: 0 reminders sent"
    )
    assert await run(hrms, TODAY) == f"remind_expiring {TODAY}: 1 reminders sent"
    assert await run(hrms, TODAY) == f"remind_expiring {TODAY}: 0 reminders sent", "a second run sends nothing"
    assert (
        await run(hrms, TODAY + timedelta(days=10)) == f"remind_expiring {TODAY + timedelta(days=10)}: 0 reminders sent"
    )
    seven = TODAY + timedelta(days=23)
    assert await run(hrms, seven) == f"remind_expiring {seven}: 1 reminders sent"
    assert (
        await run(hrms, seven + timedelta(days=1)) == f"remind_expiring {seven + timedelta(days=1)}: 0 reminders sent"
    )

    assert await expiring(hrms) == [(doc["id"], 30), (doc["id"], 7)], "not the later document, each threshold once"
    got = await mails(hrms)
    people = sorted({u for u, _, _ in got})
    assert people == sorted([o.worker["user_id"], o.admin["user_id"]]), "the owner and HR (the admins)"
    subjects = sorted(s for u, s, _ in got if u == o.worker["user_id"])
    assert subjects == ["Work permit expires in 30 days", "Work permit expires in 7 days"]
    assert all("Ada Lovelace" in b and expires.isoformat() in b for _, _, b in got)
    history = ok(await api.get(f"{DOCS}/{doc['id']}/history", headers=o.as_admin))
    assert len(history) == 1, "a reminder is no change of the document"
    assert later["id"] != doc["id"]


async def test_a_document_first_seen_within_7_days_gets_one_reminder(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    o = await office(hrms, api)
    ok(
        await upload(
            api,
            o.as_admin,
            title="Visa",
            category="id",
            employee_id=o.worker["id"],
            expires_on=TODAY + timedelta(days=5),
        ),
        201,
    )
    assert await run(hrms, TODAY) == f"remind_expiring {TODAY}: 1 reminders sent"
    assert (
        await run(hrms, TODAY + timedelta(days=1)) == f"remind_expiring {TODAY + timedelta(days=1)}: 0 reminders sent"
    )
    subjects = sorted(s for u, s, _ in await mails(hrms) if u == o.worker["user_id"])
    assert subjects == ["Visa expires in 7 days"]


async def test_a_deactivated_employees_documents_are_listed_for_review(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    o = await office(hrms, api)
    theirs = ok(await upload(api, o.as_admin, title="Contract", employee_id=o.worker["id"]), 201)
    ok(await upload(api, o.as_admin, title="Colleague's", employee_id=o.colleague["id"]), 201)
    assert ok(await api.get(f"{DOCS}/review", headers=o.as_admin))["items"] == []
    ok(await api.post(f"/api/employee/employees/{o.worker['id']}/deactivate"))
    await hrms.settle()
    [row] = ok(await api.get(f"{DOCS}/review", headers=o.as_admin))["items"]
    assert (row["id"], row["employee_name"]) == (theirs["id"], "Ada Lovelace")
    assert ok(await api.get(f"{DOCS}/{theirs['id']}", headers=o.as_admin))["deleted_at"] is None, "their documents stay"
    assert (await api.get(f"{DOCS}/review", headers=o.as_manager)).status_code == 403
