"""The notification service, on SQLite and PostgreSQL: messages queued from events
(welcome, email changed, assignment), the local user copy following an email change
(seed 002's example), company templates, and delivery through the file sender and
through SMTP (a real local SMTP server, aiosmtpd): delivered, failed and retried,
bounced."""

from __future__ import annotations

import asyncio
import email
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from hrms.services.notification import link_maker, templates
from hrms.services.notification.models import Notification, NotificationStatus
from hrms.services.notification.service import dispatch, record_attempt
from isles import ACROSS_TENANTS
from isles.clients.mail import FileSender
from isles.core.clock import utcnow
from isles.runtime.system import SystemRuntime
from isles.storage.db import connect_waiting
from tests.hrms.cluster import core
from tests.hrms.helpers import assign, headers_of, new_company, new_employee, new_project, ok, user_with_password
from tests.support import PG_SERVER, Backend, Templates, free_port, make_backend

pytestmark = pytest.mark.integration
REFUSED = "nobody@refused.example.com"


async def notifications(api: httpx.AsyncClient, user_id: str, **params: Any) -> list[Any]:
    page = ok(await api.get("/api/notification/notifications", params={"user_id": user_id, **params}))
    items: list[Any] = page["items"]
    return items


def mails(folder: Path) -> list[email.message.Message]:
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(folder.glob("*.eml"))]


