"""The analytics service (issue 23), on SQLite and PostgreSQL: the archive of every
event, the headcount read model against a scripted history computed by hand, a
rebuild from the archive equal to the live model (also while events arrive), the
archive's completeness in ``isles audit`` and its catch-up from the producers'
outboxes, and who may read the figures."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select

from hrms.contracts.employee import EmployeeCreated, EmployeeDeactivated, EmployeeUpdated
from hrms.services.analytics.archive import ARCHIVE
from hrms.services.analytics.models import HeadcountPerson, HeadcountSpan
from isles import ACROSS_TENANTS, Event
from isles.core.events import Envelope
from isles.runtime.system import SystemRuntime
from isles.service.audit import audit
from isles.storage.schema import inbox_table
from isles.tools.reconcile import reconcile
from tests.hrms.helpers import headers_of, new_company, new_employee, ok, user_with_password

pytestmark = [pytest.mark.integration, pytest.mark.services("analytics")]

C, D = uuid.uuid4(), uuid.uuid4()  # two companies
A, B = uuid.uuid4(), uuid.uuid4()  # two departments of C


def _at(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC).replace(hour=9)


def envelope(event: Event, employee: uuid.UUID, version: int, day: str, company: uuid.UUID = C) -> Envelope:
    env = Envelope.new(
        event,
        source="/isles/employee",
        aggregate_type="employee",
        aggregate_id=str(employee),
        aggregate_version=version,
        tenant_id=str(company),
    )
    return dataclasses.replace(env, time=_at(day))


def hire(employee: uuid.UUID, day: str, department: uuid.UUID | None, company: uuid.UUID = C) -> Envelope:
    event = EmployeeCreated(
        id=employee,
        employee_number=f"E-{employee.hex[:6]}",
        company_id=company,
        user_id=uuid.uuid4(),
        first_name="Pat",
        last_name=employee.hex[:6],
        email=f"{employee.hex[:8]}@example.com",
        department_id=department,
        hire_date=date.fromisoformat(day),
    )
    return envelope(event, employee, 1, day, company)


def change(
    employee: uuid.UUID, version: int, day: str, department: uuid.UUID | None, *, active: bool = True
) -> Envelope:
    event = EmployeeUpdated(
        id=employee,
        first_name="Pat",
        last_name=employee.hex[:6],
        email=f"{employee.hex[:8]}@example.com",
        is_active=active,
        company_id=C,
        department_id=department,
        changes=["department_id"],
    )
    return envelope(event, employee, version, day)


def leave(employee: uuid.UUID, version: int, day: str) -> Envelope:
    event = EmployeeDeactivated(
        id=employee,
        first_name="Pat",
        last_name=employee.hex[:6],
        email=f"{employee.hex[:8]}@example.com",
        deactivated_at=_at(day),
        company_id=C,
    )
    return envelope(event, employee, version, day)


E1, E2, E3, E4 = (uuid.uuid4() for _ in range(4))
#: Hired in January and February, a transfer in March, a leaver in April who is back
#: in May, a leaver on the last day of June; someone of another company.
HISTORY = [
    hire(E1, "2026-01-10", A),
    hire(E2, "2026-01-20", A),
    hire(E3, "2026-02-05", B),
    hire(E4, "2026-01-05", None, company=D),
    change(E1, 2, "2026-03-15", B),
    leave(E2, 2, "2026-04-10"),
    change(E2, 3, "2026-05-02", A),
    leave(E3, 2, "2026-06-30"),
]

#: (opening, headcount, hires, leavers) per month, January to June, by hand.
MONTHS = [(0, 2, 2, 0), (2, 3, 1, 0), (3, 3, 0, 0), (3, 2, 0, 1), (2, 3, 1, 0), (3, 2, 0, 1)]


async def deliver(hrms: SystemRuntime, envelopes: list[Envelope]) -> None:
    consumer = hrms["analytics"].consumer
    assert consumer is not None
    for env in envelopes:
        await consumer.deliver(env)


async def figures(api: httpx.AsyncClient, company: uuid.UUID = C, **params: str) -> dict[str, Any]:
    query = {"from": "2026-01-01", "to": "2026-06-30", "interval": "month", **params}
    return ok(await api.get(f"/api/analytics/companies/{company}/headcount", params=query))  # type: ignore[no-any-return]


async def model_rows(hrms: SystemRuntime) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    """The active generation's people and spans, without the generation."""
    async with hrms["analytics"].db.read_session(tenant=ACROSS_TENANTS) as session:
        generation = await ARCHIVE.generation(session, "headcount")
        people = (
            await session.execute(select(HeadcountPerson).where(HeadcountPerson.generation == generation))
        ).scalars()
        spans = (await session.execute(select(HeadcountSpan).where(HeadcountSpan.generation == generation))).scalars()
        return (
            {(p.employee_id, p.company_id, p.department_id, p.hired_on, p.left_on, p.version) for p in people},
            {(s.employee_id, s.starts_on, s.department_id, s.ends_on, s.started_by, s.ended_by) for s in spans},
        )


