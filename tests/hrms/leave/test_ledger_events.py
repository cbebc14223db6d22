"""Every ledger entry is published (``leave.LedgerEntryPosted``), on SQLite and
PostgreSQL: each way of writing entries (an allocation, an adjustment, a request's
approval and its cancellation, the accrual, carry-forward and expiry jobs, over HTTP
and as scheduled jobs) writes exactly one event per entry with the entry's values, in
the transaction that writes the entry: a rollback leaves neither."""

from __future__ import annotations

import json
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from hrms.contracts.leave import LEDGER_AGGREGATE
from hrms.services.leave import jobs, ledger
from hrms.services.leave.jobs import JOBS
from hrms.services.leave.models import ADJUSTMENT, LeaveType, LedgerEntry
from isles import ACROSS_TENANTS
from isles.runtime.system import SystemRuntime
from isles.storage.schema import outbox_table
from tests.hrms.helpers import ok
from tests.hrms.leave.helpers import LEAVE, allocate, leave_type, request, team

pytestmark = [pytest.mark.integration, pytest.mark.services("leave")]

POSTED = "leave.LedgerEntryPosted"


async def published(hrms: SystemRuntime, company: str) -> list[tuple[str, str, int, dict[str, Any]]]:
    """The ledger events of ``company`` in the leave service's outbox: (aggregate type,
    aggregate id, version, data)."""
    o = outbox_table.c
    q = select(o.aggregate_type, o.aggregate_id, o.aggregate_version, o.payload).where(
        o.event_type == POSTED, o.tenant_id == company
    )
    async with hrms["leave"].db.read_session(tenant=ACROSS_TENANTS) as session:
        rows = (await session.execute(q.order_by(o.id))).all()
    return [(r[0], r[1], r[2], json.loads(r[3])["data"]) for r in rows]


async def entries(hrms: SystemRuntime, company: str) -> dict[str, dict[str, Any]]:
    """The ledger's entries of ``company`` as their events should carry them, by id."""
    e = LedgerEntry
    q = select(e, LeaveType.name).join(LeaveType, LeaveType.id == e.leave_type_id)
    async with hrms["leave"].db.read_session(tenant=ACROSS_TENANTS) as session:
        rows = (await session.execute(q.where(e.company_id == uuid.UUID(company)))).all()
    return {
        str(r.id): {
            "id": str(r.id),
            "company_id": str(r.company_id),
            "employee_id": str(r.employee_id),
            "leave_type_id": str(r.leave_type_id),
            "leave_type_name": name,
            "year": r.year,
            "kind": r.kind,
            "days": ledger.days(r.days),
            "effective_on": r.effective_on.isoformat(),
            "expires_on": r.expires_on.isoformat() if r.expires_on else None,
            "request_id": str(r.request_id) if r.request_id else None,
        }
        for r, name in rows
    }


async def assert_one_event_per_entry(hrms: SystemRuntime, company: str) -> dict[str, dict[str, Any]]:
    events = await published(hrms, company)
    ledger_rows = await entries(hrms, company)
    assert len(events) == len(ledger_rows), "one event per entry, no more"
    seen = {}
    for aggregate_type, aggregate_id, version, data in events:
        assert (aggregate_type, version) == (LEDGER_AGGREGATE, 1)
        assert aggregate_id == data["id"]
        seen[aggregate_id] = {**data, "days": Decimal(data["days"])}
    assert seen == ledger_rows
    return ledger_rows


