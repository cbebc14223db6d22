"""Building blocks of the contract tests: a contract through the public API."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx

from tests.hrms.helpers import ok

CONTRACTS = "/api/contract/contracts"


def terms(employee: dict[str, Any], **more: Any) -> dict[str, Any]:
    body = {
        "company_id": employee.get("company_id"),
        "employee_id": employee["id"],
        "contract_type": "permanent",
        "start_date": date.today().isoformat(),
        "weekly_hours": "40",
        "salary": "60000.00",
        "currency": "EUR",
        "position": "Engineer",
        "notice_period_days": 30,
    }
    return {**body, **more}


async def contract(api: httpx.AsyncClient, employee: dict[str, Any], activate: bool = False, **more: Any) -> Any:
    made = ok(await api.post(CONTRACTS, json=terms(employee, **more)), 201)
    if activate:
        made = ok(await api.post(f"{CONTRACTS}/{made['id']}/activate"))
    return made


def fields(r: httpx.Response) -> list[str]:
    return [e["field"] for e in r.json().get("errors", [])]
