"""An employee's change history (issue 19), on SQLite and PostgreSQL: every change
of salary, position, department or manager keeps the previous version with its
period, who changed it and why; the API gives one employee's history and the
employee as of a moment; a refused change leaves none; the history is as private as
the employee."""

from __future__ import annotations

import httpx
import pytest

from isles.runtime.system import SystemRuntime
from tests.hrms.helpers import default_company, headers_of, new_employee, ok, user_with_password

pytestmark = pytest.mark.integration


async def test_every_change_keeps_the_previous_version_and_as_of_reads_it(
    api: httpx.AsyncClient, hrms: SystemRuntime
) -> None:
    ada = await new_employee(api, "Ada", "Lovelace", position="Engineer", salary=80000)
    path = f"/api/employee/employees/{ada['id']}"
    first = ok(await api.patch(path, json={"position": "Senior Engineer", "salary": 90000}))
    boss = await new_employee(api, "Grace", "Hopper", company_id=ada["company_id"])
    second = ok(await api.patch(path, json={"manager_id": boss["id"]}, headers={"x-request-id": "req-77"}))

    versions = ok(await api.get(f"{path}/history"))["items"]
    salaries = [None if v["employee"]["salary"] is None else float(v["employee"]["salary"]) for v in versions]
    assert salaries == [80000, 90000, 90000]
    assert [(v["employee"]["position"], v["employee"]["manager_id"]) for v in versions] == [
        ("Engineer", None),
        ("Senior Engineer", None),
        ("Senior Engineer", boss["id"]),
    ]
    assert [v["operation"] for v in versions] == ["update", "update", None]
    assert versions[1]["change_reason"] == "req-77"
    assert versions[0]["changed_by"] == versions[1]["changed_by"] == "operator:operator"
    # The periods follow one another without a gap; the last one is open.
    assert versions[0]["valid_to"] == versions[1]["valid_from"]
    assert versions[1]["valid_to"] == versions[2]["valid_from"]
    assert versions[2]["valid_to"] is None
    assert [v["employee"]["version"] for v in versions] == [ada["version"], first["version"], second["version"]]

    between = versions[1]["valid_from"]
    then = ok(await api.get(path, params={"as_of": between}))
    assert (then["position"], then["manager_id"]) == ("Senior Engineer", None)
    assert ok(await api.get(path, params={"as_of": versions[0]["valid_from"]}))["position"] == "Engineer"
    assert ok(await api.get(path, params={"as_of": "2000-01-01T00:00:00Z"}), 404)["status"] == 404


async def test_as_of_a_moment_between_two_changes(api: httpx.AsyncClient, hrms: SystemRuntime) -> None:
    ada = await new_employee(api, "Ada", "Lovelace", position="Engineer")
    path = f"/api/employee/employees/{ada['id']}"
    ok(await api.patch(path, json={"position": "Lead"}))
    ok(await api.patch(path, json={"position": "Director"}))
    versions = ok(await api.get(f"{path}/history"))["items"]
    for v in versions:  # the moment each version began reads that version
        assert ok(await api.get(path, params={"as_of": v["valid_from"]}))["position"] == v["employee"]["position"]
    assert ok(await api.get(path))["position"] == "Director"


async def test_a_refused_change_leaves_no_history(api: httpx.AsyncClient, hrms: SystemRuntime) -> None:
    ada = await new_employee(api, "Ada", "Lovelace")
    grace = await new_employee(api, "Grace", "Hopper", company_id=ada["company_id"])
    path = f"/api/employee/employees/{ada['id']}"
    taken = await api.patch(path, json={"email": grace["email"], "position": "Spy"})
    assert taken.status_code == 409, taken.text
    versions = ok(await api.get(f"{path}/history"))["items"]
    assert len(versions) == 1
    assert versions[0]["employee"]["position"] is None


async def test_a_department_deleted_elsewhere_is_a_change_by_that_service(
    api: httpx.AsyncClient, hrms: SystemRuntime
) -> None:
    ada = await new_employee(api, "Ada", "Lovelace")
    department = ok(
        await api.post("/api/company/departments", json={"company_id": ada["company_id"], "name": "R&D"}), 201
    )
    path = f"/api/employee/employees/{ada['id']}"
    ok(await api.patch(path, json={"department_id": department["id"]}))
    ok(await api.delete(f"/api/company/departments/{department['id']}"), 204)
    await hrms.settle()
    versions = ok(await api.get(f"{path}/history"))["items"]
    assert [v["employee"]["department_id"] for v in versions] == [None, department["id"], None]
    assert versions[1]["changed_by"] == "service:company"
    assert versions[1]["change_reason"].startswith("event:")


async def test_the_history_is_as_private_as_the_employee(api: httpx.AsyncClient, hrms: SystemRuntime) -> None:
    company = await default_company(api)
    ada = await user_with_password(api, company, role="employee")
    grace = await new_employee(api, "Grace", "Hopper", company_id=company)
    ok(await api.patch(f"/api/employee/employees/{ada['id']}", json={"position": "Lead"}))
    as_ada = await headers_of(api, ada)
    mine = ok(await api.get(f"/api/employee/employees/{ada['id']}/history", headers=as_ada))["items"]
    assert len(mine) == 2
    # Another employee's history: as if it did not exist.
    assert ok(await api.get(f"/api/employee/employees/{grace['id']}/history", headers=as_ada), 404)
    bad = ok(await api.get(f"/api/employee/employees/{ada['id']}", params={"as_of": "yesterday"}), 422)
    assert [e["field"] for e in bad["errors"]] == ["as_of"]
