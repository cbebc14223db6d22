"""The attendance read model and figure (issue 23: attendance rates), on SQLite and
PostgreSQL: days by status and the rates per month, quarter and department (the
department on the day: a transfer moves the days after it only) against a scripted
history computed by hand — a late day corrected to on time (the newer version wins),
an older version arriving after a newer (ignored), a day removed by the presence
service (no longer counted); a rebuild equal to the live model; the cached figure
moved by the company's AttendanceMarked and by its headcount, not by another
company's; who reads it; and the real presence service computing a day through its
API, the figure following in analytics."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from hrms.contracts.presence import AttendanceMarked
from hrms.services.analytics.archive import ARCHIVE
from hrms.services.analytics.attendance import AttendanceMark
from isles import ACROSS_TENANTS
from isles.core.events import Envelope
from isles.runtime.system import SystemRuntime
from tests.hrms.analytics.test_access import department
from tests.hrms.analytics.test_headcount import E1, E2, E3, E4, HISTORY, A, B, C, D, change, deliver
from tests.hrms.helpers import headers_of, new_company, ok, user_with_password
from tests.hrms.presence.support import MONDAY, at, company_with_shift, give_shift, person, record

pytestmark = [pytest.mark.integration, pytest.mark.services("analytics")]

_DAYS = uuid.UUID("0b7e3c52-64c4-4d0e-8f0a-6a1d2b9c8e47")


def day_of(employee: uuid.UUID, day: str) -> uuid.UUID:
    return uuid.uuid5(_DAYS, f"{employee}/{day}")


def mark(
    employee: uuid.UUID,
    day: str,
    status: str,
    version: int = 1,
    *,
    late: bool = False,
    early: bool = False,
    company: uuid.UUID = C,
) -> Envelope:
    """An AttendanceMarked as the presence service publishes it."""
    key = day_of(employee, day)
    event = AttendanceMarked(
        id=key,
        company_id=company,
        employee_id=employee,
        day=date.fromisoformat(day),
        status=status,  # type: ignore[arg-type]
        late=late,
        left_early=early,
        missing_checkout=False,
        worked_minutes=0 if status in ("absent", "on_leave", "removed") else 480,
    )
    env = Envelope.new(
        event,
        source="/isles/presence",
        aggregate_type="attendance_day",
        aggregate_id=str(key),
        aggregate_version=version,
        tenant_id=str(company),
    )
    computed = datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC).replace(hour=18)
    return dataclasses.replace(env, time=computed)


#: E1 in A from January 10 (to B on March 15); E2 in A from January 20, left April 10;
#: E3 in B from February 5 (HISTORY of test_headcount).
DAYS = [
    mark(E1, "2026-01-12", "present"),
    mark(E1, "2026-01-13", "present", late=True),
    mark(E2, "2026-01-21", "half_day"),
    mark(E2, "2026-01-22", "absent"),
    mark(E4, "2026-01-12", "absent", company=D),  # another company's
    mark(E1, "2026-02-02", "present", early=True),
    mark(E3, "2026-02-09", "on_leave"),
    mark(E3, "2026-02-10", "present", late=True),
    mark(E3, "2026-02-10", "present", 2),  # corrected: on time after all
    mark(E2, "2026-02-11", "present", 2),  # the newer version first...
    mark(E2, "2026-02-11", "absent", 1),  # ...the older one late: ignored
    mark(E1, "2026-03-10", "present", late=True),  # still in A
    mark(E1, "2026-03-16", "present"),  # moved to B on the 15th
    mark(E1, "2026-03-17", "absent"),
    mark(E3, "2026-03-18", "half_day", late=True),
    mark(E3, "2026-03-19", "present"),
    mark(E3, "2026-03-19", "removed", 2),  # no row any more in presence: not counted
    mark(E2, "2026-04-20", "absent"),  # left on April 10: in no department
    mark(E3, "2026-04-06", "on_leave"),
]

#: (month, department, present, half_day, absent, on_leave, late, left_early,
#: attendance rate, punctuality rate), by hand.
MONTHS = {
    # (2 + 0.5) / 4; 1 - 1 / 3
    ("2026-01", str(A), 2, 1, 1, 0, 1, 0, "0.6250", "0.6667"),
    ("2026-02", str(A), 2, 0, 0, 0, 0, 1, "1.0000", "1.0000"),
    ("2026-02", str(B), 1, 0, 0, 1, 0, 0, "1.0000", "1.0000"),  # on leave: in neither rate
    ("2026-03", str(A), 1, 0, 0, 0, 1, 0, "1.0000", "0.0000"),
    # (1 + 0.5) / 3; 1 - 1 / 2
    ("2026-03", str(B), 1, 1, 1, 0, 1, 0, "0.5000", "0.5000"),
    ("2026-04", None, 0, 0, 1, 0, 0, 0, "0.0000", None),  # no day worked: no punctuality
    ("2026-04", str(B), 0, 0, 0, 1, 0, 0, None, None),  # only leave: no rate at all
}


async def figure(api: httpx.AsyncClient, company: uuid.UUID = C, **params: str) -> tuple[str, dict[str, Any]]:
    query = {"from": "2026-01-01", "to": "2026-04-30", "interval": "month", **params}
    r = await api.get(f"/api/analytics/companies/{company}/attendance", params=query)
    return r.headers.get("Cache-Status", ""), ok(r)


def rows(body: dict[str, Any]) -> set[tuple[Any, ...]]:
    return {
        (
            p["starts_on"][:7],
            p["department_id"],
            p["present"],
            p["half_day"],
            p["absent"],
            p["on_leave"],
            p["late"],
            p["left_early"],
            p["attendance_rate"],
            p["punctuality_rate"],
        )
        for p in body["points"]
    }


async def model_rows(hrms: SystemRuntime) -> set[tuple[Any, ...]]:
    async with hrms["analytics"].db.read_session(tenant=ACROSS_TENANTS) as session:
        generation = await ARCHIVE.generation(session, "attendance")
        found = (await session.scalars(select(AttendanceMark).where(AttendanceMark.generation == generation))).all()
        return {
            (m.day_id, m.company_id, m.employee_id, m.day, m.status, m.late, m.left_early, m.version) for m in found
        }


async def test_attendance_follows_a_scripted_history(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    await deliver(hrms, [*HISTORY, *DAYS])
    _, body = await figure(api)
    assert rows(body) == MONTHS

    _, quarters = await figure(api, interval="quarter")
    assert rows(quarters) == {
        # A: 5 present, 1 half, 1 absent, 2 late, 1 early: 5.5 / 7; 1 - 2 / 6
        ("2026-01", str(A), 5, 1, 1, 0, 2, 1, "0.7857", "0.6667"),
        # B: 2 present, 1 half, 1 absent, 1 leave, 1 late: 2.5 / 4; 1 - 1 / 3
        ("2026-01", str(B), 2, 1, 1, 1, 1, 0, "0.6250", "0.6667"),
        ("2026-04", None, 0, 0, 1, 0, 0, 0, "0.0000", None),
        ("2026-04", str(B), 0, 0, 0, 1, 0, 0, None, None),
    }
    _, other = await figure(api, company=D)
    assert rows(other) == {("2026-01", None, 0, 0, 1, 0, 0, 0, "0.0000", None)}  # E4: hired in no department

    held = {(m[0], m[4], m[5], m[7]) for m in await model_rows(hrms)}
    assert (day_of(E3, "2026-02-10"), "present", False, 2) in held  # the correction replaced the late day
    assert (day_of(E2, "2026-02-11"), "present", False, 2) in held  # the older absent did not come back
    assert (day_of(E3, "2026-03-19"), "removed", False, 2) in held

    await deliver(hrms, DAYS[:4])  # redelivered: nothing changes
    assert rows((await figure(api))[1]) == MONTHS


async def test_a_rebuild_equals_the_live_model(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    await deliver(hrms, [*HISTORY, *DAYS])
    live_rows, (_, live) = await model_rows(hrms), await figure(api)
    result = await ARCHIVE.rebuild(hrms["analytics"].db, "attendance")
    assert (result.generation, result.events) == (2, len(DAYS))  # its own events only
    assert await model_rows(hrms) == live_rows
    status, rebuilt = await figure(api)
    assert status == "isles; fwd=miss; stored"  # a new generation: new keys
    assert rebuilt == live


async def test_the_cached_figure_moves_with_attendance_and_the_headcount(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    await deliver(hrms, [*HISTORY, *DAYS])
    assert (await figure(api))[0] == "isles; fwd=miss; stored"
    assert (await figure(api))[0] == "isles; hit"
    await deliver(hrms, [mark(E4, "2026-01-13", "present", company=D)])  # another company's day
    assert (await figure(api))[0] == "isles; hit"

    await deliver(hrms, [mark(E1, "2026-01-12", "absent", 2)])  # the company's: a day recomputed
    status, body = await figure(api)
    assert status == "isles; fwd=miss; stored"
    january = next(p for p in body["points"] if p["starts_on"] == "2026-01-01")
    assert (january["present"], january["absent"], january["attendance_rate"]) == (1, 2, "0.3750")  # 1.5 / 4
    assert (await figure(api))[0] == "isles; hit"

    await deliver(hrms, [change(E2, 4, "2026-05-01", B)])  # a transfer after the days: departments are the days'
    status, body = await figure(api)
    assert status == "isles; fwd=miss; stored"  # the headcount's stamp keys it too
    assert ("2026-01", str(A)) in {(p["starts_on"][:7], p["department_id"]) for p in body["points"]}


async def test_a_manager_reads_their_own_departments_attendance(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    company = (await new_company(api, "Attendance Co"))["id"]
    sales, support = await department(api, company, "Sales"), await department(api, company, "Support")
    await hrms.settle()
    admin = await user_with_password(api, company, "admin")
    manager = await user_with_password(api, company, "manager", department_id=sales)
    loner = await user_with_password(api, company, "manager")  # in no department
    employee = await user_with_password(api, company, "employee", department_id=sales)
    supporter = await user_with_password(api, company, "employee", department_id=support)
    stranger = await user_with_password(api, (await new_company(api, "Other Attendance Co"))["id"], "admin")
    await hrms.settle()
    cid = uuid.UUID(company)
    await deliver(
        hrms,
        [
            mark(uuid.UUID(employee["id"]), "2024-03-04", "present", company=cid),  # hired 2024-03-01
            mark(uuid.UUID(supporter["id"]), "2024-03-04", "absent", company=cid),
        ],
    )
    base = f"/api/analytics/companies/{company}/attendance"
    params = {"from": "2024-03-01", "to": "2024-03-31"}

    def by_department(body: dict[str, Any]) -> dict[str | None, str | None]:
        return {p["department_id"]: p["attendance_rate"] for p in body["points"]}

    assert by_department(ok(await api.get(base, params=params, headers=await headers_of(api, admin)))) == {
        sales: "1.0000",
        support: "0.0000",
    }
    mine = ok(await api.get(base, params=params, headers=await headers_of(api, manager)))
    assert by_department(mine) == {sales: "1.0000"}
    r = await api.get(base, params=params, headers=await headers_of(api, loner))
    assert (r.status_code, r.json()["type"].endswith("no-department")) == (403, True)
    assert (await api.get(base, params=params, headers=await headers_of(api, employee))).status_code == 403
    assert (await api.get(base, params=params, headers=await headers_of(api, stranger))).status_code == 404


@pytest.mark.services("analytics", "presence")
async def test_a_day_computed_by_the_presence_service_reaches_the_figure(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    company = await company_with_shift(api, "Computed Co")
    ops = await department(api, company["id"], "Ops")
    await hrms.settle()
    punctual = await person(api, company["id"], department_id=ops)
    late = await person(api, company["id"], department_id=ops)
    absent = await person(api, company["id"])  # in no department
    await hrms.settle()  # the presence service knows them
    for someone in (punctual, late, absent):
        await give_shift(api, company, someone)
    await record(hrms, punctual, "in", at(9))
    await record(hrms, punctual, "out", at(17))
    await record(hrms, late, "in", at(9, 40))
    await record(hrms, late, "out", at(17))
    day = {"company_id": company["id"], "day": MONDAY.isoformat()}
    assert ok(await api.post("/api/presence/days/compute", json=day))["rows"] == 3
    await hrms.settle()

    params = {"from": "2026-11-01", "to": "2026-11-30", "interval": "month"}
    base = f"/api/analytics/companies/{company['id']}/attendance"
    points = ok(await api.get(base, params=params))["points"]
    got = {
        (p["department_id"], p["present"], p["absent"], p["late"], p["attendance_rate"], p["punctuality_rate"])
        for p in points
    }
    assert got == {(ops, 2, 0, 1, "1.0000", "0.5000"), (None, 0, 1, 0, "0.0000", None)}

    # the late arrival corrected and the day computed again: the figure follows
    listed = ok(await api.get(f"/api/presence/employees/{late['id']}/checkins"))["items"]
    arrival = next(c["id"] for c in listed if c["kind"] == "in")
    fix = {"employee_id": late["id"], "corrects_id": arrival, "kind": "in", "at": at(9).isoformat(), "reason": "Badge"}
    ok(await api.post("/api/presence/checkins/corrections", json=fix), 201)
    ok(await api.post("/api/presence/days/compute", json=day))
    await hrms.settle()
    points = ok(await api.get(base, params=params))["points"]
    assert {(p["department_id"], p["late"], p["punctuality_rate"]) for p in points} == {
        (ops, 0, "1.0000"),
        (None, 0, None),
    }


@pytest.mark.services("presence", "analytics")
async def test_days_computed_before_every_day_was_published_are_announced_by_a_migration(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    """presence 0003 announces the computed days as they stand: a present day an
    older version computed without publishing (version 0, inserted here as it did)
    reaches the figure, at version 1."""
    from datetime import timedelta

    from sqlalchemy import insert

    from hrms.services.presence.compute import day_id
    from hrms.services.presence.models import AttendanceDay
    from isles.storage import migrations

    company = await company_with_shift(api, "Announced Days Co")
    ops = await department(api, company["id"], "Ops")
    await hrms.settle()
    someone = await person(api, company["id"], department_id=ops)
    await hrms.settle()
    old_day = MONDAY - timedelta(days=7)
    row_id = day_id(uuid.UUID(someone["id"]), old_day)
    presence = hrms["presence"]
    async with presence.db.writing(tenant=ACROSS_TENANTS) as session, session.begin():
        await session.execute(
            insert(AttendanceDay).values(
                id=row_id,
                company_id=uuid.UUID(company["id"]),
                employee_id=uuid.UUID(someone["id"]),
                day=old_day,
                status="present",
                worked_minutes=480,
                version=0,
            )
        )
    params = {"from": old_day.isoformat(), "to": old_day.isoformat(), "interval": "day"}
    base = f"/api/analytics/companies/{company['id']}/attendance"
    assert ok(await api.get(base, params=params))["points"] == []  # never published: not known

    await migrations.downgrade(presence.db, presence.service, "0002")
    await migrations.upgrade(presence.db, presence.service)
    await hrms.settle()
    points = ok(await api.get(base, params=params))["points"]
    assert [(p["department_id"], p["present"], p["attendance_rate"]) for p in points] == [(ops, 1, "1.0000")]
    async with presence.db.read_session(tenant=ACROSS_TENANTS) as session:
        assert await session.scalar(select(AttendanceDay.version).where(AttendanceDay.id == row_id)) == 1
