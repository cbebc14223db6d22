"""Who reads and writes which document, on SQLite and PostgreSQL: admins every
document of their company; an employee their own (and writes their own of the
categories owners write); a manager their reports' of the categories managers read;
grants to an employee, a role or a department; another company's documents are not
there (404), nor are those a caller may not read."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest

from isles.runtime.system import SystemRuntime
from tests.hrms.document.helpers import DOCS, PDF, new_version, office, upload
from tests.hrms.helpers import ok

pytestmark = [pytest.mark.integration, pytest.mark.services("document")]


async def reads(api: httpx.AsyncClient, headers: dict[str, str], doc: dict[str, Any]) -> bool:
    """Whether the caller reads the document: its content, and it in their list."""
    r = await api.get(f"{DOCS}/{doc['id']}/content", headers=headers)
    listed = doc["id"] in {d["id"] for d in ok(await api.get(DOCS, headers=headers))["items"]}
    assert (r.status_code == 200) == listed, "the list shows what a caller reads, and only that"
    assert r.status_code in (200, 404), r.text
    return r.status_code == 200


async def writes(api: httpx.AsyncClient, headers: dict[str, str], doc: dict[str, Any]) -> int:
    return (
        await new_version(api, headers, doc["id"], PDF + b"\n" + headers["Authorization"][-8:].encode())
    ).status_code


async def test_owner_manager_and_categories(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    o = await office(hrms, api)
    docs = {
        c: ok(await upload(api, o.as_admin, category=c, title=c, employee_id=o.worker["id"]), 201)
        for c in ("contract", "id", "payslip", "certificate")
    }
    for c, doc in docs.items():
        assert await reads(api, o.as_admin, doc)
        assert await reads(api, o.as_worker, doc), f"the owner reads their {c}"
        assert not await reads(api, o.as_colleague, doc), f"a colleague does not read another's {c}"
    assert [await reads(api, o.as_manager, docs[c]) for c in ("contract", "id", "payslip", "certificate")] == [
        True,
        False,
        False,
        True,
    ], "the manager reads their report's contract and certificate, not their id papers or payslip"
    # Writing: the owner their certificate and id papers, never their contract or payslip
    assert await writes(api, o.as_worker, docs["certificate"]) == 201
    assert await writes(api, o.as_worker, docs["id"]) == 201
    assert await writes(api, o.as_worker, docs["contract"]) == 403, "read, not written: 403"
    assert await writes(api, o.as_manager, docs["contract"]) == 403
    assert await writes(api, o.as_colleague, docs["contract"]) == 404, "not read: not there"
    assert await writes(api, o.as_admin, docs["payslip"]) == 201
    patch = await api.patch(f"{DOCS}/{docs['certificate']['id']}", json={"category": "payslip"}, headers=o.as_worker)
    assert patch.status_code == 403, "only an admin changes a category"
    # Creating: an employee their own documents of an owner-written category only
    mine = ok(await upload(api, o.as_worker, category="certificate", title="First aid"), 201)
    assert mine["employee_id"] == o.worker["id"]
    assert (await upload(api, o.as_worker, category="payslip", content=PDF + b"refused")).status_code == 403
    stored = {p.name for p in (hrms["document"].settings.data_dir / "blobs").rglob("*") if p.is_file()}
    assert hashlib.sha256(PDF + b"refused").hexdigest() not in stored, "refused before the file was read"
    other = await upload(api, o.as_worker, category="certificate", employee_id=o.colleague["id"])
    assert other.status_code == 403
    assert (await api.delete(f"{DOCS}/{mine['id']}", headers=o.as_colleague)).status_code == 404
    ok(await api.delete(f"{DOCS}/{mine['id']}", headers=o.as_worker), 204)


async def test_grants_to_an_employee_a_role_and_a_department(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    o = await office(hrms, api)
    policy = ok(await upload(api, o.as_admin, category="policy", title="Handbook"), 201)  # the company's
    path = f"{DOCS}/{policy['id']}/permissions"
    assert not await reads(api, o.as_worker, policy), "a company document: admins only until granted"
    assert not await reads(api, o.as_manager, policy)

    by_role = ok(await api.post(path, json={"access": "read", "role": "manager"}, headers=o.as_admin), 201)
    assert await reads(api, o.as_manager, policy)
    assert not await reads(api, o.as_worker, policy)
    assert await writes(api, o.as_manager, policy) == 403, "read only"

    ok(await api.post(path, json={"access": "write", "department_id": o.department}, headers=o.as_admin), 201)
    assert await reads(api, o.as_colleague, policy), "the colleague is in the department"
    assert await writes(api, o.as_colleague, policy) == 201
    assert not await reads(api, o.as_worker, policy)

    person = ok(await api.post(path, json={"access": "read", "employee_id": o.worker["id"]}, headers=o.as_admin), 201)
    assert await reads(api, o.as_worker, policy)
    grants = ok(await api.get(path, headers=o.as_admin))
    assert {(g["role"], g["department_id"], g["employee_id"]) for g in grants} == {
        ("manager", None, None),
        (None, o.department, None),
        (None, None, o.worker["id"]),
    }
    ok(await api.delete(f"{path}/{person['id']}", headers=o.as_admin), 204)
    ok(await api.delete(f"{path}/{by_role['id']}", headers=o.as_admin), 204)
    assert not await reads(api, o.as_worker, policy)
    assert not await reads(api, o.as_manager, policy)
    # Only admins manage grants; a grant names exactly one grantee
    assert (await api.get(path, headers=o.as_colleague)).status_code == 403
    two = await api.post(
        path, json={"access": "read", "role": "employee", "employee_id": o.worker["id"]}, headers=o.as_admin
    )
    assert two.status_code == 422


async def test_another_company_is_not_there(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    a = await office(hrms, api, "Alpha")
    b = await office(hrms, api, "Beta")
    theirs = ok(await upload(api, b.as_admin, employee_id=b.worker["id"]), 201)
    for path in ("", "/content", "/versions", "/versions/1/content", "/history", "/permissions"):
        r = await api.get(f"{DOCS}/{theirs['id']}{path}", headers=a.as_admin)
        assert r.status_code == 404, (path, r.text)
    assert (await new_version(api, a.as_admin, theirs["id"])).status_code == 404
    assert (await api.patch(f"{DOCS}/{theirs['id']}", json={"title": "x"}, headers=a.as_admin)).status_code == 404
    assert (await api.delete(f"{DOCS}/{theirs['id']}", headers=a.as_admin)).status_code == 404
    assert ok(await api.get(DOCS, headers=a.as_admin))["items"] == []
    other = await upload(api, a.as_admin, employee_id=b.worker["id"])
    assert other.status_code == 422, "another company's employee is unknown here"
