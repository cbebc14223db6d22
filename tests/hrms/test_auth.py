"""Logins and the first security checks, on SQLite and PostgreSQL: sessions, refresh
rotation, logout, throttling, and tokens that must not work."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from isles.runtime.system import SystemRuntime
from isles.security.tokens import IDENTITY_PROVIDER, OPERATOR, KeyRing, generate_keys
from tests.hrms.helpers import bearer, login, new_company, new_employee, ok, user_with_password

pytestmark = pytest.mark.integration


async def test_login_refresh_rotates_and_logout_ends_the_session(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    company = await new_company(api, "Login Co")
    admin = await user_with_password(api, company["id"])
    tokens = ok(await login(api, admin["email"]))
    me = ok(await api.get("/api/auth/me", headers=bearer(tokens["access_token"])))
    assert me["user"]["id"] == admin["user_id"]
    assert "users:write" in me["permissions"]

    renewed = ok(await api.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]}))
    again = await api.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 401, "a refresh token works once"

    ok(await api.post("/api/auth/logout", headers=bearer(renewed["access_token"])), 204)
    assert (await api.post("/api/auth/refresh", json={"refresh_token": renewed["refresh_token"]})).status_code == 401
    assert (await api.get("/api/auth/me", headers=bearer(renewed["access_token"]))).status_code == 401


async def test_repeated_wrong_passwords_lock_the_account(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    company = await new_company(api, "Throttle Co")
    user = await user_with_password(api, company["id"], "employee")
    limit = hrms.settings.login.max_failures
    for _ in range(limit):
        assert (await login(api, user["email"], "wrong password!")).status_code == 401
    locked = await login(api, user["email"])
    assert locked.status_code == 429, "even the right password waits"
    assert int(locked.headers["Retry-After"]) > 0
    assert (await login(api, "nobody@example.com")).status_code == 401


async def test_bad_tokens_are_refused(hrms: SystemRuntime, api: httpx.AsyncClient, tmp_path: Any) -> None:
    company = await new_company(api, "Token Co")
    admin = await user_with_password(api, company["id"])
    path = "/api/employee/employees"
    assert (await api.get(path, headers={"Authorization": ""})).status_code == 401
    assert (await api.get(path, headers=bearer("not-a-jwt"))).status_code == 401
    # Signed by a key nobody trusts, claiming to be the identity provider.
    generate_keys(tmp_path, [IDENTITY_PROVIDER])
    forged = KeyRing.load(tmp_path, signers=[IDENTITY_PROVIDER]).signer(IDENTITY_PROVIDER, ttl=60)
    token = forged.issue(subject=admin["user_id"], tenant=company["id"], roles=["admin"], permissions=["*"])
    r = await api.get(path, headers=bearer(token))
    assert r.status_code == 401
    real = hrms["auth"].keys.signer(IDENTITY_PROVIDER, ttl=60)
    expired = real.issue(subject=admin["user_id"], tenant=company["id"], permissions=["employees:read"], now=0)
    r = await api.get(path, headers=bearer(expired))
    assert r.status_code == 401
    assert r.json()["type"].endswith("expired-token")
    # A service key cannot speak for the operator.
    as_operator = hrms["employee"].keys.signer("employee", ttl=60).issue(subject="operator", tenant=None)
    assert (await api.get(path, headers=bearer(as_operator))).status_code == 401
    assert OPERATOR in hrms.keys.private


async def test_a_company_sees_only_its_own_records(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    mine, theirs = await new_company(api, "Mine"), await new_company(api, "Theirs")
    admin = await user_with_password(api, mine["id"])
    stranger = await new_employee(api, company_id=theirs["id"])
    token = bearer(ok(await login(api, admin["email"]))["access_token"])
    assert (await api.get(f"/api/employee/employees/{stranger['id']}", headers=token)).status_code == 404
    assert (await api.get(f"/api/company/companies/{theirs['id']}", headers=token)).status_code == 404
    assert (await api.get(f"/api/auth/users/{stranger['user_id']}", headers=token)).status_code == 404
    listed = ok(await api.get("/api/employee/employees", headers=token))
    assert {e["company_id"] for e in listed["items"]} == {mine["id"]}
    r = await api.patch(f"/api/employee/employees/{stranger['id']}", json={"last_name": "X"}, headers=token)
    assert r.status_code == 404
    body = {"name": "Sneaky", "client": "C", "capacity": 1, "company_id": theirs["id"]}
    r = await api.post("/api/project/projects", json=body, headers=token)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "company_id"


async def test_an_employee_sees_only_themself_and_cannot_write(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    company = await new_company(api, "Roles Co")
    worker = await user_with_password(api, company["id"], "employee")
    colleague = await new_employee(api, company_id=company["id"])
    token = bearer(ok(await login(api, worker["email"]))["access_token"])
    listed = ok(await api.get("/api/employee/employees", headers=token))
    assert [e["id"] for e in listed["items"]] == [worker["id"]]
    assert (await api.get(f"/api/employee/employees/{colleague['id']}", headers=token)).status_code == 404
    r = await api.post(f"/api/employee/employees/{colleague['id']}/deactivate", headers=token)
    assert r.status_code == 403
    assert r.json()["permission"] == "employees:write"
