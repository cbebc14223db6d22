"""Demo leave data, loaded as the operator through the public API after the HR demo
made its companies and employees: three leave types per company (Annual 25 days,
Sick, Unpaid), two yearly holidays, every employee's allocations for this year and
the next, and two requests (one pending, one approved)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx

LEAVE = "/api/leave"
TYPES: list[dict[str, Any]] = [
    {"name": "Annual leave", "allowance_days": "25", "carry_forward_cap": "5", "carry_forward_expiry_months": 3},
    {"name": "Sick leave", "allowance_days": "10", "max_consecutive_days": "10"},
    {"name": "Unpaid leave", "paid": False, "allowance_days": "0", "allow_negative": True, "approval_levels": 2},
]
HOLIDAYS = [("New Year's Day", date(2000, 1, 1)), ("Christmas Day", date(2000, 12, 25))]


def _ok(response: httpx.Response) -> Any:
    response.raise_for_status()
    return response.json()


def _next_monday(after: date) -> date:
    """The first Monday after ``after`` whose Monday and Tuesday are working days of
    one year (not a demo holiday)."""
    day = after + timedelta(days=(7 - after.weekday()) % 7 or 7)
    holidays = {(h.month, h.day) for _name, h in HOLIDAYS}
    while {(d.month, d.day) for d in (day, day + timedelta(days=1))} & holidays or (day.month == 12 and day.day == 31):
        day += timedelta(days=7)
    return day


async def load(client: httpx.AsyncClient, companies: list[dict[str, Any]]) -> list[str]:
    """Load the demo leave data for ``companies`` (those without leave types yet)."""
    lines: list[str] = []
    people = _ok(await client.get("/api/employee/employees", params={"limit": 500}))["items"]
    today = date.today()
    for company in companies:
        cid = company["id"]
        known = _ok(await client.get(f"{LEAVE}/leave-types", params={"limit": 500}))["items"]
        if any(t["company_id"] == cid for t in known):
            continue
        types = [_ok(await client.post(f"{LEAVE}/leave-types", json={**t, "company_id": cid})) for t in TYPES]
        for name, day in HOLIDAYS:
            body = {"company_id": cid, "name": name, "day": day.isoformat(), "recurring": True}
            _ok(await client.post(f"{LEAVE}/holidays", json=body))
        staff = [p for p in people if p["company_id"] == cid]
        for person in staff:
            for leave_type in types[:2]:
                for year in (today.year, today.year + 1):
                    body = {"employee_id": person["id"], "leave_type_id": leave_type["id"], "year": year}
                    _ok(await client.post(f"{LEAVE}/allocations", json=body))
        reporting = [p for p in staff if p.get("manager_id")]
        lines.append(f"  leave: {company['name']}: {len(types)} leave types, {len(staff)} employees allocated")
        if not staff:
            continue
        start = _next_monday(today + timedelta(days=14))
        pending = {
            "employee_id": (reporting or staff)[0]["id"],
            "leave_type_id": types[0]["id"],
            "start_date": start.isoformat(),
            "end_date": (start + timedelta(days=1)).isoformat(),
            "reason": "Family visit",
        }
        _ok(await client.post(f"{LEAVE}/requests", json=pending))
        later = _next_monday(start)
        approved = {
            "employee_id": staff[-1]["id"],
            "leave_type_id": types[0]["id"],
            "start_date": later.isoformat(),
            "end_date": later.isoformat(),
            "last_day": "full",
        }
        made = _ok(await client.post(f"{LEAVE}/requests", json=approved))
        _ok(await client.post(f"{LEAVE}/requests/{made['id']}/approve", json={"comment": "Approved (demo)"}))
        lines.append(f"  leave: {company['name']}: a pending request ({start}) and an approved one ({later})")
    return lines
