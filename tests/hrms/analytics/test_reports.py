"""Reports (issue 23), on SQLite and PostgreSQL: a saved definition run by hand and by
its monthly schedule — once per period however often the job runs, announced once
and mailed to its recipients of the company only — and its result as CSV and an SVG
chart that parse and say what the figures say."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from hrms.services.analytics.reports import JOBS, period_of
from hrms.services.notification.models import Notification
from isles import ACROSS_TENANTS
from isles.runtime.system import SystemRuntime
from isles.storage.schema import outbox_table
from tests.hrms.analytics.test_headcount import HISTORY, A, B, C, deliver
from tests.hrms.helpers import headers_of, new_company, ok, user_with_password

pytestmark = [pytest.mark.integration, pytest.mark.services("analytics")]

SEND = next(j for j in JOBS if j.name == "send-reports")


def test_periods_as_of_a_day() -> None:
    assert period_of("previous_month", date(2026, 7, 3)) == (date(2026, 6, 1), date(2026, 6, 30), "2026-06")
    assert period_of("previous_month", date(2026, 1, 1)) == (date(2025, 12, 1), date(2025, 12, 31), "2025-12")
    assert period_of("previous_quarter", date(2026, 7, 3)) == (date(2026, 4, 1), date(2026, 6, 30), "2026-Q2")
    assert period_of("previous_quarter", date(2026, 2, 10)) == (date(2025, 10, 1), date(2025, 12, 31), "2025-Q4")
    assert period_of("last_12_months", date(2026, 7, 3)) == (date(2025, 7, 1), date(2026, 6, 30), "2025-07..2026-06")
    assert period_of("year_to_date", date(2026, 7, 3))[:2] == (date(2026, 1, 1), date(2026, 7, 3))


async def create(api: httpx.AsyncClient, company: Any, **body: Any) -> dict[str, Any]:
    return ok(await api.post(f"/api/analytics/companies/{company}/reports", json=body), 201)  # type: ignore[no-any-return]


async def test_a_report_run_by_hand_exports_csv_and_a_chart(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    await deliver(hrms, HISTORY)
    report = await create(api, C, name="Half year", period="year_to_date", interval="month", by="department")
    assert report["schedule"] is None
    assert report["by"] == "department"
    again = await api.post(f"/api/analytics/companies/{C}/reports", json={"name": "Half year"})
    assert again.status_code == 409
    assert again.json()["errors"][0]["field"] == "name"
    bad = await api.post(f"/api/analytics/companies/{C}/reports", json={"name": "X", "period": "forever"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "period"

    # year to date as of today covers 2026-01..today: the scripted history is in it
    run = ok(await api.post(f"/api/analytics/companies/{C}/reports/{report['id']}/runs"), 201)
    assert run["triggered_by"] == "manual"
    june = {p["department_id"]: p["headcount"] for p in run["points"] if p["starts_on"] == "2026-06-01"}
    assert june == {str(A): 1, str(B): 1}

    r = await api.get(run["csv"])
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == len(run["points"])
    assert {(x["starts_on"], x["department_id"], x["headcount"]) for x in rows if x["starts_on"] == "2026-03-01"} == {
        ("2026-03-01", str(A), "1"),
        ("2026-03-01", str(B), "2"),
    }

    r = await api.get(run["chart"])
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("image/svg+xml")
    svg = ET.fromstring(r.text)
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    lines = {
        p.get("data-series"): p.get("points", "").split() for p in svg.iter("{http://www.w3.org/2000/svg}polyline")
    }
    assert set(lines) == {str(A), str(B)}
    months_with_a = len({p["ends_on"] for p in run["points"] if p["department_id"] == str(A)})
    assert len(lines[str(A)]) == months_with_a

    runs = ok(await api.get(f"/api/analytics/companies/{C}/reports/{report['id']}/runs"))
    assert [x["id"] for x in runs["items"]] == [run["id"]]
    other = (await new_company(api, "Elsewhere"))["id"]
    assert (await api.get(f"/api/analytics/companies/{other}/reports/{report['id']}/runs")).status_code == 404
    assert (await api.get(run["csv"].replace(str(C), other))).status_code == 404


async def test_a_scheduled_report_is_sent_once_per_period(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    company = (await new_company(api, "Scheduled Co"))["id"]
    admin = await user_with_password(api, company, "admin")
    stranger_company = (await new_company(api, "Stranger Co"))["id"]
    stranger = await user_with_password(api, stranger_company, "admin")
    await hrms.settle()
    as_admin = await headers_of(api, admin)
    r = await api.post(
        f"/api/analytics/companies/{company}/reports",
        json={
            "name": "Monthly headcount",
            "period": "previous_month",
            "schedule": "monthly",
            "recipients": [admin["user_id"], stranger["user_id"]],
        },
        headers=as_admin,
    )
    report = ok(r, 201)
    employee = await user_with_password(api, company, "employee")
    denied = await api.post(
        f"/api/analytics/companies/{company}/reports",
        json={"name": "Mine"},
        headers=await headers_of(api, employee),
    )
    assert denied.status_code == 403

    day = date(2026, 12, 2)
    first = await SEND.run(hrms["analytics"], day)
    second = await SEND.run(hrms["analytics"], day)  # the schedule fires again (a restart, a second replica)
    later = await SEND.run(hrms["analytics"], date(2026, 12, 15))  # later that month: same period
    assert first.startswith("1 report run(s)")
    assert second.startswith("0 report run(s)")
    assert later.startswith("0 report run(s)")
    await hrms.settle()

    runs = ok(await api.get(f"/api/analytics/companies/{company}/reports/{report['id']}/runs", headers=as_admin))
    assert [(x["period_key"], x["triggered_by"]) for x in runs["items"]] == [("2026-11", "schedule")]
    async with hrms["analytics"].db.read_session(tenant=ACROSS_TENANTS) as session:
        announced = (
            await session.scalars(
                select(outbox_table.c.event_type).where(outbox_table.c.event_type == "analytics.ReportReady")
            )
        ).all()
    assert len(announced) == 1
    async with hrms["notification"].db.read_session(tenant=ACROSS_TENANTS) as session:
        mails = (await session.scalars(select(Notification).where(Notification.template_key == "report_ready"))).all()
    assert [str(m.user_id) for m in mails] == [admin["user_id"]]  # the other company's user is never mailed
    (mail,) = mails
    assert mail.subject == "Monthly headcount: 2026-11-01 to 2026-11-30"
    assert "headcount" in mail.body
    assert f"/reports/{report['id']}/runs/" in mail.body

    next_month = await SEND.run(hrms["analytics"], date(2027, 1, 3))
    assert next_month.startswith("1 report run(s)")


async def test_every_kind_of_report_shows_its_read_models_figures(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    from typing import get_args

    from hrms.services.analytics import models, reports
    from hrms.services.analytics.api import ReportKind
    from tests.hrms.analytics.test_workforce_models import TEAMS, WORKFORCE

    assert tuple(reports.KINDS) == models.KINDS == get_args(ReportKind)  # the CHECK, the registry, the API
    await deliver(hrms, [*HISTORY, *WORKFORCE, *TEAMS])
    today = date.today()
    start, end, _ = period_of("last_12_months", today)
    window = {"from": start.isoformat(), "to": end.isoformat(), "interval": "month"}
    from tests.hrms.analytics.test_attendance import DAYS
    from tests.hrms.analytics.test_balances import LEDGER, PEOPLE
    from tests.hrms.analytics.test_sagas import SAGAS

    await deliver(hrms, [*PEOPLE, *LEDGER, *SAGAS, *DAYS])
    routes = {"utilization": "allocation"}
    direct = {
        kind: ok(await api.get(f"/api/analytics/companies/{C}/{routes.get(kind, kind)}", params=window))
        for kind in ("leave", "allocation", "utilization", "teams", "balances", "sagas", "attendance")
    }
    expected = {
        "leave": direct["leave"]["points"],
        "allocation": direct["allocation"]["projects"],
        "utilization": direct["utilization"]["utilization"],
        "teams": direct["teams"]["points"],
        "balances": direct["balances"]["points"],
        "sagas": direct["sagas"]["points"],
        "attendance": direct["attendance"]["points"],
    }
    assert set(expected) | {"headcount"} == set(reports.KINDS)
    for kind, points in expected.items():
        report = await create(api, C, name=f"{kind} report", kind=kind, period="last_12_months", interval="month")
        assert report["kind"] == kind
        run = ok(await api.post(f"/api/analytics/companies/{C}/reports/{report['id']}/runs"), 201)
        assert run["kind"] == kind
        # the history (2026-01..04) is inside the last 12 months only until 2027-01
        assert run["points"] == points, kind
        if today < date(2027, 1, 1):
            assert points, kind

        r = await api.get(run["csv"])
        assert r.status_code == 200
        table = list(csv.reader(io.StringIO(r.text)))
        assert tuple(table[0]) == reports.KINDS[kind].columns
        assert len(table) == len(points) + 1
        value = reports.KINDS[kind].value
        column = table[0].index(value)
        assert sorted(row[column] for row in table[1:]) == sorted(
            "" if p[value] is None else str(p[value]) for p in points
        )

        svg = ET.fromstring((await api.get(run["chart"])).text)
        lines = {p.get("data-series") for p in svg.iter("{http://www.w3.org/2000/svg}polyline")}
        series = reports.KINDS[kind].series
        names = {" ".join(str(p[c]) for c in series if p.get(c) is not None) or "company" for p in points}
        assert lines == names, kind
        assert value in (svg.findtext("{http://www.w3.org/2000/svg}title") or "")

    bad = await api.post(f"/api/analytics/companies/{C}/reports", json={"name": "X", "kind": "weather"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "kind"
