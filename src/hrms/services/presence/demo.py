"""Demo data of the presence service, made through its public API as the operator
after the HR demo made the companies and employees: per company a place (with a
geofence), an NFC tag at its door, a day shift given to everyone, yesterday's
last working day's check-ins of the first few employees (entered as an admin's added records, since the
operator is no employee who could check in) and that day's attendance computed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

_PLACES = {0: ("Head office", "51.507351", "-0.127758"), 1: ("Research lab", "48.856613", "2.352222")}
# (kind, hour, minute) of yesterday per employee index: punctual, late, forgot to check out
_DAYS = [
    [("in", 8, 58), ("out", 17, 5)],
    [("in", 9, 25), ("out", 17, 30)],
    [("in", 9, 0)],
]


def _ok(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise RuntimeError(f"presence demo: {response.request.method} {response.request.url}: {response.text}")
    return response.json() if response.content else None


async def load(client: httpx.AsyncClient, companies: list[dict[str, Any]]) -> list[str]:
    """Load the demo data for ``companies`` (each with an ``id`` and a ``name``) that
    have no place yet (loading again adds nothing)."""
    lines: list[str] = []
    placed = {p["company_id"] for p in _ok(await client.get("/api/presence/places", params={"limit": 500}))["items"]}
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    while yesterday.isoweekday() > 5:  # the last working day: the shift's
        yesterday -= timedelta(days=1)
    for n, company in enumerate(companies):
        cid = company["id"]
        if cid in placed:
            continue
        name, lat, lon = _PLACES.get(n % 2, _PLACES[0])
        place = _ok(
            await client.post(
                "/api/presence/places",
                json={"company_id": cid, "name": name, "latitude": lat, "longitude": lon, "radius_m": 150},
            )
        )
        tag = _ok(
            await client.post(
                "/api/presence/tags",
                json={"company_id": cid, "uid": f"04:DE:MO:{n:02d}", "place_id": place["id"], "label": "Front door"},
            )
        )
        shift = _ok(
            await client.post(
                "/api/presence/shifts",
                json={
                    "company_id": cid,
                    "name": "Day",
                    "start_time": "09:00",
                    "end_time": "17:00",
                    "late_grace_minutes": 10,
                    "early_grace_minutes": 10,
                    "half_day_minutes": 240,
                },
            )
        )
        people = _ok(await client.get("/api/employee/employees", params={"company_id": cid, "limit": 500}))["items"]
        for person in people:
            body = {"company_id": cid, "employee_id": person["id"], "shift_id": shift["id"], "start_date": "2024-01-15"}
            _ok(await client.post("/api/presence/shift-assignments", json=body))
        for person, events in zip(people, _DAYS, strict=False):
            for kind, hour, minute in events:
                at = datetime(yesterday.year, yesterday.month, yesterday.day, hour, minute, tzinfo=UTC)
                body = {"employee_id": person["id"], "kind": kind, "at": at.isoformat(), "reason": "Demo data"}
                _ok(await client.post("/api/presence/checkins/corrections", json=body))
        computed = _ok(
            await client.post("/api/presence/days/compute", json={"company_id": cid, "day": yesterday.isoformat()})
        )
        lines.append(
            f"presence: {company.get('name', cid)}: place {name!r} with tag {tag['uid']}, shift Day for "
            f"{len(people)} employees, attendance of {yesterday}: {computed['by_status']}"
        )
    return lines