async def test_every_way_of_writing_entries_publishes_each_once(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    t = await team(hrms, api)
    annual = await leave_type(api, t.company, carry_forward_cap="5", carry_forward_expiry_months=3)
    accruing = await leave_type(api, t.company, "Accruing", allowance_days="0", monthly_accrual="2.08")
    await allocate(api, t.worker, annual, year=2029, days="10")
    adjustment = {
        "employee_id": t.worker["id"],
        "leave_type_id": annual["id"],
        "year": 2029,
        "days": "1.5",
        "reason": "Worked on a public holiday",
    }
    ok(await api.post(f"{LEAVE}/adjustments", json=adjustment, headers=t.as_admin), 201)
    taken = ok(await request(api, annual, "2029-06-04", "2029-06-05", t.as_worker), 201)
    ok(await api.post(f"{LEAVE}/requests/{taken['id']}/approve", headers=t.as_manager))
    back = ok(await request(api, annual, "2029-07-02", "2029-07-02", t.as_worker), 201)
    ok(await api.post(f"{LEAVE}/requests/{back['id']}/approve", headers=t.as_manager))
    ok(await api.post(f"{LEAVE}/requests/{back['id']}/cancel", headers=t.as_admin))
    rows = await assert_one_event_per_entry(hrms, t.company)
    kinds = sorted((r["kind"], r["days"], r["request_id"]) for r in rows.values())
    assert kinds == [
        ("adjustment", Decimal("1.50"), None),
        ("allocation", Decimal("10.00"), None),
        ("cancellation", Decimal("1.00"), back["id"]),
        ("taken", Decimal("-2.00"), taken["id"]),
        ("taken", Decimal("-1.00"), back["id"]),
    ]

    # the jobs over HTTP: 3 accruals (admin, manager, worker), carry-forward out and in, an expiry
    assert (
        ok(await api.post(f"{LEAVE}/jobs/accrue", json={"company_id": t.company, "day": "2030-03-15"}))["entries"] == 3
    )
    assert (
        ok(await api.post(f"{LEAVE}/jobs/carry-forward", json={"company_id": t.company, "day": "2030-01-01"}))[
            "entries"
        ]
        == 2
    )
    assert (
        ok(await api.post(f"{LEAVE}/jobs/expire", json={"company_id": t.company, "day": "2030-04-01"}))["entries"] == 1
    )
    # and as scheduled (across companies): April's accrual
    [accrue] = [j for j in JOBS if j.name == "accrue"]
    assert await accrue.run(hrms["leave"], date(2030, 4, 1)) == "accrue 2030-04: 3 entries added"
    rows = await assert_one_event_per_entry(hrms, t.company)
    jobs_rows = sorted(
        (r["kind"], r["year"], r["leave_type_name"], r["days"], r["effective_on"], r["expires_on"])
        for r in rows.values()
        if r["kind"] in ("accrual", "carry_forward", "expiry")
    )
    assert jobs_rows == [
        *[("accrual", 2030, "Accruing", Decimal("2.08"), "2030-03-01", None)] * 3,
        *[("accrual", 2030, "Accruing", Decimal("2.08"), "2030-04-01", None)] * 3,
        ("carry_forward", 2029, "Annual leave", Decimal("-5.00"), "2029-12-31", None),
        ("carry_forward", 2030, "Annual leave", Decimal("5.00"), "2030-01-01", "2030-04-01"),
        ("expiry", 2030, "Annual leave", Decimal("-5.00"), "2030-04-01", None),
    ]
    assert {r["employee_id"] for r in rows.values() if r["kind"] == "accrual"} == {
        t.admin["id"],
        t.manager["id"],
        t.worker["id"],
    }
    assert accruing["name"] == "Accruing"


async def _counts(hrms: SystemRuntime, company: uuid.UUID) -> tuple[int, int]:
    async with hrms["leave"].db.read_session(tenant=ACROSS_TENANTS) as session:
        written = await session.scalar(select(func.count()).where(LedgerEntry.company_id == company))
        events = await session.scalar(
            select(func.count()).where(outbox_table.c.event_type == POSTED, outbox_table.c.tenant_id == str(company))
        )
    return int(written or 0), int(events or 0)


class Boom(Exception):
    pass


async def test_entries_and_their_events_commit_or_roll_back_together(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    t = await team(hrms, api)
    company = uuid.UUID(t.company)
    annual = await leave_type(api, t.company, carry_forward_cap="5")
    accruing = await leave_type(api, t.company, "Accruing", allowance_days="0", monthly_accrual="1.5")
    worker, kind = uuid.UUID(t.worker["id"]), uuid.UUID(annual["id"])

    def adjustment() -> ledger.Entry:
        return ledger.Entry(company, worker, kind, 2030, ADJUSTMENT, Decimal(2), date(2030, 5, 1), reason="x")

    async def written_then_failed(write: str) -> None:
        async with hrms["leave"].uow(tenant=company) as uow:
            if write == "post":
                await ledger.post(uow, [adjustment()])
            else:
                assert await jobs.accrue(uow, date(2030, 5, 1), company) == 3
            assert len(uow.emitted) == (1 if write == "post" else 3)
            await uow.flush()
            raise Boom

    for write in ("post", "accrue"):
        with pytest.raises(Boom):
            await written_then_failed(write)
        assert await _counts(hrms, company) == (0, 0), f"{write}: a rollback leaves neither"

    async with hrms["leave"].uow(tenant=company) as uow:
        await ledger.post(uow, [adjustment(), adjustment()])
        assert await jobs.accrue(uow, date(2030, 5, 1), company) == 3
        await uow.commit()
    assert await _counts(hrms, company) == (5, 5)
    rows = await assert_one_event_per_entry(hrms, t.company)
    assert {r["leave_type_name"] for r in rows.values()} == {"Annual leave", "Accruing"}
    assert accruing["id"] in {r["leave_type_id"] for r in rows.values()}
