"""Leave requests over HTTP, on SQLite and PostgreSQL: days counted from the calendar,
balances, the rules of a type, approval by the right person, cancellation."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from isles.runtime.system import SystemRuntime
from tests.hrms.helpers import ok
from tests.hrms.leave.helpers import LEAVE, allocate, balance, fields, leave_events, leave_type, request, team

pytestmark = [pytest.mark.integration, pytest.mark.services("leave")]


async def test_days_skip_weekends_and_holidays_and_count_half_days(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    t = await team(hrms, api)
    annual = await leave_type(api, t.company)
    await allocate(api, t.worker, annual)
    ok(await api.post(f"{LEAVE}/holidays", json={"company_id": t.company, "name": "Spring", "day": "2030-03-06"}), 201)
    # Monday afternoon .. Friday, Wednesday a holiday: 0.5 + 1 + 1 + 1
    a = ok(await request(api, annual, "2030-03-04", "2030-03-08", t.as_worker, first_day="afternoon"), 201)
    assert Decimal(a["days"]) == Decimal("3.5")
    # Thursday .. Tuesday morning, over a weekend: 1 + 1 + 1 + 0.5
    b = ok(await request(api, annual, "2030-03-14", "2030-03-19", t.as_worker, last_day="morning"), 201)
    assert Decimal(b["days"]) == Decimal("3.5")
    # One morning, then that day's afternoon: no overlap
    c = ok(await request(api, annual, "2030-03-21", headers=t.as_worker, first_day="morning", last_day="morning"), 201)
    d = ok(
        await request(api, annual, "2030-03-21", headers=t.as_worker, first_day="afternoon", last_day="afternoon"), 201
    )
    assert [Decimal(c["days"]), Decimal(d["days"])] == [Decimal("0.5"), Decimal("0.5")]
    # A recurring holiday counts every year; the days of a request are kept, not recounted
    ok(
        await api.post(
            f"{LEAVE}/holidays", json={"company_id": t.company, "name": "X", "day": "2001-03-25", "recurring": True}
        ),
        201,
    )
    e = ok(await request(api, annual, "2030-03-25", "2030-03-26", t.as_worker), 201)
    assert Decimal(e["days"]) == 1
    ok(await api.put(f"{LEAVE}/work-week", json={"company_id": t.company, "working_days": ["monday"]}))
    assert Decimal(ok(await api.get(f"{LEAVE}/requests/{a['id']}"))["days"]) == Decimal("3.5")
    assert (await balance(api, t.worker, annual))["pending"] == 9


async def test_balance_is_debited_on_approval_and_credited_back_on_cancellation(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    t = await team(hrms, api)
    annual = await leave_type(api, t.company)
    await allocate(api, t.worker, annual)
    r = ok(await request(api, annual, "2030-03-04", "2030-03-08", t.as_worker, reason="Spring"), 201)
    assert r["status"] == "PENDING"
    assert r["approver_id"] == t.manager["id"]
    b = await balance(api, t.worker, annual)
    assert (b["balance"], b["pending"], b["available"]) == (25, 5, 20)
    approved = ok(
        await api.post(f"{LEAVE}/requests/{r['id']}/approve", json={"comment": "Enjoy"}, headers=t.as_manager)
    )
    assert approved["status"] == "APPROVED"
    [decision] = approved["approvals"]
    assert (decision["decided_by"], decision["decision"], decision["level"]) == (t.manager["id"], "approved", 1)
    b = await balance(api, t.worker, annual)
    assert (b["credited"], b["taken"], b["balance"], b["pending"]) == (25, 5, 20, 0)
    # The requester may not cancel approved leave; an admin may, and the days come back.
    refused = await api.post(f"{LEAVE}/requests/{r['id']}/cancel", headers=t.as_worker)
    assert refused.status_code == 403, refused.text
    done = ok(await api.post(f"{LEAVE}/requests/{r['id']}/cancel", headers=t.as_admin))
    assert done["status"] == "CANCELLED"
    b = await balance(api, t.worker, annual)
    assert (b["credited"], b["taken"], b["balance"]) == (25, 0, 25)
    kinds = [e["kind"] for e in ok(await api.get(f"{LEAVE}/ledger", params={"employee_id": t.worker["id"]}))["items"]]
    assert sorted(kinds) == ["allocation", "cancellation", "taken"], "a reversing entry, nothing deleted"
    events = await leave_events(hrms, r["id"])
    assert [e for e, _ in events] == ["leave.LeaveRequested", "leave.LeaveApproved", "leave.LeaveCancelled"]
    assert events[0][1]["approver_id"] == t.manager["id"]
    assert events[1][1]["approved_by"] == t.manager["id"]
    assert events[2][1]["was_approved"] is True
    again = await api.post(f"{LEAVE}/requests/{r['id']}/cancel", headers=t.as_admin)
    assert again.status_code == 409
    assert fields(again) == ["status"]


async def test_a_pending_request_is_withdrawn_by_its_requester_and_rejection_debits_nothing(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    t = await team(hrms, api)
    annual = await leave_type(api, t.company)
    await allocate(api, t.worker, annual)
    r = ok(await request(api, annual, "2030-04-01", headers=t.as_worker), 201)
    manager_cancel = await api.post(f"{LEAVE}/requests/{r['id']}/cancel", headers=t.as_manager)
    assert manager_cancel.status_code == 403, "a manager decides; only the requester withdraws"
    assert ok(await api.post(f"{LEAVE}/requests/{r['id']}/cancel", headers=t.as_worker))["status"] == "CANCELLED"
    r2 = ok(await request(api, annual, "2030-04-01", headers=t.as_worker), 201)  # free again
    rejected = ok(await api.post(f"{LEAVE}/requests/{r2['id']}/reject", json={"comment": "Busy"}, headers=t.as_manager))
    assert rejected["status"] == "REJECTED"
    assert (await balance(api, t.worker, annual))["balance"] == 25
    events = await leave_events(hrms, r2["id"])
    assert [e for e, _ in events] == ["leave.LeaveRequested", "leave.LeaveRejected"]
    assert events[1][1]["comment"] == "Busy"
    late = await api.post(f"{LEAVE}/requests/{r2['id']}/approve", headers=t.as_manager)
    assert late.status_code == 409
    assert fields(late) == ["status"]


async def test_rules_refuse_overlap_short_balance_half_days_length_and_notice(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    t = await team(hrms, api)
    annual = await leave_type(api, t.company, max_consecutive_days="5")
    whole = await leave_type(api, t.company, "Training", half_days=False, min_notice_days=30, allowance_days="3")
    await allocate(api, t.worker, annual, days="6")
    await allocate(api, t.worker, whole)
    ok(await request(api, annual, "2030-03-04", "2030-03-08", t.as_worker), 201)  # 5 days, pending
    r = await request(api, annual, "2030-03-08", "2030-03-11", t.as_worker)
    assert r.status_code == 409, r.text
    assert fields(r) == ["start_date"], r.text
    r = await request(api, annual, "2030-03-11", "2030-03-12", t.as_worker)
    assert r.status_code == 422, r.text
    assert fields(r) == ["leave_type_id"], "6 - 5 pending leaves 1"
    r = await request(api, annual, "2030-05-06", "2030-05-13", t.as_worker)
    assert r.status_code == 422, r.text
    assert fields(r) == ["end_date"], "6 days in a row, at most 5"
    r = await request(api, whole, "2030-06-03", headers=t.as_worker, first_day="morning", last_day="morning")
    assert r.status_code == 422
    assert fields(r) == ["first_day"]
    import datetime

    soon = (datetime.date.today() + datetime.timedelta(days=3)).isoformat()
    r = await request(api, whole, soon, headers=t.as_worker)
    assert r.status_code == 422, r.text
    assert fields(r) in (["start_date"], ["end_date"]), r.text
    r = await request(api, annual, "2030-03-09", "2030-03-10", t.as_worker)  # a weekend
    assert r.status_code == 422
    assert fields(r) == ["start_date"]
    r = await request(api, annual, "2030-03-12", "2030-03-11", t.as_worker)
    assert r.status_code == 422
    assert fields(r) == ["end_date"]
    r = await request(api, annual, "2030-03-11", "2030-03-12", t.as_worker, first_day="morning")
    assert r.status_code == 422
    assert fields(r) == ["first_day"]
    r = await request(api, annual, "2030-12-30", "2031-01-02", t.as_worker)
    assert r.status_code == 422, r.text
    assert fields(r) == ["end_date"], "one leave year per request"
    negative = await leave_type(api, t.company, "Unpaid", paid=False, allowance_days="0", allow_negative=True)
    r = ok(await request(api, negative, "2030-07-01", "2030-07-05", t.as_worker), 201)
    assert r["paid"] is False


async def test_only_the_requesters_manager_or_an_admin_decides(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    from tests.hrms.helpers import headers_of, user_with_password

    t = await team(hrms, api)
    other_manager = await user_with_password(api, t.company, "manager", first_name="Other", last_name="Boss")
    await hrms.settle()
    as_other = await headers_of(api, other_manager)
    annual = await leave_type(api, t.company)
    await allocate(api, t.worker, annual)
    r = ok(await request(api, annual, "2030-03-04", headers=t.as_worker), 201)
    wrong = await api.post(f"{LEAVE}/requests/{r['id']}/approve", headers=as_other)
    assert wrong.status_code == 404, "not their report: not there for them"
    assert (await api.get(f"{LEAVE}/requests/{r['id']}", headers=as_other)).status_code == 404
    assert ok(await api.get(f"{LEAVE}/requests", headers=as_other))["total"] == 0
    as_employee = await api.post(f"{LEAVE}/requests/{r['id']}/approve", headers=t.as_worker)
    assert as_employee.status_code == 403, "an employee lacks leave:approve"
    # The manager's own request goes to their manager (none): an admin decides.
    await allocate(api, t.manager, annual)
    own = ok(await request(api, annual, "2030-03-05", headers=t.as_manager), 201)
    assert own["approver_id"] is None
    assert (await api.post(f"{LEAVE}/requests/{own['id']}/approve", headers=t.as_manager)).status_code == 403
    assert ok(await api.post(f"{LEAVE}/requests/{own['id']}/approve", headers=t.as_admin))["status"] == "APPROVED"
    # What each sees: the worker their own; the manager theirs and their report's; the admin all.
    assert {x["id"] for x in ok(await api.get(f"{LEAVE}/requests", headers=t.as_worker))["items"]} == {r["id"]}
    assert ok(await api.get(f"{LEAVE}/requests", headers=t.as_manager))["total"] == 2
    assert ok(await api.get(f"{LEAVE}/requests", headers=t.as_admin))["total"] == 2
    worker_balances = ok(await api.get(f"{LEAVE}/balances", params={"year": 2030}, headers=t.as_worker))["items"]
    assert {b["employee_id"] for b in worker_balances} == {t.worker["id"]}
    peek = await api.get(f"{LEAVE}/balances", params={"employee_id": t.manager["id"]}, headers=t.as_worker)
    assert peek.status_code == 404
    assert ok(await api.post(f"{LEAVE}/requests/{r['id']}/approve", headers=t.as_manager))["status"] == "APPROVED"


async def test_two_levels_wait_for_the_manager_then_hr(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    t = await team(hrms, api)
    sabbatical = await leave_type(api, t.company, "Sabbatical", approval_levels=2)
    await allocate(api, t.worker, sabbatical)
    r = ok(await request(api, sabbatical, "2030-09-02", "2030-09-06", t.as_worker), 201)
    first = ok(await api.post(f"{LEAVE}/requests/{r['id']}/approve", headers=t.as_manager))
    assert (first["status"], first["level"], first["approver_id"]) == ("PENDING", 2, None)
    assert (await balance(api, t.worker, sabbatical))["taken"] == 0
    assert (await api.post(f"{LEAVE}/requests/{r['id']}/approve", headers=t.as_manager)).status_code == 403
    final = ok(await api.post(f"{LEAVE}/requests/{r['id']}/approve", headers=t.as_admin))
    assert final["status"] == "APPROVED"
    assert [(a["level"], a["decided_by"]) for a in final["approvals"]] == [(1, t.manager["id"]), (2, t.admin["id"])]
    assert (await balance(api, t.worker, sabbatical))["taken"] == 5
    events = await leave_events(hrms, r["id"])
    assert [e for e, _ in events] == ["leave.LeaveRequested", "leave.LeaveRequested", "leave.LeaveApproved"]
    assert [d.get("approver_id") for _, d in events[:2]] == [t.manager["id"], None]


async def test_another_companys_leave_is_not_there(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    t = await team(hrms, api, "Ours")
    u = await team(hrms, api, "Theirs")
    theirs = await leave_type(api, u.company)
    await allocate(api, u.worker, theirs)
    r = ok(await request(api, theirs, "2030-03-04", headers=u.as_worker), 201)
    for method, path in [
        ("GET", f"/requests/{r['id']}"),
        ("POST", f"/requests/{r['id']}/approve"),
        ("POST", f"/requests/{r['id']}/cancel"),
        ("GET", f"/leave-types/{theirs['id']}"),
        ("PATCH", f"/leave-types/{theirs['id']}"),
    ]:
        answer = await api.request(method, f"{LEAVE}{path}", headers=t.as_admin, json={} if method == "PATCH" else None)
        assert answer.status_code == 404, f"{method} {path}: {answer.status_code}"
    mine = await request(api, theirs, "2030-03-05", headers=t.as_admin, employee_id=t.worker["id"])
    assert mine.status_code == 422
    assert fields(mine) == ["leave_type_id"]
    theirs_person = await api.post(
        f"{LEAVE}/allocations",
        json={"employee_id": u.worker["id"], "leave_type_id": (await leave_type(api, t.company))["id"], "year": 2030},
        headers=t.as_admin,
    )
    assert theirs_person.status_code == 422
    assert fields(theirs_person) == ["employee_id"]
    assert ok(await api.get(f"{LEAVE}/requests", headers=t.as_admin))["total"] == 0


async def test_bad_input_is_a_problem_naming_the_field(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    t = await team(hrms, api)
    cases = [
        ("/leave-types", {"name": "", "allowance_days": "1"}, "name"),
        ("/leave-types", {"name": "X", "allowance_days": "-1"}, "allowance_days"),
        ("/leave-types", {"name": "X", "approval_levels": 3}, "approval_levels"),
        ("/holidays", {"name": "X", "day": "1066-10-14"}, "day"),
        (
            "/adjustments",
            {"employee_id": t.worker["id"], "leave_type_id": t.worker["id"], "year": 2030, "days": "0", "reason": "x"},
            "days",
        ),
        (
            "/requests",
            {"leave_type_id": t.worker["id"], "start_date": "2030-01-07", "end_date": "2030-01-07"},
            "leave_type_id",
        ),
    ]
    for path, body, field in cases:
        r = await api.post(f"{LEAVE}{path}", json=body, headers=t.as_admin)
        assert r.status_code == 422, (path, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert field in fields(r), (path, r.text)
    await leave_type(api, t.company, "Twice")
    dup = await api.post(f"{LEAVE}/leave-types", json={"name": "Twice"}, headers=t.as_admin)
    assert dup.status_code == 409
    assert fields(dup) == ["name"]
