"""Issue 15, 11: a new hire's welcome mail is an invitation with a one-time
set-password link, and a forgotten password is reset by mail. The link works once,
expires, is kept only as a hash, and is in no event and no other database: only in
the mail that carried it. On SQLite and PostgreSQL."""

from __future__ import annotations

import email
import hashlib
import re
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text, update

from hrms.services.auth.models import PasswordToken, User
from isles import ACROSS_TENANTS, utcnow
from isles.runtime.system import SystemRuntime
from tests.hrms.helpers import PASSWORD, bearer, default_company, login, new_employee, ok, user_with_password

pytestmark = pytest.mark.integration
LINK = re.compile(r"(http://\S+/api/auth/password/set)#token=([A-Za-z0-9_-]+)")


def _mails_to(rt: SystemRuntime, address: str) -> list[email.message.Message]:
    folder = rt.settings.data_dir / "mail"
    files = sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)  # oldest first
    found = [email.message_from_bytes(p.read_bytes()) for p in files]
    return [m for m in found if m["To"] == address]


def _link_in(message: email.message.Message) -> tuple[str, str]:
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    match = LINK.search(body.decode())
    assert match is not None, body.decode()
    return match.group(1), match.group(2)


async def _everything_stored(rt: SystemRuntime) -> str:
    """Every row of every table of every service (events and sagas too), as text."""
    dump = []
    for name in ("auth", "company", "employee", "project", "notification"):
        async with rt[name].db.read_session(tenant=ACROSS_TENANTS) as session:
            for table in rt[name].service.metadata.sorted_tables:
                dump += [str(row) for row in (await session.execute(select(table))).all()]
            for kernel in ("isles_outbox_events", "isles_inbox_events", "isles_sagas", "isles_saga_steps"):
                dump += [str(row) for row in (await session.execute(text(f"SELECT * FROM {kernel}"))).all()]
    return "\n".join(dump)


def _refused(response: httpx.Response, code: str) -> None:
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert (error["field"], error["code"]) == ("token", code), response.text
    assert "POST /api/auth/password/forgot" in error["message"]


async def test_a_new_hire_sets_their_password_with_the_invitation_link(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    person = await new_employee(api, "Ines", "Vited")
    await hrms.settle()
    [invitation] = _mails_to(hrms, person["email"])
    assert invitation["Subject"] == "Welcome, Ines: choose your password"
    page, token = _link_in(invitation)
    assert page == "http://127.0.0.1:8000/api/auth/password/set"

    # Kept as a hash only: not in the notification stored, no event, no table.
    stored = await _everything_stored(hrms)
    assert token not in stored
    assert hashlib.sha256(token.encode()).hexdigest() in stored
    [queued] = ok(await api.get("/api/notification/notifications", params={"user_id": person["user_id"]}))["items"]
    assert "$set_password_url" in ok(await api.get(f"/api/notification/notifications/{queued['id']}"))["body"]

    assert (await login(api, person["email"])).status_code == 401, "no password before the link is used"
    weak = await api.post("/api/auth/password/set", json={"token": token, "new_password": "short"})
    assert weak.status_code == 422
    assert weak.json()["errors"][0]["field"] == "new_password"
    ok(await api.post("/api/auth/password/set", json={"token": token, "new_password": PASSWORD}), 204)
    tokens = ok(await login(api, person["email"]))
    me = ok(await api.get("/api/auth/me", headers=bearer(tokens["access_token"])))
    assert me["user"]["email_verified"] is True, "the link came to this address"

    again = await api.post("/api/auth/password/set", json={"token": token, "new_password": "another long password"})
    _refused(again, "used")
    _refused(await api.post("/api/auth/password/set", json={"token": "made-up", "new_password": PASSWORD}), "invalid")
    html = await api.get("/api/auth/password/set", headers={})
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    assert "Choose your password" in html.text


async def test_a_forgotten_password_is_reset_by_mail(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    company = await default_company(api)
    person = await user_with_password(api, company, role="employee")
    await hrms.settle()
    old_session = ok(await login(api, person["email"]))
    before = len(_mails_to(hrms, person["email"]))

    answer = ok(await api.post("/api/auth/password/forgot", json={"email": person["email"].upper()}), 202)
    nobody = ok(await api.post("/api/auth/password/forgot", json={"email": "nobody@example.com"}), 202)
    assert answer == nobody, "the answer does not tell which addresses have accounts"
    ok(await api.post("/api/auth/password/forgot", json={"email": person["email"]}), 202)  # a second, at once
    await hrms.settle()
    mails = _mails_to(hrms, person["email"])
    assert len(mails) == before + 1, "one mail: the second request within a minute sends none"
    assert mails[-1]["Subject"] == "Reset your password"
    _page, token = _link_in(mails[-1])
    assert (await login(api, person["email"])).status_code == 200, "the old password works until the link is used"

    ok(await api.post("/api/auth/password/set", json={"token": token, "new_password": "a brand new password"}), 204)
    assert (await login(api, person["email"])).status_code == 401
    assert (await login(api, person["email"], "a brand new password")).status_code == 200
    stale = await api.post("/api/auth/refresh", json={"refresh_token": old_session["refresh_token"]})
    assert stale.status_code == 401, "every session of the user ended"

    # A link expires; a newer link of the same purpose ends the older one.
    async with hrms["auth"].db.writing(tenant=ACROSS_TENANTS) as session, session.begin():
        await session.execute(
            update(User).where(User.id == uuid.UUID(person["user_id"])).values(reset_requested_at=None)
        )
    ok(await api.post("/api/auth/password/forgot", json={"email": person["email"]}), 202)
    await hrms.settle()
    _page, first = _link_in(_mails_to(hrms, person["email"])[-1])
    async with hrms["auth"].db.writing(tenant=ACROSS_TENANTS) as session, session.begin():
        row = await session.scalar(
            select(PasswordToken).where(PasswordToken.token_hash == hashlib.sha256(first.encode()).hexdigest())
        )
        assert row is not None
        assert row.purpose == "reset"
        assert timedelta(minutes=59) < row.expires_at - row.created_at <= timedelta(hours=1)
        row.expires_at = utcnow() - timedelta(seconds=1)
    _refused(await api.post("/api/auth/password/set", json={"token": first, "new_password": PASSWORD}), "expired")


async def test_only_the_notification_service_makes_links(api: httpx.AsyncClient, hrms: SystemRuntime) -> None:
    company = await default_company(api)
    admin = await user_with_password(api, company, role="admin")
    as_admin = bearer(ok(await login(api, admin["email"]))["access_token"])
    body: dict[str, Any] = {"user_id": admin["user_id"], "purpose": "reset"}
    refused = await api.post("/api/auth/password/links", json=body, headers=as_admin)
    assert refused.status_code == 403
    assert refused.json()["permission"] == "users:invite"
    service_token = hrms["notification"].service_token(company)
    made = ok(await api.post("/api/auth/password/links", json=body, headers=bearer(service_token)), 201)
    assert made["url"].startswith("http://127.0.0.1:8000/api/auth/password/set#token=")
    other_company = await api.post(
        "/api/auth/password/links", json=body, headers=bearer(hrms["notification"].service_token(str(uuid.uuid4())))
    )
    assert other_company.status_code == 404, "another company's user is not even found"