async def archived(hrms: SystemRuntime) -> int:
    return await ARCHIVE.count(hrms["analytics"].db)


async def test_headcount_follows_a_scripted_history(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    await deliver(hrms, HISTORY)
    await deliver(hrms, HISTORY[:3])  # redelivered: nothing changes
    assert await archived(hrms) == len(HISTORY)

    company = await figures(api)
    got = [(p["opening"], p["headcount"], p["hires"], p["leavers"]) for p in company["points"]]
    assert got == MONTHS
    assert [p["starts_on"] for p in company["points"]][:2] == ["2026-01-01", "2026-02-01"]
    assert company["points"][3]["turnover"] == "0.4000"  # 1 leaver / ((3 + 2) / 2)
    assert company["points"][0]["turnover"] == "0.0000"

    march = [p for p in (await figures(api, by="department"))["points"] if p["starts_on"] == "2026-03-01"]
    by_department = {
        p["department_id"]: (p["opening"], p["headcount"], p["transfers_in"], p["transfers_out"]) for p in march
    }
    assert by_department == {str(A): (2, 1, 0, 1), str(B): (1, 2, 1, 0)}

    quarters = await figures(api, interval="quarter")
    assert [(p["opening"], p["headcount"], p["hires"], p["leavers"]) for p in quarters["points"]] == [
        (0, 3, 3, 0),
        (3, 2, 1, 2),
    ]
    other = await figures(api, company=D)
    assert [p["headcount"] for p in other["points"]] == [1] * 6  # D's one employee, none of C's


async def test_a_rebuild_from_the_archive_equals_the_live_model(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    await deliver(hrms, HISTORY)
    live_rows, live_figures = await model_rows(hrms), await figures(api, by="department")
    result = await ARCHIVE.rebuild(hrms["analytics"].db, "headcount")
    assert result.events == len(HISTORY)
    assert result.generation == 2
    assert await model_rows(hrms) == live_rows
    assert await figures(api, by="department") == live_figures
    async with hrms["analytics"].db.read_session(tenant=ACROSS_TENANTS) as session:  # the old generation is gone
        generations = set((await session.scalars(select(HeadcountSpan.generation).distinct())).all())
    assert generations == {2}
    state = next(s for s in await ARCHIVE.states(hrms["analytics"].db) if s.name == "headcount")
    assert (state.active, state.building, state.events, state.stale) == (2, None, len(HISTORY), False)


async def test_a_rebuild_while_events_arrive_loses_none(hrms: SystemRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    before = [hire(uuid.uuid4(), "2026-01-02", A) for _ in range(300)]
    await deliver(hrms, before)
    monkeypatch.setattr(ARCHIVE, "batch_size", 7)  # many small replays: the live events land between them
    during = [hire(uuid.uuid4(), "2026-02-02", B) for _ in range(150)]

    async def arrive() -> None:
        for env in during:
            await deliver(hrms, [env])
            await asyncio.sleep(0)

    result, _ = await asyncio.gather(ARCHIVE.rebuild(hrms["analytics"].db, "headcount"), arrive())
    assert result.passes > 1, "no event arrived while the rebuild replayed (it caught up again)"
    assert len(before) < result.events <= len(before) + len(during)  # some came by the replay, the rest live
    people, _spans = await model_rows(hrms)
    assert len(people) == len(before) + len(during)  # each event in the new generation, live or replayed
    again = await ARCHIVE.rebuild(hrms["analytics"].db, "headcount")  # and a quiet rebuild agrees
    assert again.events == len(before) + len(during)
    assert (await model_rows(hrms))[0] == people


async def test_the_archive_is_audited_and_catches_up_from_the_outboxes(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    company = (await new_company(api, "Archived Co"))["id"]
    consumer = hrms["analytics"].consumer
    assert consumer is not None
    await consumer.stop()  # the analytics service is down while people are hired
    hired = [await new_employee(api, company_id=company, first_name=f"N{i}") for i in range(3)]
    consumer.start()
    await hrms.settle()
    dbs = {name: hrms[name].db for name in hrms.services}
    report = await audit(hrms.system, dbs, only=["archive analytics"])
    (check,) = report.checks
    assert check.checked > 0
    assert check.findings == 0
    ids = [str(e["id"]) for e in hired]
    async with hrms["analytics"].db.read_session(tenant=ACROSS_TENANTS) as session:
        mine = (
            await session.scalars(select(ARCHIVE.table.c.event_id).where(ARCHIVE.table.c.aggregate_id.in_(ids)))
        ).all()
    assert len(mine) >= 3  # each hire's EmployeeCreated at least

    # A gap (a restore, a trimmed stream): the archive and inbox lose those events.
    async with hrms["analytics"].db.writing(tenant=ACROSS_TENANTS) as session, session.begin():
        await session.execute(delete(ARCHIVE.table).where(ARCHIVE.table.c.event_id.in_(mine)))
        await session.execute(delete(inbox_table).where(inbox_table.c.event_id.in_([uuid.UUID(e) for e in mine])))
    (check,) = (await audit(hrms.system, dbs, only=["archive analytics"])).checks
    assert check.counts == {"missing": len(mine)}
    assert {f.key for f in check.samples} <= set(mine)

    done = await reconcile(hrms.system, dbs, "analytics", consumer=consumer)
    assert done.applied >= len(mine)
    (check,) = (await audit(hrms.system, dbs, only=["archive analytics"])).checks
    assert check.findings == 0
    async with hrms["analytics"].db.read_session(tenant=ACROSS_TENANTS) as session:
        back = await session.scalar(
            select(func.count()).select_from(ARCHIVE.table).where(ARCHIVE.table.c.event_id.in_(mine))
        )
    assert back == len(mine)


async def test_only_the_company_admin_reads_its_figures(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    company = (await new_company(api, "Figures Co"))["id"]
    other = (await new_company(api, "Other Co"))["id"]
    admin = await user_with_password(api, company, "admin")
    employee = await user_with_password(api, company, "employee")
    await hrms.settle()
    params = {"from": "2026-01-01", "to": "2026-03-31"}
    mine = await api.get(
        f"/api/analytics/companies/{company}/headcount", params=params, headers=await headers_of(api, admin)
    )
    assert mine.status_code == 200, mine.text
    assert mine.json()["points"][-1]["headcount"] >= 0
    theirs = await api.get(
        f"/api/analytics/companies/{other}/headcount", params=params, headers=await headers_of(api, admin)
    )
    assert theirs.status_code == 404
    assert theirs.headers["content-type"].startswith("application/problem+json")
    denied = await api.get(
        f"/api/analytics/companies/{company}/headcount", params=params, headers=await headers_of(api, employee)
    )
    assert denied.status_code == 403
    bad = await api.get(
        f"/api/analytics/companies/{company}/headcount", params={"from": "2026-03-01", "to": "2026-01-01"}
    )
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["to"]
    many = await api.get(
        f"/api/analytics/companies/{company}/headcount",
        params={"from": "2000-01-01", "to": "2026-01-01", "interval": "day"},
    )
    assert many.status_code == 422
    assert many.json()["errors"][0]["code"] == "too_many_periods"
    kind = await api.get(f"/api/analytics/companies/{company}/headcount", params={**params, "interval": "fortnight"})
    assert kind.status_code == 422
    assert "interval" in kind.text
    assert Decimal(mine.json()["points"][0]["turnover"]) >= 0
