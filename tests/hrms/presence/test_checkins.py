"""Checking in, on SQLite and PostgreSQL: the replicated user model, NFC tags (good,
unknown, deactivated, another company's), geofences, who reads what, and bad input
answered with a problem naming the field."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from hrms.contracts.employee import EmployeeUpdated
from hrms.services.presence.models import CheckinUserInfo
from isles import ACROSS_TENANTS
from isles.core.events import Envelope
from isles.runtime.system import SystemRuntime
from tests.hrms.helpers import count, new_company, new_employee, ok
from tests.hrms.presence.support import MONDAY, at, fields, person, record

pytestmark = [pytest.mark.integration, pytest.mark.services("presence")]

BERLIN = {"latitude": "52.520008", "longitude": "13.404954"}
NEAR = {"latitude": "52.520500", "longitude": "13.404954"}  # ~55 m north
FAR = {"latitude": "52.530008", "longitude": "13.404954"}  # ~1.1 km north


async def info(hrms: SystemRuntime, employee_id: str) -> CheckinUserInfo | None:
    async with hrms["presence"].db.read_session(tenant=ACROSS_TENANTS) as session:
        return await session.get(CheckinUserInfo, uuid.UUID(employee_id))


def renamed(employee: dict[str, Any], version: int, last_name: str) -> Envelope:
    event = EmployeeUpdated(
        id=uuid.UUID(employee["id"]),
        first_name=employee["first_name"],
        last_name=last_name,
        email=employee["email"],
        is_active=True,
        company_id=uuid.UUID(employee["company_id"]),
        user_id=uuid.UUID(employee["user_id"]),
        changes=["last_name"],
    )
    return Envelope.new(
        event,
        source="/isles/employee",
        aggregate_type="employee",
        aggregate_id=employee["id"],
        aggregate_version=version,
    )


async def test_user_infos_follow_the_employee_and_ignore_stale_events(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    company = (await new_company(api, "Replicas"))["id"]
    boss = await new_employee(api, "Bo", "Ss", company_id=company)
    ada = await new_employee(api, "Ada", "Lovelace", company_id=company, manager_id=boss["id"])
    await hrms.settle()
    copy = await info(hrms, ada["id"])
    assert copy is not None
    assert (copy.first_name, copy.last_name, copy.email, copy.manager_id, copy.is_active) == (
        "Ada",
        "Lovelace",
        ada["email"],
        uuid.UUID(boss["id"]),
        True,
    )
    assert (copy.company_id, copy.user_id) == (uuid.UUID(company), uuid.UUID(ada["user_id"]))

    ok(await api.patch(f"/api/employee/employees/{ada['id']}", json={"last_name": "Byron"}))
    ok(await api.patch(f"/api/employee/employees/{ada['id']}", json={"email": "ada.byron@example.com"}))
    await hrms.settle()
    copy = await info(hrms, ada["id"])
    assert copy is not None
    assert (copy.last_name, copy.email) == ("Byron", "ada.byron@example.com")
    version = copy.version

    consumer = hrms["presence"].consumer
    assert consumer is not None
    late = renamed({**ada, "email": "ada.byron@example.com"}, version - 1, "Stale")
    await consumer.deliver(late)  # out of order: older than the copy
    await consumer.deliver(late)  # and redelivered
    copy = await info(hrms, ada["id"])
    assert copy is not None
    assert (copy.last_name, copy.version) == ("Byron", version)

    ok(await api.post(f"/api/employee/employees/{ada['id']}/deactivate"))
    await hrms.settle()
    copy = await info(hrms, ada["id"])
    assert copy is not None
    assert (copy.is_active, copy.manager_id, copy.last_name) == (False, uuid.UUID(boss["id"]), "Byron")
    await consumer.deliver(
        renamed({**ada, "email": "x@example.com"}, version + 1, "Revived")
    )  # older than the deactivation
    copy = await info(hrms, ada["id"])
    assert copy is not None
    assert (copy.is_active, copy.last_name) == (False, "Byron")


async def tagged_company(api: httpx.AsyncClient, name: str) -> dict[str, Any]:
    company = (await new_company(api, name))["id"]
    place = ok(
        await api.post("/api/presence/places", json={"company_id": company, "name": "Door", **BERLIN, "radius_m": 100}),
        201,
    )
    tag = ok(
        await api.post("/api/presence/tags", json={"company_id": company, "uid": "04:AA:BB", "place_id": place["id"]}),
        201,
    )
    return {"id": company, "place": place, "tag": tag}


async def test_nfc_scans_good_unknown_deactivated_and_foreign_tags(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    ours = await tagged_company(api, "Tags A")
    theirs = await tagged_company(api, "Tags B")
    ok(
        await api.post(
            "/api/presence/tags", json={"company_id": theirs["id"], "uid": "04:FF", "place_id": theirs["place"]["id"]}
        ),
        201,
    )
    ada = await person(api, ours["id"])
    await hrms.settle()
    h = ada["headers"]

    first = ok(await api.post("/api/presence/checkins/nfc", json={"tag_uid": "04:AA:BB"}, headers=h), 201)
    assert (first["kind"], first["source"], first["tag_id"], first["place_id"]) == (
        "in",
        "nfc",
        ours["tag"]["id"],
        ours["place"]["id"],
    )
    second = ok(await api.post("/api/presence/checkins/nfc", json={"tag_uid": "04:AA:BB"}, headers=h), 201)
    assert second["kind"] == "out", "a second scan checks out"

    unknown = await api.post("/api/presence/checkins/nfc", json={"tag_uid": "04:00:00"}, headers=h)
    assert (unknown.status_code, fields(unknown)) == (404, ["tag_uid"])
    foreign = await api.post("/api/presence/checkins/nfc", json={"tag_uid": "04:FF"}, headers=h)
    assert (foreign.status_code, fields(foreign)) == (404, ["tag_uid"])
    assert foreign.json()["detail"].replace("04:FF", "X") == unknown.json()["detail"].replace("04:00:00", "X")

    ok(await api.patch("/api/presence/tags", json={"id": ours["tag"]["id"], "is_active": False}))
    off = await api.post("/api/presence/checkins/nfc", json={"tag_uid": "04:AA:BB"}, headers=h)
    assert (off.status_code, fields(off), off.json()["errors"][0]["code"]) == (422, ["tag_uid"], "inactive")
    assert await count(hrms, "presence", "checkins", employee_id=uuid.UUID(ada["id"])) == 2

    again = await api.post(
        "/api/presence/tags", json={"company_id": ours["id"], "uid": "04:AA:BB", "place_id": ours["place"]["id"]}
    )
    assert (again.status_code, fields(again)) == (409, ["uid"])
    # Another company may use the same uid: uids are unique per company.
    ok(
        await api.post(
            "/api/presence/tags",
            json={"company_id": theirs["id"], "uid": "04:AA:CC", "place_id": theirs["place"]["id"]},
        ),
        201,
    )


async def test_geofences_refuse_check_ins_outside_or_without_a_location(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    company = await tagged_company(api, "Fenced")
    place = company["place"]["id"]
    ada = await person(api, company["id"])
    await hrms.settle()
    h = ada["headers"]
    far = {"kind": "in", "source": "mobile", "place_id": place, "location": FAR}
    # Not enforced: recorded anywhere.
    ok(await api.post("/api/presence/checkins", json=far, headers=h), 201)

    ok(await api.put(f"/api/presence/companies/{company['id']}/settings", json={"enforce_geofence": True}))
    outside = await api.post("/api/presence/checkins", json=far, headers=h)
    assert (outside.status_code, fields(outside), outside.json()["errors"][0]["code"]) == (
        422,
        ["location"],
        "outside_geofence",
    )
    blind = await api.post("/api/presence/checkins", json={"kind": "in", "place_id": place}, headers=h)
    assert (blind.status_code, fields(blind), blind.json()["errors"][0]["code"]) == (422, ["location"], "missing")
    nowhere = await api.post("/api/presence/checkins", json={"kind": "in", "location": NEAR}, headers=h)
    assert (nowhere.status_code, fields(nowhere)) == (422, ["place_id"])

    inside = ok(
        await api.post(
            "/api/presence/checkins",
            json={"kind": "in", "source": "mobile", "place_id": place, "location": {**NEAR, "accuracy_m": "8"}},
            headers=h,
        ),
        201,
    )
    assert (inside["source"], inside["latitude"]) == ("mobile", "52.520500")
    # A fix ~155 m away with 60 m accuracy may be inside a 100 m fence: given the doubt.
    edge = {"latitude": "52.521400", "longitude": "13.404954", "accuracy_m": "60"}
    ok(
        await api.post("/api/presence/checkins", json={"kind": "in", "place_id": place, "location": edge}, headers=h),
        201,
    )
    # Checking out is recorded wherever it happens.
    ok(await api.post("/api/presence/checkins", json={"kind": "out", "location": FAR}, headers=h), 201)
    # An NFC tag is at its place: no location asked.
    ok(await api.post("/api/presence/checkins/nfc", json={"tag_uid": "04:AA:BB", "kind": "in"}, headers=h), 201)


async def test_who_reads_whose_checkins_and_days(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    company = (await new_company(api, "Scopes"))["id"]
    other = (await new_company(api, "Elsewhere"))["id"]
    boss = await person(api, company, "manager")
    ada = await person(api, company, manager_id=boss["id"])
    bob = await person(api, company)
    admin = await person(api, company, "admin")
    stranger = await person(api, other, "admin")
    await hrms.settle()
    for someone in (boss, ada, bob):
        await record(hrms, someone, "in", at(9))
    ok(await api.post("/api/presence/days/compute", json={"company_id": company, "day": MONDAY.isoformat()}))

    def ids(page: dict[str, Any]) -> set[str]:
        return {item["employee_id"] for item in page["items"]}

    async def days(who: dict[str, Any]) -> set[str]:
        return ids(ok(await api.get("/api/presence/days", params={"day": MONDAY.isoformat()}, headers=who["headers"])))

    async def checkins(who: dict[str, Any]) -> set[str]:
        return ids(ok(await api.get("/api/presence/checkins", headers=who["headers"])))

    assert await days(ada) == await checkins(ada) == {ada["id"]}
    assert await days(boss) == await checkins(boss) == {boss["id"], ada["id"]}
    assert await days(admin) == await checkins(admin) == {boss["id"], ada["id"], bob["id"]}
    assert await days(stranger) == await checkins(stranger) == set()

    for path in ("days", "checkins"):
        ok(await api.get(f"/api/presence/employees/{ada['id']}/{path}", headers=ada["headers"]))
        ok(await api.get(f"/api/presence/employees/{ada['id']}/{path}", headers=boss["headers"]))
        for who, whose in ((ada, bob), (boss, bob), (ada, boss), (stranger, ada)):
            r = await api.get(f"/api/presence/employees/{whose['id']}/{path}", headers=who["headers"])
            assert r.status_code == 404, f"{who['first_name']} reads {whose['first_name']}'s {path}: {r.status_code}"
    r = await api.get("/api/presence/checkins", params={"employee_id": bob["id"]}, headers=ada["headers"])
    assert r.status_code == 404
    # A deactivated employee checks in no more; their manager still reads their days.
    ok(await api.post(f"/api/employee/employees/{ada['id']}/deactivate"))
    await hrms.settle()
    r = await api.post("/api/presence/checkins", json={"kind": "in"}, headers=ada["headers"])
    assert r.status_code == 403
    ok(await api.get(f"/api/presence/employees/{ada['id']}/days", headers=boss["headers"]))
    # Managing is the admin's: an employee's token lacks presence:manage.
    r = await api.post("/api/presence/days/compute", json={"day": MONDAY.isoformat()}, headers=ada["headers"])
    assert r.status_code == 403
    # Another company's settings are not there for a company's admin.
    r = await api.get(f"/api/presence/companies/{company}/settings", headers=stranger["headers"])
    assert r.status_code == 404


async def test_bad_input_is_a_problem_naming_the_field(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    company = await tagged_company(api, "Strict")
    cid = company["id"]
    other = await tagged_company(api, "Other")
    ada = await person(api, cid)
    await hrms.settle()
    cases: list[tuple[str, str, dict[str, Any], int, list[str]]] = [
        ("post", "/api/presence/places", {"company_id": cid, "name": "Half", "latitude": "10"}, 422, ["longitude"]),
        ("post", "/api/presence/places", {"company_id": cid, "name": "R", "radius_m": 5}, 422, ["radius_m"]),
        (
            "post",
            "/api/presence/places",
            {"company_id": cid, "name": "P", **BERLIN, "latitude": "91"},
            422,
            ["latitude"],
        ),
        ("post", "/api/presence/places", {"company_id": cid, "name": "Door"}, 409, ["name"]),
        (
            "post",
            "/api/presence/tags",
            {"company_id": cid, "uid": "T", "place_id": other["place"]["id"]},
            422,
            ["place_id"],
        ),
        (
            "post",
            "/api/presence/shifts",
            {"company_id": cid, "name": "Night", "start_time": "22:00", "end_time": "06:00", "half_day_minutes": 240},
            422,
            ["end_time"],
        ),
        (
            "post",
            "/api/presence/shifts",
            {
                "company_id": cid,
                "name": "W",
                "start_time": "09:00",
                "end_time": "17:00",
                "half_day_minutes": 240,
                "weekdays": [8],
            },
            422,
            ["weekdays.0"],
        ),
        (
            "post",
            "/api/presence/shift-assignments",
            {
                "company_id": cid,
                "employee_id": str(uuid.uuid4()),
                "shift_id": str(uuid.uuid4()),
                "start_date": "2026-01-02",
            },
            422,
            ["employee_id", "shift_id"],
        ),
        ("put", f"/api/presence/companies/{cid}/settings", {"timezone": "Mars/Olympus"}, 422, ["timezone"]),
        ("post", "/api/presence/checkins/corrections", {"employee_id": ada["id"], "reason": "x"}, 422, ["kind"]),
        (
            "post",
            "/api/presence/checkins/corrections",
            {
                "employee_id": ada["id"],
                "corrects_id": str(uuid.uuid4()),
                "kind": "in",
                "at": "2026-11-23T09:00:00Z",
                "reason": "x",
            },
            422,
            ["corrects_id"],
        ),
        ("post", "/api/presence/days/compute", {"company_id": cid, "day": "2026-13-01"}, 422, ["day"]),
    ]
    for method, path, body, status, named in cases:
        r = await api.request(method, path, json=body)
        assert r.status_code == status, f"{method} {path} {body}: {r.status_code} {r.text}"
        assert r.headers["content-type"] == "application/problem+json"
        if named:
            assert sorted(fields(r)) == sorted(named), f"{path} {body}: {r.text}"
    h = ada["headers"]
    bad_kind = await api.post("/api/presence/checkins", json={"kind": "sideways"}, headers=h)
    assert (bad_kind.status_code, fields(bad_kind)) == (422, ["kind"])
    nowhere = await api.post("/api/presence/checkins", json={"kind": "in", "place_id": other["place"]["id"]}, headers=h)
    assert (nowhere.status_code, fields(nowhere)) == (422, ["place_id"])
    naming_b = await api.post(
        "/api/presence/places",
        json={"company_id": other["id"], "name": "Mine"},
        headers=(await person(api, cid, "admin"))["headers"],
    )
    assert (naming_b.status_code, fields(naming_b)) == (422, ["company_id"])
