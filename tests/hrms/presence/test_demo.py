"""The presence demo data loads through the public API after the HR demo, on SQLite
and PostgreSQL: a place, a tag, a shift for everyone, yesterday's days computed."""

from __future__ import annotations

import httpx
import pytest

from hrms import demo as hr_demo
from hrms.services.presence import demo
from isles.runtime.system import SystemRuntime
from tests.hrms.helpers import ok

pytestmark = [pytest.mark.integration, pytest.mark.services("all")]


async def test_the_demo_loads_places_tags_shifts_and_a_computed_day(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    loaded = await hr_demo.load(api)  # the HR demo loads the workforce services' demo data after its own
    await hrms.settle()
    companies = ok(await api.get("/api/company/companies"))["items"]
    lines = [line for line in loaded if "attendance of" in line]
    assert len(lines) == len(companies) == 2
    assert await demo.load(api, companies) == [], "loading again adds nothing"
    assert all("present" in line for line in lines), lines
    assert ok(await api.get("/api/presence/tags"))["total"] == 2
    assignments = ok(await api.get("/api/presence/shift-assignments", params={"limit": 500}))["total"]
    assert assignments == hr_demo.EMPLOYEES
    late = ok(await api.get("/api/presence/days", params={"day": lines[0].split("attendance of ")[1][:10]}))
    assert {d["late"] for d in late["items"]} == {True, False}
    assert any(d["missing_checkout"] for d in late["items"])
