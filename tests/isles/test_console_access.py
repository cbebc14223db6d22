"""The console's access rules over HTTP (issue 22), on SQLite and PostgreSQL: only the
operator gets in; a browser signs in with the token and gets an HttpOnly, SameSite=Strict
cookie; every POST needs the session's CSRF token; refusals, sign-ins and actions are
security events."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from isles.runtime.system import SystemRuntime
from isles.security.events import read
from isles.service.declaration import System
from tests.isles import toy
from tests.support import Backend

pytestmark = pytest.mark.integration


@pytest.fixture
async def runtime(backend: Backend) -> AsyncIterator[SystemRuntime]:
    # ``source`` logs users in (as ``auth`` does in the HR system): its tokens are users'
    system = toy.build()
    rt = SystemRuntime(
        System(name=system.name, services=system.services, identity_provider="source"), backend.settings, environ={}
    )
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop()
        backend.drop_later(rt.services)


def company_admin(rt: SystemRuntime) -> str:
    """A company administrator's token (every role a company has; a user token)."""
    return rt.keys.signer("source", ttl=600).issue(
        subject=str(uuid.uuid4()), tenant=uuid.uuid4(), roles=["admin", "hr"], permissions=["companies:read"]
    )


async def signed_in(rt: SystemRuntime) -> tuple[httpx.AsyncClient, str]:
    client = rt.client(None)
    answer = await client.post("/console/login", data={"token": rt.operator_token(), "next": "/console/"})
    assert answer.status_code == 303, answer.text
    page = await client.get("/console/")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return client, found.group(1)


def events(rt: SystemRuntime) -> list[dict[str, object]]:
    return [e for e in read(Path(rt.settings.security_log_target())) if str(e["event"]).startswith("console.")]


async def test_without_a_session_the_pages_send_to_the_sign_in_and_the_json_is_401(runtime: SystemRuntime) -> None:
    async with runtime.client(None) as client:
        page = await client.get("/console/?refresh=no")
        assert page.status_code == 303
        assert page.headers["location"] == "/console/login?next=/console/%3Frefresh%3Dno"
        data = await client.get("/console/overview.json")
        assert data.status_code == 401
        assert data.json()["reason"] == "missing_token"
        login = await client.get("/console/login")
        assert login.status_code == 200
        assert 'type="password"' in login.text
        assert "sink" not in login.text, "the sign-in page shows nothing of the system"
    refused = [e for e in events(runtime) if e["event"] == "console.refused"]
    assert {e["reason"] for e in refused} == {"missing_token"}
    assert {e["path"] for e in refused} == {"/console/", "/console/overview.json"}


async def test_a_company_admin_is_refused_with_a_403_page_and_no_data(runtime: SystemRuntime) -> None:
    token = company_admin(runtime)
    async with runtime.client(None) as client:
        answer = await client.post("/console/login", data={"token": token})
        assert answer.status_code == 403
        assert "Forbidden" in answer.text
        assert "not enough" in answer.text
        assert "set-cookie" not in answer.headers
        for name in ("source", "sink"):
            assert f">{name}<" not in answer.text
        as_bearer = await client.get("/console/", headers={"Authorization": f"Bearer {token}"})
        assert as_bearer.status_code == 403
        assert as_bearer.json()["reason"] == "not_operator"
        data = await client.get("/console/overview.json", headers={"Authorization": f"Bearer {token}"})
        assert data.status_code == 403
        assert "services" not in data.json()
        service = runtime["sink"].service_token()
        assert service is not None
        assert (await client.post("/console/login", data={"token": service})).status_code == 403
        forged = await client.post("/console/login", data={"token": token[:-4] + "AAAA"})
        assert forged.status_code == 401
        assert "Not signed in" in forged.text
    refused = [e for e in events(runtime) if e["event"] == "console.refused"]
    assert [e["reason"] for e in refused] == ["not_operator"] * 4 + ["invalid_token"]
    assert all(e["ip"] for e in refused)
    assert refused[0]["actor"] != "operator"
    assert refused[0]["company"], "a company admin's refusal names the admin and the company"
    assert token not in str(read(Path(runtime.settings.security_log_target())))


async def test_the_operator_signs_in_with_a_strict_http_only_cookie(runtime: SystemRuntime) -> None:
    async with runtime.client(None) as client:
        answer = await client.post("/console/login", data={"token": runtime.operator_token(), "next": "/console/map/"})
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/map/"
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert "Path=/console" in cookie
        assert "Secure" not in cookie, "over plain http a Secure cookie would never come back"
        assert runtime.operator_token() not in cookie, "the token stays out of the browser"
        page = await client.get("/console/")
        assert page.status_code == 200
        assert "sink" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"
        data = (await client.get("/console/overview.json")).json()
        assert [s["name"] for s in data["services"]] == ["source", "sink"]
        # Elsewhere than the console: no redirect off the site after signing in.
        away = await client.post("/console/login", data={"token": runtime.operator_token(), "next": "//evil.example/"})
        assert away.headers["location"] == "/console/"
    async with runtime.client(None) as client:
        over_https = await client.post(
            "/console/login", data={"token": runtime.operator_token()}, headers={"X-Forwarded-Proto": "https"}
        )
        assert "Secure" in over_https.headers["set-cookie"]
    assert [e["event"] for e in events(runtime)].count("console.signed_in") == 3


async def test_a_post_needs_the_session_csrf_token_and_the_same_origin(runtime: SystemRuntime) -> None:
    client, csrf = await signed_in(runtime)
    try:
        assert (await client.post("/console/logout", data={})).status_code == 403
        assert (await client.post("/console/logout", data={"csrf": "x" + csrf})).status_code == 403
        other = await client.post("/console/logout", data={"csrf": csrf}, headers={"Origin": "https://evil.example"})
        assert other.status_code == 403
        assert (await client.get("/console/")).status_code == 200, "still signed in"
        out = await client.post("/console/logout", data={"csrf": csrf}, headers={"Origin": "http://gateway"})
        assert out.status_code == 303
        assert (await client.get("/console/")).status_code == 303, "signed out: the session is gone"
    finally:
        await client.aclose()
    reasons = [e["reason"] for e in events(runtime) if e["event"] == "console.refused"]
    assert reasons[:3] == ["csrf", "csrf", "cross_origin"]
    async with runtime.client(None) as client:
        forged = await client.post(
            "/console/login", data={"token": runtime.operator_token()}, headers={"Origin": "https://evil.example"}
        )
        assert forged.status_code == 403
        assert "set-cookie" not in forged.headers
    assert [e["reason"] for e in events(runtime) if e["event"] == "console.refused"][-1] == "cross_origin"
    assert "console.signed_out" in [e["event"] for e in events(runtime)]


async def test_a_service_process_serves_the_console_of_its_own_services(backend: Backend) -> None:
    """Distributed mode: each ``isles run`` process's gateway has a console for the
    services it runs (the operator's public key is enough to let the operator in)."""
    from tests.support import operator_headers

    system = toy.build()
    rt = SystemRuntime(system, backend.settings, environ={}, only=["sink"])
    await rt.start()
    try:
        headers = operator_headers(backend.settings.keys_dir or backend.settings.data_dir / "keys")
        async with rt.client(None) as client:
            data = await client.get("/console/overview.json", headers=headers)
            assert data.status_code == 200, data.text
            assert [s["name"] for s in data.json()["services"]] == ["sink"]
            page = await client.get("/console/map/", headers=headers)
            assert "source" in page.text, "the data map is the whole system's (its declarations)"
    finally:
        await rt.stop()
        backend.drop_later(["sink"])
