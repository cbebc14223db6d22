"""A leave balance's history is its ledger (issue 19): entries are appended, never
changed, each with who and when, so the balances as of any moment are the ledger
summed up to it (``GET /balances?as_of=``); on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from isles.runtime.system import SystemRuntime
from tests.hrms.helpers import ok
from tests.hrms.leave.helpers import LEAVE, YEAR, allocate, leave_type, team

pytestmark = [pytest.mark.integration, pytest.mark.services("leave")]


async def _balances(api: httpx.AsyncClient, headers: dict[str, str], **params: str) -> dict[str, Decimal]:
    answer = await api.get(f"{LEAVE}/balances", params={"year": str(YEAR), **params}, headers=headers)
    return {r["employee_id"]: Decimal(r["balance"]) for r in ok(answer)["items"]}


async def test_balances_as_of_a_moment_sum_the_ledger_up_to_it(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    t = await team(hrms, api)
    annual = await leave_type(api, t.company)
    first = await allocate(api, t.worker, annual, days="20")
    await allocate(api, t.manager, annual, days="25")
    adjustment = {
        "employee_id": t.worker["id"],
        "leave_type_id": annual["id"],
        "year": YEAR,
        "days": "-2",
        "reason": "correction",
    }
    second = ok(await api.post(f"{LEAVE}/adjustments", json=adjustment, headers=t.as_admin), 201)

    now = await _balances(api, t.as_admin)
    assert now == {t.worker["id"]: Decimal(18), t.manager["id"]: Decimal(25)}
    then = await _balances(api, t.as_admin, as_of=first["created_at"])
    assert then == {t.worker["id"]: Decimal(20)}, "the manager's allocation came later"
    assert await _balances(api, t.as_admin, as_of=second["created_at"]) == now
    assert await _balances(api, t.as_admin, as_of="2000-01-01T00:00:00Z") == {}

    # As private as the balances: a worker sees only their own, then as now.
    assert await _balances(api, t.as_worker, as_of=second["created_at"]) == {t.worker["id"]: Decimal(18)}
    refused = await api.get(f"{LEAVE}/balances", params={"as_of": "soon"}, headers=t.as_admin)
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["as_of"]
