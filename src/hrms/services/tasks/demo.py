"""Demo tasks, loaded as the operator through the public API after the HR demo made
its companies and employees: a handful per company in every status, each assigned to
one of the company's employees (the operator made them: no creator)."""

from __future__ import annotations

import asyncio
import time
from datetime import date, timedelta
from typing import Any

import httpx

TASKS = "/api/tasks/tasks"
#: (title, priority, due in days (None: no date), status to move it to, employee index)
DEMO: list[tuple[str, str, int | None, str, int]] = [
    ("Write the onboarding checklist", "medium", 14, "TODO", 2),
    ("Review the quarterly access rights", "high", 7, "IN_PROGRESS", 1),
    ("Fix the payslip rounding", "urgent", 2, "IN_PROGRESS", -1),
    ("Order the new laptops", "low", None, "DONE", 0),
    ("Plan the summer offsite", "low", 60, "CANCELLED", -2),
]
#: How long to wait for the tasks service to hear of a new employee.
PATIENCE = 10.0


def _ok(response: httpx.Response) -> Any:
    response.raise_for_status()
    return response.json()


async def _create(client: httpx.AsyncClient, body: dict[str, Any]) -> Any:
    """Create a task; a 422 on ``assignee_id`` means the tasks service has not heard of
    the employee yet (the demo made them a moment ago): try again for a while."""
    deadline = time.monotonic() + PATIENCE
    while True:
        r = await client.post(TASKS, json=body)
        unknown = r.status_code == 422 and any(e.get("field") == "assignee_id" for e in r.json().get("errors", []))
        if not unknown or time.monotonic() > deadline:
            return _ok(r)
        await asyncio.sleep(0.2)


async def load(client: httpx.AsyncClient, companies: list[dict[str, Any]]) -> list[str]:
    """Load the demo tasks for ``companies`` (those without tasks yet). Returns what to print."""
    lines: list[str] = []
    people = _ok(await client.get("/api/employee/employees", params={"limit": 500, "is_active": "true"}))["items"]
    existing = _ok(await client.get(TASKS, params={"limit": 500}))["items"]
    today = date.today()
    for company in companies:
        cid = company["id"]
        staff = [p for p in people if p["company_id"] == cid]
        if not staff or any(t["company_id"] == cid for t in existing):
            continue
        for title, priority, due, status, who in DEMO:
            body: dict[str, Any] = {
                "company_id": cid,
                "title": title,
                "priority": priority,
                "assignee_id": staff[who % len(staff)]["id"],
            }
            if due is not None:
                body["due_date"] = (today + timedelta(days=due)).isoformat()
            task = await _create(client, body)
            if status != "TODO":
                _ok(await client.patch(f"{TASKS}/{task['id']}", json={"status": status}))
        lines.append(f"  tasks: {company['name']}: {len(DEMO)} tasks (to do, in progress, done, cancelled)")
    return lines
