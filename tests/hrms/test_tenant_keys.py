"""Business keys are unique in a company, not across companies (issue 16, finding 3):
company A can use employee number "E-1" and an address that company B uses, and a
conflict is reported only within the caller's company. Logins are company-scoped:
an address may have an account in several companies (see docs/security.md)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.hrms.helpers import PASSWORD, bearer, login, new_company, new_employee, ok

pytestmark = pytest.mark.integration


async def test_two_companies_may_use_the_same_employee_number_and_email(api: httpx.AsyncClient) -> None:
    a, b = await new_company(api, "Alpha"), await new_company(api, "Beta")
    email = f"same.{uuid.uuid4().hex[:8]}@example.com"
    in_a = await new_employee(api, company_id=a["id"], employee_number="E-1", email=email)
    in_b = await new_employee(api, company_id=b["id"], employee_number="E-1", email=email)
    assert in_a["id"] != in_b["id"]
    assert in_a["user_id"] != in_b["user_id"]

    # Within one company both stay unique, and the conflict names the field.
    again = {
        "employee_number": "E-1",
        "company_id": a["id"],
        "first_name": "Dup",
        "last_name": "Licate",
        "email": f"other.{uuid.uuid4().hex[:8]}@example.com",
        "hire_date": "2024-01-01",
    }
    r = await api.post("/api/employee/employees", json=again)
    assert r.status_code == 409, r.text
    assert r.json()["errors"][0]["field"] == "employee_number"
    r = await api.post("/api/employee/employees", json={**again, "employee_number": "E-2", "email": email})
    assert r.status_code == 409, r.text
    assert r.json()["errors"][0]["field"] == "email"


async def test_a_login_in_each_company_with_the_same_address(api: httpx.AsyncClient) -> None:
    a, b = await new_company(api, "Gamma"), await new_company(api, "Delta")
    email = f"twice.{uuid.uuid4().hex[:8]}@example.com"
    in_a = await new_employee(api, company_id=a["id"], email=email, roles=["admin"])
    in_b = await new_employee(api, company_id=b["id"], email=email, roles=["admin"])
    ok(await api.post(f"/api/auth/users/{in_a['user_id']}/password", json={"new_password": PASSWORD}), 204)
    ok(await api.post(f"/api/auth/users/{in_b['user_id']}/password", json={"new_password": PASSWORD + "-b"}), 204)

    # The password says which account: each logs in to its own company.
    token_a = ok(await login(api, email))["access_token"]
    token_b = ok(await login(api, email, PASSWORD + "-b"))["access_token"]
    me_a = ok(await api.get("/api/auth/me", headers=bearer(token_a)))
    me_b = ok(await api.get("/api/auth/me", headers=bearer(token_b)))
    assert (me_a["user"]["company_id"], me_b["user"]["company_id"]) == (a["id"], b["id"])

    # The same password on both: the caller, having proved it for both, picks one.
    ok(await api.post(f"/api/auth/users/{in_b['user_id']}/password", json={"new_password": PASSWORD}), 204)
    r = await login(api, email)
    assert r.status_code == 409, r.text
    problem = r.json()
    assert problem["errors"][0]["field"] == "company_id"
    assert {c["id"] for c in problem["companies"]} == {a["id"], b["id"]}
    r = await api.post(
        "/api/auth/login", json={"email": email, "password": PASSWORD, "company_id": b["id"]}, headers={}
    )
    me = ok(await api.get("/api/auth/me", headers=bearer(ok(r)["access_token"])))
    assert me["user"]["company_id"] == b["id"]

    # A wrong password says nothing of how many accounts the address has.
    one = await login(api, f"only.{uuid.uuid4().hex[:8]}@example.com", "wrong-password-1")
    two = await login(api, email, "wrong-password-1")
    assert one.status_code == two.status_code == 401
    assert one.json()["detail"] == two.json()["detail"]