async def test_events_queue_messages_and_an_email_change_reaches_the_local_copy(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    person = await new_employee(api, "Nora", "Tify")
    await hrms.settle()
    [welcome] = await notifications(api, person["user_id"])
    # A new hire has no password yet: the welcome is an invitation to choose one.
    assert (welcome["template_key"], welcome["status"]) == ("invitation", "DELIVERED")
    assert welcome["subject"] == "Welcome, Nora: choose your password"
    assert welcome["email"] == person["email"]
    detail = ok(await api.get(f"/api/notification/notifications/{welcome['id']}"))
    assert [(d["attempt"], d["status"], d["sender"]) for d in detail["deliveries"]] == [(1, "DELIVERED", "file")]
    folder = hrms.settings.data_dir / "mail"
    sent = {m["Message-ID"]: m for m in mails(folder)}
    assert sent[welcome["id"]]["To"] == person["email"]

    new_address = f"nora.{uuid.uuid4().hex[:6]}@example.org"
    ok(await api.patch(f"/api/auth/users/{person['user_id']}", json={"email": new_address}))
    await hrms.settle()
    copy = ok(await api.get(f"/api/notification/recipients/{person['user_id']}"))
    assert copy["email"] == new_address, "UserUpdated carried the change to the local copy"
    changed = await notifications(api, person["user_id"], status="DELIVERED")
    assert [n["template_key"] for n in changed] == ["email_changed", "invitation"]
    assert changed[0]["email"] == new_address
    assert {m["Message-ID"]: m for m in mails(folder)}[changed[0]["id"]]["To"] == new_address


async def test_assignments_notify_with_the_company_template(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    company = (await new_company(api, "Templated"))["id"]
    path = "/api/notification/templates/assignment_created"
    bad = await api.put(path, params={"company_id": company}, json={"subject": "On $project for $salary", "body": "x"})
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["subject"]
    custom = {"subject": "New project: $project_name", "body": "Hi $first_name, you are $role on $project_name."}
    ok(await api.put(path, params={"company_id": company}, json=custom))
    listed = ok(await api.get("/api/notification/templates", params={"company_id": company}))
    assert {t["key"]: t["custom"] for t in listed} == {
        **dict.fromkeys(templates.DEFAULTS, False),
        "assignment_created": True,
    }
    assert {"welcome", "invitation", "leave_request_waiting", "task_assigned"} <= {t["key"] for t in listed}

    person = await new_employee(api, "Ann", "Signed", company_id=company)
    project = await new_project(api, "Orbit", company_id=company)
    ok(await assign(api, person, project, role="Pilot"), 201)
    await hrms.settle()
    latest = (await notifications(api, person["user_id"]))[0]
    assert latest["template_key"] == "assignment_created"
    assert latest["subject"] == "New project: Orbit"
    assert latest["body"] == "Hi Ann, you are Pilot on Orbit."

    # Another company keeps the default text.
    other = await new_employee(api, "Def", "Ault")
    ok(await assign(api, other, await new_project(api, "Plain")), 201)
    await hrms.settle()
    assert (await notifications(api, other["user_id"]))[0]["subject"] == "You are on Plain"


async def test_each_person_reads_only_their_own_notifications(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    company = (await new_company(api, "Private"))["id"]
    worker = await user_with_password(api, company, "employee")
    colleague = await new_employee(api, "Col", "League", company_id=company)
    await hrms.settle()
    as_worker = await headers_of(api, worker)
    page = ok(await api.get("/api/notification/notifications", headers=as_worker))
    assert {n["user_id"] for n in page["items"]} == {worker["user_id"]}
    theirs = (await notifications(api, colleague["user_id"]))[0]
    assert (await api.get(f"/api/notification/notifications/{theirs['id']}", headers=as_worker)).status_code == 404
    r = await api.get("/api/notification/notifications", params={"user_id": colleague["user_id"]}, headers=as_worker)
    assert ok(r)["total"] == 0


def test_templates_refuse_unknown_placeholders_and_lone_dollars() -> None:
    templates.check("welcome", "Hi $first_name, costs $$5")
    with pytest.raises(templates.TemplateError, match="project_name"):
        templates.check("welcome", "Hi ${project_name}")
    with pytest.raises(templates.TemplateError, match="lone"):
        templates.check("welcome", "costs $ 5")
    assert templates.render("$first_name's $missing", {"first_name": "Ada"}) == "Ada's $missing"


class Mailbox:
    """A real SMTP server on loopback that keeps what it accepts and refuses REFUSED."""

    def __init__(self) -> None:
        self.received: list[Envelope] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address == REFUSED:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.append(envelope)
        return "250 Message accepted"


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def smtp_hrms(
    request: pytest.FixtureRequest, tmp_path: Path, templates: Templates, smtp_port: int
) -> AsyncIterator[tuple[SystemRuntime, Backend]]:
    backend = make_backend(request.param, tmp_path, mail_sender="smtp", smtp_port=smtp_port, smtp_timeout=2.0)
    system = core()
    await templates.clone(system, backend)
    runtime = SystemRuntime(system, backend.settings, environ={})
    await runtime.start()
    try:
        yield runtime, backend
    finally:
        await runtime.stop()
        backend.drop_later(runtime.services)


async def test_smtp_delivers_retries_after_an_outage_and_records_bounces(
    smtp_hrms: tuple[SystemRuntime, Backend], smtp_port: int
) -> None:
    hrms, _backend = smtp_hrms
    async with hrms.client() as api:
        # The SMTP server is not up yet: the welcome fails, and says why.
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", smtp_port)) != 0
        person = await new_employee(api, "Sam", "Tp")
        await hrms.settle()
        [failed] = await notifications(api, person["user_id"])
        assert (failed["status"], failed["attempts"]) == ("FAILED", 1)
        assert "ConnectionRefusedError" in failed["last_error"]

        box = Mailbox()
        controller = Controller(box, hostname="127.0.0.1", port=smtp_port)
        controller.start()
        try:
            ok(await api.post(f"/api/notification/notifications/{failed['id']}/retry"))
            await hrms.settle()
            [delivered] = await notifications(api, person["user_id"])
            assert delivered["status"] == "DELIVERED"
            assert [e.rcpt_tos for e in box.received] == [[person["email"]]]
            message = email.message_from_bytes(box.received[0].content)  # type: ignore[arg-type]
            assert message["Subject"] == "Welcome, Sam: choose your password"
            detail = ok(await api.get(f"/api/notification/notifications/{failed['id']}"))
            assert [d["status"] for d in detail["deliveries"]] == ["FAILED", "DELIVERED"]

            # A mailbox the server refuses for good: BOUNCED, not tried again.
            ok(await api.patch(f"/api/auth/users/{person['user_id']}", json={"email": REFUSED}))
            await hrms.settle()
            [bounced] = await notifications(api, person["user_id"], status="BOUNCED")
            assert bounced["template_key"] == "email_changed"
            assert bounced["last_error"].startswith("550")
            assert bounced["attempts"] == 1
            assert len(box.received) == 1
        finally:
            controller.stop()


async def test_a_send_cut_off_by_a_crash_is_taken_up_again_after_its_lease(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    """The dispatcher claimed a notification (SENDING) and its process died before the
    answer was written: once the lease has run out it is sent again, and the late
    answer of the first attempt, if it ever comes, changes nothing."""
    person = await new_employee(api, "Cut", "Off")
    await hrms.settle()
    [sent] = await notifications(api, person["user_id"])
    await hrms["notification"].workers["dispatcher"].stop()  # this test drives delivery itself
    db = hrms["notification"].db
    async with db.writing(tenant=ACROSS_TENANTS) as session, session.begin():
        row = await session.get(Notification, uuid.UUID(sent["id"]))
        assert row is not None
        row.status, row.attempts = NotificationStatus.SENDING, 1
        row.next_attempt_at = utcnow() - timedelta(seconds=1)  # the lease is over
    folder = hrms.settings.data_dir / "mail"
    for mail in folder.glob("*.eml"):
        mail.unlink()
    links = link_maker(hrms["notification"])
    assert await dispatch(db, FileSender(folder, "hrms@localhost"), links=links) == 1
    again = ok(await api.get(f"/api/notification/notifications/{sent['id']}"))
    assert (again["status"], again["attempts"]) == ("DELIVERED", 2)
    assert [d["attempt"] for d in again["deliveries"]] == [1, 2]
    assert [m["To"] for m in mails(folder)] == [person["email"]]
    # The first attempt's answer arrives late: ignored.
    await record_attempt(db, uuid.UUID(sent["id"]), 1, NotificationStatus.FAILED, "file", "late")
    assert ok(await api.get(f"/api/notification/notifications/{sent['id']}"))["status"] == "DELIVERED"


async def test_a_user_who_wants_no_mail_gets_only_security_notices(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    person = await new_employee(api, "Quiet", "Please")
    ok(await api.patch(f"/api/auth/users/{person['user_id']}/preferences", json={"email_notifications": False}))
    await hrms.settle()
    assert ok(await api.get(f"/api/notification/recipients/{person['user_id']}"))["email_notifications"] is False
    ok(await assign(api, person, await new_project(api, "Silent")), 201)
    ok(await api.patch(f"/api/auth/users/{person['user_id']}", json={"email": f"q.{uuid.uuid4().hex[:6]}@example.com"}))
    await hrms.settle()
    keys = [n["template_key"] for n in await notifications(api, person["user_id"])]
    assert keys == ["email_changed", "invitation"], "no assignment mail; the security notices still go"


async def test_stopping_the_system_stops_its_workers_and_leaves_no_connection(
    backend: Backend, templates: Templates
) -> None:
    """A worker left running after stop() opened a connection on the disposed engine a
    poll later, which nobody closed (CI saw it as an unclosed asyncpg connection)."""
    system = core()
    await templates.clone(system, backend)
    runtime = SystemRuntime(system, backend.settings, environ={})
    await runtime.start()
    dispatcher = next(iter(runtime["notification"].workers.values()))
    try:
        assert dispatcher.running
    finally:
        await runtime.stop()
    try:
        assert not dispatcher.running
        await asyncio.sleep(1.5)  # past the dispatcher's poll interval
        if backend.name == "postgres":
            databases = [rt.db.url.database for rt in runtime.services.values()]
            rows = await runtime_admin_query(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = ANY($1::text[]) AND pid <> pg_backend_pid()",
                databases,
            )
            assert rows == 0, "connections still open after stop()"
    finally:
        backend.drop_later(runtime.services)


async def runtime_admin_query(sql: str, *args: Any) -> int:
    from sqlalchemy.engine import make_url

    admin = make_url(PG_SERVER).set(drivername="postgresql", database="postgres")
    conn = await connect_waiting(admin.render_as_string(hide_password=False))
    try:
        return int(await conn.fetchval(sql, *args))
    finally:
        await conn.close()
