"""The security events log (issue 16): logins, failures, lockouts, refused tokens,
denied permissions, role and password changes — as JSON lines with who, what, when
and from where, and never a password or a token."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from isles.runtime.system import SystemRuntime
from isles.security.events import EVENTS, SecurityLog, read
from tests.hrms.helpers import PASSWORD, bearer, headers_of, login, new_company, ok, user_with_password

pytestmark = pytest.mark.integration


async def test_logins_denials_and_changes_are_recorded_without_secrets(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    log_file = Path(hrms.settings.security_log_target())
    company = (await new_company(api, "Logged"))["id"]
    admin = await user_with_password(api, company, role="admin")
    worker = await user_with_password(api, company, role="employee")

    ok(await login(api, admin["email"]))
    tokens = []
    for _ in range(hrms.settings.login.max_failures):  # the last one locks the account
        r = await login(api, worker["email"], "not-the-password-1")
        assert r.status_code == 401
    r = await login(api, worker["email"])
    assert r.status_code == 429  # locked, whatever the password
    await login(api, "nobody@example.com", "whatever-password")

    refused = await api.get("/api/employee/employees", headers=bearer("not.a.jwt"))
    assert refused.status_code == 401
    employee_headers = await headers_of(api, admin)  # a fresh login of the admin
    as_admin = employee_headers
    r = await api.put(f"/api/auth/users/{worker['user_id']}/roles", json={"roles": ["manager"]}, headers=as_admin)
    assert r.status_code == 200, r.text
    tokens.append(as_admin["Authorization"])
    r = await api.post(
        f"/api/auth/users/{worker['user_id']}/password", json={"new_password": PASSWORD + "-new"}, headers=as_admin
    )
    assert r.status_code == 204, r.text

    # A plain employee asking for what only admins may.
    other = await user_with_password(api, company, role="employee")
    denied = await api.post("/api/company/companies", json={"name": "Nope"}, headers=await headers_of(api, other))
    assert denied.status_code == 403

    entries = read(log_file)
    kinds = [e["event"] for e in entries]
    for expected in (
        "login.succeeded",
        "login.failed",
        "login.locked",
        "login.throttled",
        "token.refused",
        "roles.changed",
        "password.changed",
        "permission.denied",
    ):
        assert expected in kinds, (expected, kinds)
    assert set(kinds) <= set(EVENTS)
    for e in entries:
        assert {"time", "event", "service", "actor", "company", "ip"} <= set(e), e
        assert e["time"].endswith("Z")

    locked = next(e for e in entries if e["event"] == "login.locked")
    assert (locked["actor"], locked["user"], locked["company"]) == (worker["email"], worker["user_id"], company)
    assert locked["service"] == "auth"
    unknown = [e for e in entries if e["event"] == "login.failed" and e["actor"] == "nobody@example.com"]
    assert unknown
    assert unknown[0]["reason"] == "unknown address"
    roles = next(e for e in entries if e["event"] == "roles.changed")
    assert (roles["user"], roles["before"], roles["after"]) == (worker["user_id"], ["employee"], ["manager"])
    assert roles["actor"] == admin["user_id"]
    assert next(e for e in entries if e["event"] == "permission.denied")["permission"] == "companies:create"

    text = log_file.read_text()  # noqa: ASYNC240 - a small file the test just wrote
    for secret in (PASSWORD, "not-the-password-1", PASSWORD + "-new", "whatever-password", *tokens):
        assert secret not in text, "no password or token in the security log"


def test_a_field_that_may_hold_a_secret_is_refused(tmp_path: Path) -> None:
    log = SecurityLog(tmp_path / "s.jsonl", service="auth")
    with pytest.raises(ValueError, match="may hold a secret"):
        log.record("login.failed", actor="a@example.com", password="x")
    with pytest.raises(ValueError, match="unknown security event"):
        log.record("login.maybe")
    log.record("login.failed", actor="a@example.com", reason="wrong password")
    log.close()
    log.record("login.failed", actor="b@example.com", reason="wrong password")  # opens again
    log.close()
    assert [e["actor"] for e in read(tmp_path / "s.jsonl")] == ["a@example.com", "b@example.com"]
