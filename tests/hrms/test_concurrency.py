"""Concurrent writers: versions stay consecutive, capacity is never overbooked."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from sqlalchemy import select

from isles import ACROSS_TENANTS
from isles.runtime.system import SystemRuntime
from isles.storage.schema import outbox_table
from tests.hrms.helpers import assign, assignments_of, new_employee, new_project, ok

pytestmark = pytest.mark.integration


async def test_concurrent_renames_get_consecutive_versions_and_converge(
    api: httpx.AsyncClient, hrms: SystemRuntime
) -> None:
    ada = await new_employee(api, "Ada", "Lovelace")
    for i in range(3):
        ok(await assign(api, ada, await new_project(api, f"P{i}"), allocation=30), 201)
    n = 20
    answers = await asyncio.gather(
        *(api.patch(f"/api/employee/employees/{ada['id']}", json={"last_name": f"N{i}"}) for i in range(n))
    )
    assert [r.status_code for r in answers] == [200] * n
    async with hrms["employee"].db.read_session(tenant=ACROSS_TENANTS) as session:
        rows = (
            await session.execute(
                select(outbox_table.c.aggregate_version, outbox_table.c.payload)
                .where(outbox_table.c.aggregate_id == ada["id"])
                .order_by(outbox_table.c.id)
            )
        ).all()
    assert [r.aggregate_version for r in rows] == list(range(1, n + 2)), "one version per change, in outbox order"
    final = ok(await api.get(f"/api/employee/employees/{ada['id']}"))
    assert final["version"] == n + 1
    assert json.loads(rows[-1].payload)["data"]["last_name"] == final["last_name"]
    await hrms.settle()
    names = {a["employee_name"] for a in await assignments_of(api, ada["id"])}
    assert names == {f"Ada {final['last_name']}"}


async def test_parallel_assignments_never_overbook_a_project(api: httpx.AsyncClient) -> None:
    people = [await new_employee(api, f"P{i}", "Person") for i in range(10)]
    project = await new_project(api, "Small", capacity=3)
    answers = await asyncio.gather(*(assign(api, p, project) for p in people))
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] * 3 + [422] * 7
    refused = [r.json()["errors"][0]["code"] for r in answers if r.status_code == 422]
    assert set(refused) == {"no_capacity"}
    after = ok(await api.get(f"/api/project/projects/{project['id']}"))
    assert after["assigned_count"] == 3
    listed = ok(await api.get("/api/project/assignments", params={"project_id": project["id"]}))
    assert listed["total"] == 3


@pytest.mark.parametrize(
    ("kind", "change", "again"),
    [("employee", {"position": "Lead"}, {"position": "Chief"}), ("project", {"client": "ESA"}, {"client": "JAXA"})],
)
async def test_a_stale_if_match_is_a_412_not_a_lost_update(
    api: httpx.AsyncClient, kind: str, change: dict[str, str], again: dict[str, str]
) -> None:
    """Issue 15, 9: two people read version N; the first change wins, the second is
    told (412) instead of silently overwriting it."""
    made = await new_employee(api) if kind == "employee" else await new_project(api)
    url = f"/api/{kind}/{kind}s/{made['id']}"
    read = await api.get(url)
    etag = read.headers["etag"]
    assert etag == f'"{read.json()["version"]}"'
    first = await api.patch(url, json=change, headers={"If-Match": etag})
    assert first.status_code == 200, first.text
    assert first.headers["etag"] == f'"{first.json()["version"]}"' != etag
    second = await api.patch(url, json=again, headers={"If-Match": etag})
    assert second.status_code == 412, second.text
    problem = second.json()
    assert (problem["title"], problem["etag"]) == ("Precondition Failed", first.headers["etag"])
    assert "changed since you read it" in problem["detail"]
    now = ok(await api.get(url))
    assert all(now[k] == v for k, v in change.items()), "the first change stands"
    weak = await api.patch(url, json=again, headers={"If-Match": f"W/{first.headers['etag']}"})
    assert weak.status_code == 412, "a weak tag never matches If-Match"
    for accepted in (first.headers["etag"], "*", None):
        headers = {"If-Match": accepted} if accepted else {}
        assert (await api.patch(url, json=again, headers=headers)).status_code == 200
