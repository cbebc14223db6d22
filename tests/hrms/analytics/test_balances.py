"""The balances read model (issue 23), on SQLite and PostgreSQL: leave balances by type
and department per period against a scripted ledger history computed by hand (an
allocation in January, a carry-forward and its expiry, monthly accruals, leave taken,
a cancellation giving days back, an adjustment, an entry effective later, an employee
transferred between departments mid-year, another company's entries); a redelivered
entry changes nothing; a rebuild equals the live model; the cached figure moves with
ledger events and transfers only; who may read it; and the leave service's real flow
(an allocation and a request approved through its API) in the figure, end to end."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from hrms.contracts.leave import LEDGER_AGGREGATE, LedgerEntryPosted
from hrms.services.analytics.archive import ARCHIVE
from hrms.services.analytics.balances import BalanceEntry
from isles import ACROSS_TENANTS
from isles.core.events import Envelope
from isles.runtime.system import SystemRuntime
from tests.hrms.analytics.test_access import department
from tests.hrms.analytics.test_headcount import C, change, deliver, hire
from tests.hrms.helpers import headers_of, new_company, new_employee, ok, user_with_password

pytestmark = [pytest.mark.integration, pytest.mark.services("analytics")]

D = uuid.uuid4()  # another company than C (the employee events' helpers')
A, B = uuid.uuid4(), uuid.uuid4()  # two departments of C
ANNUAL, ACCRUED = uuid.uuid4(), uuid.uuid4()
NAMES = {ANNUAL: "Annual leave", ACCRUED: "Accrued leave"}
P1, P2, P3, P5 = (uuid.uuid4() for _ in range(4))  # P5: no employee events
P4 = uuid.uuid4()  # of company D


def entry(
    employee: uuid.UUID,
    kind_of_leave: uuid.UUID,
    year: int,
    kind: str,
    days: str,
    effective: str,
    *,
    company: uuid.UUID = C,
    expires: str | None = None,
    request: uuid.UUID | None = None,
    key: uuid.UUID | None = None,
) -> Envelope:
    event = LedgerEntryPosted(
        id=key or uuid.uuid4(),
        company_id=company,
        employee_id=employee,
        leave_type_id=kind_of_leave,
        leave_type_name=NAMES.get(kind_of_leave, "Annual leave"),
        year=year,
        kind=kind,  # type: ignore[arg-type]
        days=Decimal(days),
        effective_on=date.fromisoformat(effective),
        expires_on=date.fromisoformat(expires) if expires else None,
        request_id=request,
    )
    return Envelope.new(
        event,
        source="/isles/leave",
        aggregate_type=LEDGER_AGGREGATE,
        aggregate_id=str(event.id),
        aggregate_version=1,
        tenant_id=str(company),
    )


R1, R2, R3, R4 = (uuid.uuid4() for _ in range(4))
PEOPLE = [
    hire(P1, "2025-06-01", A),
    hire(P2, "2025-03-01", A),
    hire(P3, "2025-01-10", B),
    hire(P4, "2025-01-10", None, company=D),
    change(P2, 2, "2026-03-15", B),  # transferred mid-year: in A until March 14, in B from March 15
]
LEDGER = [
    # 2025: another year, never counted in 2026's figures
    entry(P1, ANNUAL, 2025, "allocation", "20", "2025-01-01"),
    entry(P1, ANNUAL, 2025, "carry_forward", "-4", "2025-12-31"),
    # January: allocations, the carry-forward in (expiring April 1st)
    entry(P1, ANNUAL, 2026, "allocation", "20", "2026-01-01"),
    entry(P1, ANNUAL, 2026, "carry_forward", "4", "2026-01-01", expires="2026-04-01"),
    entry(P2, ANNUAL, 2026, "allocation", "20", "2026-01-01"),
    entry(P3, ANNUAL, 2026, "allocation", "25", "2026-01-01"),
    entry(P5, ANNUAL, 2026, "allocation", "10", "2026-01-01"),  # in no known department
    entry(P4, ANNUAL, 2026, "allocation", "30", "2026-01-01", company=D),
    # monthly accruals, January to April
    *[entry(p, ACCRUED, 2026, "accrual", "1.5", f"2026-{m:02d}-01") for p in (P1, P2) for m in (1, 2, 3, 4)],
    # leave taken; a request approved then cancelled (its days back, the same day)
    entry(P1, ANNUAL, 2026, "taken", "-3", "2026-02-10", request=R1),
    entry(P2, ANNUAL, 2026, "taken", "-2", "2026-02-16", request=R2),
    entry(P2, ANNUAL, 2026, "taken", "-1", "2026-04-06", request=R3),
    entry(P2, ANNUAL, 2026, "cancellation", "1", "2026-04-06", request=R3),
    # an adjustment; leave approved for May (effective then: not in January to April)
    entry(P3, ANNUAL, 2026, "adjustment", "1.5", "2026-03-10"),
    entry(P3, ANNUAL, 2026, "taken", "-5", "2026-05-04", request=R4),
    # the carried days expire unused
    entry(P1, ANNUAL, 2026, "expiry", "-4", "2026-04-01"),
]

Row = tuple[str, str, str | None, int, str, str, str]

#: (month, type, department, employees, credited, taken, balance), by hand:
#: P1: Annual 20 + 4 carried, 3 taken in February, the 4 carried expire in April;
#: P2: Annual 20, 2 taken in February, 1 taken and given back in April; in B from March 15;
#: P3 (B): Annual 25, +1.5 adjusted in March; P5 (no department): 10;
#: Accrued: P1 and P2 1.5 a month.
EXPECTED: set[Row] = {
    ("2026-01", "Annual leave", str(A), 2, "44.00", "0.00", "44.00"),
    ("2026-01", "Annual leave", str(B), 1, "25.00", "0.00", "25.00"),
    ("2026-01", "Annual leave", None, 1, "10.00", "0.00", "10.00"),
    ("2026-01", "Accrued leave", str(A), 2, "3.00", "0.00", "3.00"),
    ("2026-02", "Annual leave", str(A), 2, "44.00", "5.00", "39.00"),
    ("2026-02", "Annual leave", str(B), 1, "25.00", "0.00", "25.00"),
    ("2026-02", "Annual leave", None, 1, "10.00", "0.00", "10.00"),
    ("2026-02", "Accrued leave", str(A), 2, "6.00", "0.00", "6.00"),
    ("2026-03", "Annual leave", str(A), 1, "24.00", "3.00", "21.00"),
    ("2026-03", "Annual leave", str(B), 2, "46.50", "2.00", "44.50"),
    ("2026-03", "Annual leave", None, 1, "10.00", "0.00", "10.00"),
    ("2026-03", "Accrued leave", str(A), 1, "4.50", "0.00", "4.50"),
    ("2026-03", "Accrued leave", str(B), 1, "4.50", "0.00", "4.50"),
    ("2026-04", "Annual leave", str(A), 1, "20.00", "3.00", "17.00"),
    ("2026-04", "Annual leave", str(B), 2, "46.50", "2.00", "44.50"),
    ("2026-04", "Annual leave", None, 1, "10.00", "0.00", "10.00"),
    ("2026-04", "Accrued leave", str(A), 1, "6.00", "0.00", "6.00"),
    ("2026-04", "Accrued leave", str(B), 1, "6.00", "0.00", "6.00"),
}


async def get(
    api: httpx.AsyncClient, company: uuid.UUID | str = C, headers: dict[str, str] | None = None, **params: str
) -> httpx.Response:
    query = {"from": "2026-01-01", "to": "2026-04-30", "interval": "month", **params}
    return await api.get(f"/api/analytics/companies/{company}/balances", params=query, headers=headers)


def rows(body: dict[str, Any]) -> set[Row]:
    return {
        (
            p["starts_on"][:7],
            p["leave_type"],
            p["department_id"],
            p["employees"],
            p["credited"],
            p["taken"],
            p["balance"],
        )
        for p in body["points"]
    }


async def model_rows(hrms: SystemRuntime) -> set[tuple[Any, ...]]:
    async with hrms["analytics"].db.read_session(tenant=ACROSS_TENANTS) as session:
        generation = await ARCHIVE.generation(session, "balances")
        found = await session.scalars(select(BalanceEntry).where(BalanceEntry.generation == generation))
        return {
            (r.entry_id, r.company_id, r.employee_id, r.leave_type_id, r.year, r.kind, r.days, r.effective_on)
            for r in found
        }


async def test_balances_follow_a_scripted_history(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    await deliver(hrms, [*PEOPLE, *LEDGER])
    body = ok(await get(api))
    assert rows(body) == EXPECTED
    assert len(body["points"]) == len(EXPECTED)
    assert {p["leave_type_id"] for p in body["points"]} == {str(ANNUAL), str(ACCRUED)}

    # quarters: the figure on each period's last day (Q2 cut to April 30th)
    quarters = rows(ok(await get(api, interval="quarter")))
    assert quarters == {("2026-01", *r[1:]) for r in EXPECTED if r[0] == "2026-03"} | {
        ("2026-04", *r[1:]) for r in EXPECTED if r[0] == "2026-04"
    }
    # May: the leave approved for May 4th counts from then
    may = rows(ok(await get(api, **{"from": "2026-05-01", "to": "2026-05-31"})))
    assert ("2026-05", "Annual leave", str(B), 2, "46.50", "7.00", "39.50") in may
    # the next year: nothing of 2026 is in force on January 31st, 2027
    assert ok(await get(api, **{"from": "2027-01-01", "to": "2027-01-31"}))["points"] == []
    # the other company sees only its own
    assert rows(ok(await get(api, D))) >= {("2026-01", "Annual leave", None, 1, "30.00", "0.00", "30.00")}

    # an entry delivered again (another envelope of the same entry) changes nothing
    again = LEDGER[2]
    copy = Envelope.new(
        LedgerEntryPosted.model_validate(again.data),
        source="/isles/leave",
        aggregate_type=LEDGER_AGGREGATE,
        aggregate_id=again.aggregateid,
        aggregate_version=1,
        tenant_id=str(C),
    )
    live = await model_rows(hrms)
    await deliver(hrms, [again, copy])
    assert await model_rows(hrms) == live
    assert rows(ok(await get(api))) == EXPECTED


async def test_a_rebuild_equals_the_live_model(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    await deliver(hrms, [*PEOPLE, *LEDGER])
    live_rows, live = await model_rows(hrms), ok(await get(api))
    result = await ARCHIVE.rebuild(hrms["analytics"].db, "balances")
    assert result.generation == 2
    assert await model_rows(hrms) == live_rows
    assert len(live_rows) == len(LEDGER)
    assert ok(await get(api)) == live


async def test_the_cached_figure_moves_with_ledger_events_and_transfers(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    await deliver(hrms, [*PEOPLE, *LEDGER])
    first = await get(api)
    assert first.headers["Cache-Status"] == "isles; fwd=miss; stored"
    assert (await get(api)).headers["Cache-Status"] == "isles; hit"
    # another company's entry: C's figure stays cached
    await deliver(hrms, [entry(P4, ANNUAL, 2026, "adjustment", "2", "2026-02-01", company=D)])
    assert (await get(api)).headers["Cache-Status"] == "isles; hit"
    # C's own entry: the next read is a miss with the new figure
    await deliver(hrms, [entry(P3, ANNUAL, 2026, "adjustment", "-0.5", "2026-02-01")])
    r = await get(api)
    assert r.headers["Cache-Status"] == "isles; fwd=miss; stored"
    assert ("2026-02", "Annual leave", str(B), 1, "24.50", "0.00", "24.50") in rows(r.json())
    assert (await get(api)).headers["Cache-Status"] == "isles; hit"
    # a transfer moves the employee's balances from that day: the headcount's stamp keys it
    await deliver(hrms, [change(P3, 2, "2026-04-20", A)])
    r = await get(api)
    assert r.headers["Cache-Status"] == "isles; fwd=miss; stored"
    april = {x for x in rows(r.json()) if x[0] == "2026-04" and x[1] == "Annual leave"}
    assert april == {
        ("2026-04", "Annual leave", str(A), 2, "46.00", "3.00", "43.00"),  # P1 17 + P3 26
        ("2026-04", "Annual leave", str(B), 1, "20.00", "2.00", "18.00"),  # P2
        ("2026-04", "Annual leave", None, 1, "10.00", "0.00", "10.00"),
    }


async def test_a_manager_reads_their_own_departments_balances(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    company = (await new_company(api, "Balances Co"))["id"]
    sales, support = await department(api, company, "Sales"), await department(api, company, "Support")
    await hrms.settle()
    admin = await user_with_password(api, company, "admin")
    manager = await user_with_password(api, company, "manager", department_id=sales)
    employee = await user_with_password(api, company, "employee", department_id=sales)
    supporter = await new_employee(api, company_id=company, department_id=support, first_name="S")
    other = (await new_company(api, "Other Balances Co"))["id"]
    stranger = await user_with_password(api, other, "admin")
    await hrms.settle()
    cid = uuid.UUID(company)
    await deliver(
        hrms,
        [
            entry(uuid.UUID(employee["id"]), ANNUAL, 2024, "allocation", "20", "2024-03-01", company=cid),
            entry(uuid.UUID(supporter["id"]), ANNUAL, 2024, "allocation", "25", "2024-03-01", company=cid),
        ],
    )
    period = {"from": "2024-03-01", "to": "2024-03-31"}  # the helpers hire on 2024-03-01

    every = ok(await get(api, company, await headers_of(api, admin), **period))
    assert {(p["department_id"], p["balance"]) for p in every["points"]} == {(sales, "20.00"), (support, "25.00")}
    mine = ok(await get(api, company, await headers_of(api, manager), **period))
    assert {(p["department_id"], p["balance"]) for p in mine["points"]} == {(sales, "20.00")}
    r = await get(api, company, await headers_of(api, employee), **period)
    assert r.status_code == 403
    r = await get(api, company, await headers_of(api, stranger), **period)
    assert r.status_code == 404
    r = await get(api, company, await headers_of(api, stranger), **{**period, "to": "2024-02-01"})
    assert r.status_code == 404, "another company's answer is 404 before anything else"


@pytest.mark.services("leave", "analytics")
async def test_an_approved_request_reaches_the_balances_figure(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    from tests.hrms.leave.helpers import LEAVE, allocate, leave_type, request, team

    t = await team(hrms, api, "Balances End To End")
    annual = await leave_type(api, t.company)  # 25 days a year
    await allocate(api, t.worker, annual)  # 2030
    made = ok(await request(api, annual, "2030-06-04", "2030-06-05", t.as_worker), 201)
    ok(await api.post(f"{LEAVE}/requests/{made['id']}/approve", headers=t.as_manager))
    await hrms.settle()
    body = ok(await get(api, t.company, **{"from": "2030-05-01", "to": "2030-06-30"}))
    assert rows(body) == {
        ("2030-05", "Annual leave", None, 1, "25.00", "0.00", "25.00"),
        ("2030-06", "Annual leave", None, 1, "25.00", "2.00", "23.00"),
    }
    assert {p["leave_type_id"] for p in body["points"]} == {annual["id"]}


@pytest.mark.services("leave", "analytics")
async def test_entries_written_before_they_were_published_are_announced_by_a_migration(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    """leave 0002 announces the ledger as it stood: an entry an older version wrote
    without its event (inserted here as that version did) reaches the figure."""
    from sqlalchemy import insert

    from hrms.services.leave.models import LedgerEntry
    from isles import ACROSS_TENANTS
    from isles.storage import migrations
    from tests.hrms.leave.helpers import leave_type, team

    t = await team(hrms, api, "Balances Announced")
    annual = await leave_type(api, t.company)
    await hrms.settle()
    old = uuid.uuid4()
    leave = hrms["leave"]
    async with leave.db.writing(tenant=ACROSS_TENANTS) as session, session.begin():
        await session.execute(
            insert(LedgerEntry).values(
                id=old,
                company_id=uuid.UUID(t.company),
                employee_id=uuid.UUID(t.worker["id"]),
                leave_type_id=uuid.UUID(annual["id"]),
                year=2031,
                kind="allocation",
                days=Decimal("12.50"),
                effective_on=date(2031, 1, 1),
            )
        )
    window = {"from": "2031-01-01", "to": "2031-01-31"}
    assert ok(await get(api, t.company, **window))["points"] == []  # never published: not known

    await migrations.downgrade(leave.db, leave.service, "0001")
    await migrations.upgrade(leave.db, leave.service)
    await hrms.settle()
    body = ok(await get(api, t.company, **window))
    assert rows(body) == {("2031-01", "Annual leave", None, 1, "12.50", "0.00", "12.50")}
