"""Every route of every service, from the apps themselves (so a new route is covered
the day it is added): no token, a malformed, forged or expired one, a token lacking
the route's permission, another company's ids, oversized and malformed bodies,
SQL-looking strings in every text field. Never a 5xx, never another company's data.
The cross-tenant attempts are counted and printed."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from hrms.contracts import permissions as contract
from isles.runtime.system import SystemRuntime
from isles.security.tokens import IDENTITY_PROVIDER, KeyRing, generate_keys
from tests import security
from tests.hrms.helpers import assign, login, new_company, new_employee, new_project, ok, user_with_password
from tests.security import SQLISH, Example, body_schema, operation, payload, permission_of, routes

pytestmark = [pytest.mark.integration, pytest.mark.services("all")]
PUBLIC = {
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/refresh"),
    ("POST", "/api/auth/password/forgot"),
    ("POST", "/api/auth/password/set"),
    ("GET", "/api/auth/password/set"),
}


@pytest.fixture
async def world(hrms: SystemRuntime, api: httpx.AsyncClient) -> dict[str, Any]:
    """Company A (the caller's) and company B (everything an attempt may name)."""
    a, b = await new_company(api, "Alpha"), await new_company(api, "Beta")
    admin = await user_with_password(api, a["id"], "admin")
    tokens = ok(await login(api, admin["email"]))
    b_admin = await user_with_password(api, b["id"], "admin")
    b_person = await new_employee(api, company_id=b["id"])
    b_dept = ok(await api.post("/api/company/departments", json={"name": "B dept", "company_id": b["id"]}), 201)
    b_team = ok(await api.post("/api/company/teams", json={"name": "B team", "company_id": b["id"]}), 201)
    ok(await api.put(f"/api/company/teams/{b_team['id']}/members/{b_person['id']}", json={}), 201)
    ok(await api.put(f"/api/company/companies/{b['id']}/settings/b.setting", json={"value": "b"}))
    b_project = await new_project(api, "B project", company_id=b["id"])
    b_assignment = ok(await assign(api, b_person, b_project), 201)
    b_session = ok(await login(api, b_admin["email"]))
    await hrms.settle()
    b_task = {"title": "B task", "company_id": b["id"], "assignee_id": b_person["id"]}
    b_task = ok(await api.post("/api/tasks/tasks", json=b_task), 201)
    b_note = ok(await api.get("/api/notification/notifications", params={"user_id": b_person["user_id"]}))["items"][0]
    b_saga = ok(await api.get("/api/employee/sagas", params={"limit": 1}))["items"][0]
    b_sessions = ok(
        await api.get("/api/auth/sessions", headers={"Authorization": f"Bearer {b_session['access_token']}"})
    )
    # Company B's leave (issue 17): a type, a holiday and a pending request of b_person.
    b_type = ok(await api.post("/api/leave/leave-types", json={"company_id": b["id"], "name": "B leave"}), 201)
    b_holiday = ok(
        await api.post("/api/leave/holidays", json={"company_id": b["id"], "name": "B day", "day": "2030-01-01"}), 201
    )
    leave_ask = {"employee_id": b_person["id"], "leave_type_id": b_type["id"], "year": 2030, "days": "5"}
    ok(await api.post("/api/leave/allocations", json=leave_ask), 201)
    leave_ask = {k: v for k, v in leave_ask.items() if k in ("employee_id", "leave_type_id")}
    b_leave = ok(
        await api.post("/api/leave/requests", json={**leave_ask, "start_date": "2030-03-04", "end_date": "2030-03-04"}),
        201,
    )
    # Company B's document (issue 19) of b_person, and a grant on it.
    b_doc = ok(
        await api.post(
            "/api/document/documents",
            data={"company_id": b["id"], "title": "B doc", "category": "contract", "employee_id": b_person["id"]},
            files={"file": ("b.pdf", b"%PDF-1.7\nB\n", "application/pdf")},
        ),
        201,
    )
    b_grant = ok(
        await api.post(
            f"/api/document/documents/{b_doc['id']}/permissions", json={"access": "read", "role": "employee"}
        ),
        201,
    )
    # Company B's contract (issue 19): a draft of b_person's.
    b_contract = {
        "company_id": b["id"],
        "employee_id": b_person["id"],
        "contract_type": "permanent",
        "start_date": "2030-01-01",
        "weekly_hours": "40",
        "salary": "50000.00",
        "currency": "EUR",
        "position": "B position",
    }
    b_contract = ok(await api.post("/api/contract/contracts", json=b_contract), 201)
    # Company B's report (issue 23) and a run of it.
    b_report = ok(await api.post(f"/api/analytics/companies/{b['id']}/reports", json={"name": "B report"}), 201)
    b_run = ok(await api.post(f"/api/analytics/companies/{b['id']}/reports/{b_report['id']}/runs"), 201)
    ids = {
        "company_id": b["id"],
        "employee_id": b_person["id"],
        "user_id": b_person["user_id"],
        "department_id": b_dept["id"],
        "team_id": b_team["id"],
        "project_id": b_project["id"],
        "assignment_id": b_assignment["id"],
        "notification_id": b_note["id"],
        "saga_id": b_saga["id"],
        "session_id": b_sessions[0]["id"],
        "task_id": b_task["id"],
        "leave_type_id": b_type["id"],
        "holiday_id": b_holiday["id"],
        "request_id": b_leave["id"],
        "document_id": b_doc["id"],
        "grant_id": b_grant["id"],
        "contract_id": b_contract["id"],
        "report_id": b_report["id"],
        "run_id": b_run["id"],
    }
    return {"a": a["id"], "b": b["id"], "admin": admin, "tokens": tokens, "ids": ids}


def fill(path: str, values: dict[str, str]) -> str:
    key = "welcome" if "/templates/" in path else "b.setting"
    return security.fill(path, {"key": key, "number": "1", **values})  # number: a document's version


async def test_every_route_refuses_bad_callers_and_other_companies(
    hrms: SystemRuntime, api: httpx.AsyncClient, world: dict[str, Any], tmp_path: Path, record_property: Any
) -> None:
    signer = hrms["auth"].keys.signer(IDENTITY_PROVIDER, ttl=300)
    generate_keys(tmp_path, [IDENTITY_PROVIDER])
    forger = KeyRing.load(tmp_path, signers=[IDENTITY_PROVIDER]).signer(IDENTITY_PROVIDER, ttl=300)
    admin, a = world["admin"], world["a"]
    sid = uuid.UUID(json.loads(payload(world["tokens"]["access_token"]))["sid"])
    everything = sorted({*contract.MATRIX, *contract.OPERATOR_ONLY, *contract.SERVICE_ONLY})

    def token(perms: list[str], *, by: Any = signer, now: float | None = None) -> dict[str, str]:
        t = by.issue(subject=admin["user_id"], tenant=a, roles=["admin"], permissions=perms, session_id=sid, now=now)
        return {"Authorization": f"Bearer {t}"}

    as_admin = {"Authorization": f"Bearer {world['tokens']['access_token']}"}
    bad_tokens = {
        "none": {"Authorization": ""},
        "malformed": {"Authorization": "Bearer not.a.jwt"},
        "forged": token(everything, by=forger),
        "expired": token(everything, now=0),
    }
    random_ids = {k: str(uuid.uuid4()) for k in world["ids"]}
    before = await snapshot(api, world)
    counts = {"routes": 0, "bad_token": 0, "no_permission": 0, "cross_tenant": 0, "bodies": 0}
    for _service, route, doc in routes(hrms):
        for method in sorted(route.methods):
            url = f"/api/{_service}{route.path}"
            if (method, url) in PUBLIC:
                continue
            counts["routes"] += 1
            op = operation(doc, route, method)
            schema = body_schema(op)
            example = Example(doc)
            body = example.value(schema) if schema else None
            where = f"{method} {url}"
            for kind, headers in bad_tokens.items():
                r = await api.request(method, fill(url, random_ids), json=body, headers=headers)
                assert r.status_code == 401, f"{where} with {kind} token: {r.status_code} {r.text}"
                counts["bad_token"] += 1
            needed = permission_of(route)
            if needed is None:  # the caller's own things (logout, /me, sessions): a live token is enough
                assert _service == "auth", f"{where} checks no permission"
            else:
                r = await api.request(
                    method, fill(url, random_ids), json=body, headers=token([p for p in everything if p != needed])
                )
                assert r.status_code == 403, f"{where} without {needed}: {r.status_code} {r.text}"
                assert r.json()["permission"] == needed
                counts["no_permission"] += 1

            # Another company's ids, as company A's admin: 404 (or the operator-only 403).
            may = needed is None or needed in contract.permissions_of(frozenset({"admin"}))
            if any(f"{{{name}}}" in route.path for name in world["ids"]):
                r = await api.request(method, fill(url, world["ids"]), json=body, headers=as_admin)
                expected = 404 if may else 403
                assert r.status_code == expected, f"{where} with company B's ids: {r.status_code} {r.text}"
                counts["cross_tenant"] += 1
            elif method == "GET" and may:
                r = await api.get(url, headers=as_admin)
                assert r.status_code == 200, f"{where}: {r.text}"
                leaked = [k for k, v in world["ids"].items() if v in r.text and k != "saga_id"]
                assert not leaked, f"{where} shows company B's {leaked}"
                counts["cross_tenant"] += 1
            if schema and "company_id" in example.resolve(schema).get("properties", {}) and may:
                named = {**example.value(schema), "company_id": world["b"]}
                r = await api.request(method, fill(url, {}), json=named, headers=as_admin)
                assert r.status_code == 422, f"{where} naming company B: {r.status_code} {r.text}"
                assert "company_id" in [e["field"] for e in r.json()["errors"]]
                counts["cross_tenant"] += 1

            # Bodies: malformed, oversized, SQL-looking strings. Never a 5xx.
            if schema and may:
                target = fill(url, random_ids)
                r = await api.request(
                    method, target, content=b'{"unclosed": ', headers={**as_admin, "content-type": "application/json"}
                )
                assert r.status_code in (400, 422), f"{where} malformed JSON: {r.status_code}"
                assert r.headers["content-type"] == "application/problem+json"
                r = await api.request(
                    method,
                    target,
                    content=b"[" + b"1," * 600_000 + b"1]",
                    headers={**as_admin, "content-type": "application/json"},
                )
                assert r.status_code == 413, f"{where} oversized: {r.status_code}"
                r = await api.request(method, target, json=example.strings(schema, SQLISH), headers=as_admin)
                assert r.status_code < 500, f"{where} SQL-looking text: {r.status_code} {r.text}"
                counts["bodies"] += 3
    assert await snapshot(api, world) == before, "company B is unchanged"
    assert counts["routes"] >= 60
    backend = "postgresql" if hrms.settings.database_url else "sqlite"
    record_property(
        "summary",
        f"security matrix ({backend}): {counts['routes']} routes; {counts['bad_token']} bad-token, "
        f"{counts['no_permission']} missing-permission, {counts['cross_tenant']} cross-tenant and "
        f"{counts['bodies']} bad-body attempts, all refused",
    )


async def snapshot(api: httpx.AsyncClient, world: dict[str, Any]) -> dict[str, Any]:
    ids = world["ids"]
    paths = [
        f"/api/company/companies/{ids['company_id']}",
        f"/api/company/companies/{ids['company_id']}/settings",
        f"/api/company/departments/{ids['department_id']}",
        f"/api/company/teams/{ids['team_id']}",
        f"/api/company/teams/{ids['team_id']}/members",
        f"/api/employee/employees/{ids['employee_id']}",
        f"/api/employee/employees/{ids['employee_id']}/profile",
        f"/api/auth/users/{ids['user_id']}",
        f"/api/project/projects/{ids['project_id']}",
        f"/api/project/assignments/{ids['assignment_id']}",
        f"/api/notification/notifications/{ids['notification_id']}",
        f"/api/tasks/tasks/{ids['task_id']}",
        f"/api/leave/leave-types/{ids['leave_type_id']}",
        f"/api/leave/requests/{ids['request_id']}",
        f"/api/document/documents/{ids['document_id']}",
        f"/api/document/documents/{ids['document_id']}/permissions",
        f"/api/contract/contracts/{ids['contract_id']}",
        f"/api/contract/contracts/{ids['contract_id']}/history",
        f"/api/analytics/companies/{ids['company_id']}/reports",
        f"/api/analytics/companies/{ids['company_id']}/reports/{ids['report_id']}/runs",
    ]
    return {p: ok(await api.get(p)) for p in paths}
