"""The daily attendance, on SQLite and PostgreSQL: each status and flag from the
check-ins and the shift, leave from the leave service's events (and its
cancellation), corrections as new rows, and a day computed twice alike."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from hrms.services.presence.compute import COMPUTE_DAY, day_id
from isles import ACROSS_TENANTS
from isles.core.events import Envelope
from isles.runtime.system import SystemRuntime
from isles.storage.schema import outbox_table
from tests.hrms.helpers import count, ok
from tests.hrms.presence.support import (
    MONDAY,
    at,
    company_with_shift,
    days_of,
    give_shift,
    leave_envelope,
    person,
    record,
)

pytestmark = [pytest.mark.integration, pytest.mark.services("presence")]


async def crew(api: httpx.AsyncClient, hrms: SystemRuntime, names: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    company = await company_with_shift(api)
    people = {}
    for name in names:
        people[name] = await person(api, company["id"], first_name=name.title())
    await hrms.settle()  # the presence service has heard of them (a shift names a known employee)
    for name in names:
        await give_shift(api, company, people[name])
    return company, people


async def test_each_status_and_flag_from_checkins_and_the_shift(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    _company, p = await crew(
        api, hrms, ["punctual", "late", "early", "both", "short", "absent", "forgetful", "graced", "split"]
    )
    day = {
        "punctual": [("in", 9, 0), ("out", 17, 0)],
        "late": [("in", 9, 11), ("out", 17, 30)],
        "early": [("in", 8, 55), ("out", 16, 49)],
        "both": [("in", 9, 30), ("out", 16, 30)],
        "short": [("in", 9, 0), ("out", 12, 59)],
        "forgetful": [("in", 9, 0)],
        "graced": [("in", 9, 10), ("out", 16, 50)],  # within both graces
        "split": [("in", 9, 0), ("out", 12, 0), ("in", 13, 0), ("out", 17, 0)],
    }
    for name, events in day.items():
        for kind, hour, minute in events:
            await record(hrms, p[name], kind, at(hour, minute))
    summary = await COMPUTE_DAY.run(hrms["presence"], MONDAY)
    assert "9 employee days" in summary
    rows = await days_of(hrms)

    def of(name: str) -> tuple[Any, ...]:
        r = rows[p[name]["id"]]
        return r["status"], r["late"], r["left_early"], r["missing_checkout"], r["worked_minutes"]

    assert of("punctual") == ("present", False, False, False, 480)
    assert of("late") == ("present", True, False, False, 499)
    assert of("early") == ("present", False, True, False, 474)
    assert of("both") == ("present", True, True, False, 420)
    assert of("short") == ("half_day", False, True, False, 239)
    assert of("absent") == ("absent", False, False, False, 0)
    # A forgotten check-out: flagged, nothing guessed (no minutes, no early leave).
    assert of("forgetful") == ("present", False, False, True, 0)
    assert rows[p["forgetful"]["id"]]["last_out"] is None
    assert of("graced") == ("present", False, False, False, 460)
    assert of("split") == ("present", False, False, False, 420)


async def test_an_employee_without_a_shift_gets_a_row_only_with_checkins(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    company = await company_with_shift(api)
    idle = await person(api, company["id"])
    visitor = await person(api, company["id"])
    await hrms.settle()
    await record(hrms, visitor, "in", at(11))
    await record(hrms, visitor, "out", at(12))
    await COMPUTE_DAY.run(hrms["presence"], MONDAY)
    rows = await days_of(hrms)
    assert idle["id"] not in rows
    assert (rows[visitor["id"]]["status"], rows[visitor["id"]]["late"], rows[visitor["id"]]["worked_minutes"]) == (
        "present",
        False,
        60,
    )


async def test_a_weekend_is_no_working_day(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    _company, p = await crew(api, hrms, ["ada"])
    await COMPUTE_DAY.run(hrms["presence"], MONDAY - timedelta(days=1))
    assert await days_of(hrms, MONDAY - timedelta(days=1)) == {}
    await COMPUTE_DAY.run(hrms["presence"], MONDAY)
    assert (await days_of(hrms))[p["ada"]["id"]]["status"] == "absent"


async def test_approved_leave_is_on_leave_until_cancelled(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    _company, p = await crew(api, hrms, ["rested", "morning"])
    consumer = hrms["presence"].consumer
    assert consumer is not None
    request = uuid.uuid4()
    approved = leave_envelope(p["rested"], request, MONDAY - timedelta(days=2), MONDAY + timedelta(days=1))
    await consumer.deliver(approved)
    await consumer.deliver(approved)  # redelivered: applied once
    assert await count(hrms, "presence", "leave_days", request_id=request) == 4
    half = leave_envelope(p["morning"], uuid.uuid4(), MONDAY, MONDAY, first_day="morning", last_day="morning")
    await consumer.deliver(half)
    await record(hrms, p["morning"], "in", at(13, 30))  # late for 09:00, but the morning was leave
    await record(hrms, p["morning"], "out", at(17))

    await COMPUTE_DAY.run(hrms["presence"], MONDAY)
    rows = await days_of(hrms)
    assert (rows[p["rested"]["id"]]["status"], rows[p["rested"]["id"]]["leave_part"]) == ("on_leave", "full")
    m = rows[p["morning"]["id"]]
    assert (m["status"], m["leave_part"], m["late"], m["worked_minutes"]) == ("present", "morning", False, 210)

    await consumer.deliver(
        leave_envelope(
            p["rested"], request, MONDAY - timedelta(days=2), MONDAY + timedelta(days=1), cancelled=True, version=3
        )
    )
    assert await count(hrms, "presence", "leave_days", request_id=request) == 0
    await COMPUTE_DAY.run(hrms["presence"], MONDAY)
    rows = await days_of(hrms)
    assert (rows[p["rested"]["id"]]["status"], rows[p["rested"]["id"]]["leave_part"]) == ("absent", None)


async def test_a_correction_is_a_new_row_and_fixes_the_day(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    _company, p = await crew(api, hrms, ["forgetful", "mistaken"])
    first = await record(hrms, p["forgetful"], "in", at(9))
    wrong = await record(hrms, p["mistaken"], "in", at(9))
    await record(hrms, p["mistaken"], "in", at(17))  # meant to check out
    await COMPUTE_DAY.run(hrms["presence"], MONDAY)
    assert (await days_of(hrms))[p["forgetful"]["id"]]["missing_checkout"] is True

    added = {
        "employee_id": p["forgetful"]["id"],
        "kind": "out",
        "at": at(17).isoformat(),
        "reason": "Forgot to check out",
    }
    fix = ok(await api.post("/api/presence/checkins/corrections", json=added), 201)
    assert (fix["kind"], fix["corrects_id"], fix["corrected_kind"], fix["made_by"] is not None) == (
        "correction",
        None,
        "out",
        True,
    )
    listed = ok(await api.get(f"/api/presence/employees/{p['mistaken']['id']}/checkins"))["items"]
    second = next(c["id"] for c in listed if c["at"].startswith("2026-11-23T17"))
    body = {
        "employee_id": p["mistaken"]["id"],
        "corrects_id": second,
        "kind": "out",
        "at": at(17).isoformat(),
        "reason": "Wrong button",
    }
    ok(await api.post("/api/presence/checkins/corrections", json=body), 201)
    void = {"employee_id": p["mistaken"]["id"], "corrects_id": str(wrong), "void": True, "reason": "Test scan"}
    ok(await api.post("/api/presence/checkins/corrections", json=void), 201)

    # The originals are untouched; corrections are rows of their own.
    assert await count(hrms, "presence", "checkins", employee_id=uuid.UUID(p["mistaken"]["id"])) == 4
    originals = ok(await api.get(f"/api/presence/employees/{p['forgetful']['id']}/checkins"))["items"]
    assert [(c["id"], c["kind"]) for c in originals if c["kind"] != "correction"] == [(str(first), "in")]

    await COMPUTE_DAY.run(hrms["presence"], MONDAY)
    rows = await days_of(hrms)
    f = rows[p["forgetful"]["id"]]
    assert (f["status"], f["missing_checkout"], f["worked_minutes"]) == ("present", False, 480)
    # The 09:00 in is void, the 17:00 "in" an out: nothing opened, so absent.
    assert rows[p["mistaken"]["id"]]["status"] == "absent"


async def test_computing_a_day_twice_gives_the_same_rows(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    company, p = await crew(api, hrms, ["ada", "bob"])
    await record(hrms, p["ada"], "in", at(9, 20))
    await record(hrms, p["ada"], "out", at(17))
    await COMPUTE_DAY.run(hrms["presence"], MONDAY)
    once = await days_of(hrms)
    await COMPUTE_DAY.run(hrms["presence"], MONDAY)
    again = await days_of(hrms)
    computed = ok(await api.post("/api/presence/days/compute", json={"company_id": company["id"], "day": "2026-11-23"}))
    assert computed["rows"] == 2
    assert computed["by_status"] == {"present": 1, "absent": 1}
    thrice = await days_of(hrms)
    assert once == again == thrice
    assert once[p["ada"]["id"]]["id"] == day_id(uuid.UUID(p["ada"]["id"]), MONDAY)
    assert await count(hrms, "presence", "attendance_days") == 2


async def marked(hrms: SystemRuntime) -> list[tuple[str, str, bool, bool, bool, int]]:
    """The AttendanceMarked events in the presence outbox, oldest first."""
    async with hrms["presence"].db.read_session(tenant=ACROSS_TENANTS) as session:
        payloads = list(
            await session.scalars(
                select(outbox_table.c.payload)
                .where(outbox_table.c.event_type == "presence.AttendanceMarked")
                .order_by(outbox_table.c.id)
            )
        )
    out = []
    for payload in payloads:
        env = Envelope.from_json(payload)
        d = env.data
        out.append(
            (d["employee_id"], d["status"], d["late"], d["missing_checkout"], d["left_early"], env.aggregateversion)
        )
    return out


async def test_every_day_is_published_when_first_computed_and_when_its_outcome_changes(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    company, p = await crew(api, hrms, ["fine", "late", "forgetful"])
    visitor = await person(api, company["id"])  # no shift: a row only with check-ins
    await hrms.settle()
    await record(hrms, p["fine"], "in", at(9))
    await record(hrms, p["fine"], "out", at(17))
    await record(hrms, p["late"], "in", at(9, 30))
    await record(hrms, p["late"], "out", at(17))
    await record(hrms, p["forgetful"], "in", at(9))
    visit = await record(hrms, visitor, "in", at(11))
    await record(hrms, visitor, "out", at(12))
    await COMPUTE_DAY.run(hrms["presence"], MONDAY)
    first = await marked(hrms)
    assert sorted(first) == sorted(
        [
            (p["fine"]["id"], "present", False, False, False, 1),  # a plain present day too: rates need it
            (p["late"]["id"], "present", True, False, False, 1),
            (p["forgetful"]["id"], "present", False, True, False, 1),
            (visitor["id"], "present", False, False, False, 1),
        ]
    )
    await COMPUTE_DAY.run(hrms["presence"], MONDAY)
    assert await marked(hrms) == first, "computing again with the same outcome publishes nothing"

    body = {"employee_id": p["forgetful"]["id"], "kind": "out", "at": at(17).isoformat(), "reason": "Forgot"}
    ok(await api.post("/api/presence/checkins/corrections", json=body), 201)
    void = {"employee_id": visitor["id"], "corrects_id": str(visit), "void": True, "reason": "Test scan"}
    ok(await api.post("/api/presence/checkins/corrections", json=void), 201)
    await COMPUTE_DAY.run(hrms["presence"], MONDAY)
    assert visitor["id"] not in (await days_of(hrms)), "an out alone, no shift: no row"
    # the forgetful's day cleared; the visitor's without a row any more: said, so that a reader drops it
    assert sorted((await marked(hrms))[len(first) :]) == sorted(
        [(p["forgetful"]["id"], "present", False, False, False, 2), (visitor["id"], "removed", False, False, False, 2)]
    )
    await COMPUTE_DAY.run(hrms["presence"], MONDAY)
    assert len(await marked(hrms)) == len(first) + 2, "a removed day is said once"
    assert await count(hrms, "presence", "removed_attendance_days") == 1

    await record(hrms, visitor, "in", at(13))  # back: the day's events go on from its version
    await record(hrms, visitor, "out", at(14))
    await COMPUTE_DAY.run(hrms["presence"], MONDAY)
    assert (await marked(hrms))[len(first) + 2 :] == [(visitor["id"], "present", False, False, False, 3)]
    assert await count(hrms, "presence", "removed_attendance_days") == 0
    await COMPUTE_DAY.run(hrms["presence"], MONDAY)
    assert len(await marked(hrms)) == len(first) + 3


async def test_days_and_shifts_follow_the_companys_time_zone(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    company, p = await crew(api, hrms, ["owl", "lark"])
    settings = {"enforce_geofence": False, "timezone": "Europe/Berlin"}
    assert ok(await api.put(f"/api/presence/companies/{company['id']}/settings", json=settings))["version"] == 1
    # Sunday 23:30 UTC is Monday 00:30 in Berlin: Monday's, and long before the shift.
    await record(hrms, p["owl"], "in", at(23, 30, MONDAY - timedelta(days=1)))
    await record(hrms, p["owl"], "out", at(7))
    await record(hrms, p["lark"], "in", at(8, 5))  # 09:05 in Berlin: on time
    await record(hrms, p["lark"], "out", at(16))  # 17:00 in Berlin
    await COMPUTE_DAY.run(hrms["presence"], MONDAY)
    rows = await days_of(hrms)
    owl, lark = rows[p["owl"]["id"]], rows[p["lark"]["id"]]
    assert (owl["status"], owl["worked_minutes"], owl["left_early"]) == ("present", 450, True)
    assert (lark["status"], lark["late"], lark["left_early"], lark["worked_minutes"]) == ("present", False, False, 475)
