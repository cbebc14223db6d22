"""The sagas read model (issue 23: the platform's own health), on SQLite and PostgreSQL:
figures against scripted ``isles.SagaFinished`` events computed by hand, the newest
version of a retried saga winning, a rebuild equal to the live model, the cache moved
by the model's events only, who may read it; and the HR system's own sagas, run for
real (completing and compensated), ending up in the figure."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from hrms.services.analytics.archive import ARCHIVE
from isles import SagaFinished
from isles.core import failpoints
from isles.core.events import Envelope
from isles.runtime.system import SystemRuntime
from tests.hrms.analytics.test_headcount import HISTORY, C, D, deliver
from tests.hrms.helpers import assign, headers_of, new_company, new_employee, new_project, ok, user_with_password

pytestmark = [pytest.mark.integration, pytest.mark.services("analytics")]

CREATE, ASSIGN = "employee.CreateEmployee", "project.CreateAssignment"
STEPS = {CREATE: 5, ASSIGN: 4}


def finished(
    saga_id: uuid.UUID,
    saga: str,
    status: str,
    ended: str,
    seconds: float,
    *,
    failed_step: str | None = None,
    version: int = 1,
    company: uuid.UUID | None = C,
) -> Envelope:
    """A scripted SagaFinished of ``saga_id``, ended at ``ended`` (ISO) after ``seconds``."""
    end = datetime.fromisoformat(ended).replace(tzinfo=UTC)
    service = saga.split(".")[0]
    event = SagaFinished(
        saga_id=saga_id,
        saga=saga,
        service=service,
        status=status,  # type: ignore[arg-type]
        tenant=company,
        started_at=end - timedelta(seconds=seconds),
        finished_at=end,
        duration_seconds=seconds,
        steps=STEPS[saga],
        completed_steps=STEPS[saga] if status == "completed" else 1,
        compensated_steps=("create_user",) if status != "completed" else (),
        failed_step=failed_step,
        error="injected-failure" if failed_step else None,
        attempts=STEPS[saga] + 1,
    )
    return Envelope.new(
        event,
        source=f"/isles/{service}",
        aggregate_type="saga",
        aggregate_id=str(saga_id),
        aggregate_version=version,
        tenant_id=str(company) if company else "",
    )


S = [uuid.uuid4() for _ in range(12)]
SAGAS = [
    # January
    finished(S[1], CREATE, "completed", "2026-01-05T10:00:00", 2.0),
    finished(S[2], CREATE, "completed", "2026-01-20T10:00:00", 4.0),
    finished(S[3], CREATE, "compensated", "2026-01-31T23:59:00", 10.0, failed_step="create_user"),
    finished(S[4], ASSIGN, "completed", "2026-01-10T08:00:00", 1.0),
    # February: S5 parked (its compensation gave up)
    finished(S[5], CREATE, "failed", "2026-02-03T09:00:00", 30.0, failed_step="create_employee", version=5),
    finished(S[6], CREATE, "compensated", "2026-02-10T09:00:00", 6.0, failed_step="create_employee"),
    finished(S[7], CREATE, "compensated", "2026-02-11T09:00:00", 8.0, failed_step="create_user"),
    # March
    finished(S[8], CREATE, "completed", "2026-03-01T00:00:01", 3.0),
    finished(S[9], ASSIGN, "failed", "2026-03-15T12:00:00", 12.0, failed_step="reserve_capacity"),
    finished(S[10], CREATE, "completed", "2026-03-02T10:00:00", 99.0, company=None),  # the operator's: nobody's
    finished(S[11], CREATE, "completed", "2026-03-03T10:00:00", 99.0, company=D),  # another company's
]
# S5 retried by an operator in March: compensated at last (a newer version)
RETRIED = finished(S[5], CREATE, "compensated", "2026-03-20T09:00:00", 50.0, failed_step="create_employee", version=9)


async def get(api: httpx.AsyncClient, company: uuid.UUID = C, **params: str) -> tuple[str, dict[str, Any]]:
    query = {"from": "2026-01-01", "to": "2026-04-30", "interval": "month", **params}
    r = await api.get(f"/api/analytics/companies/{company}/sagas", params=query)
    return r.headers.get("Cache-Status", ""), ok(r)


Row = tuple[str, str, int, int, int, str, float, float, str | None, int]


def rows(body: dict[str, Any]) -> set[Row]:
    return {
        (
            p["starts_on"][:7],
            p["saga"],
            p["completed"],
            p["compensated"],
            p["failed"],
            p["compensation_rate"],
            p["median_seconds"],
            p["max_seconds"],
            p["failing_step"],
            p["failing_step_count"],
        )
        for p in body["points"]
    }


JANUARY = {
    # 2 + 1 + 0: rate 1/3; median of 2, 4, 10; one failure at create_user
    ("2026-01", CREATE, 2, 1, 0, "0.3333", 4.0, 10.0, "create_user", 1),
    ("2026-01", ASSIGN, 1, 0, 0, "0.0000", 1.0, 1.0, None, 0),
}
PARKED = {
    # S5 failed, S6, S7 compensated: median of 6, 8, 30; create_employee failed twice
    ("2026-02", CREATE, 0, 2, 1, "1.0000", 8.0, 30.0, "create_employee", 2),
    ("2026-03", CREATE, 1, 0, 0, "0.0000", 3.0, 3.0, None, 0),
    ("2026-03", ASSIGN, 0, 0, 1, "1.0000", 12.0, 12.0, "reserve_capacity", 1),
}
RESOLVED = {
    # S5 now ends in March: February keeps S6 and S7 (one failure each: the first by name)
    ("2026-02", CREATE, 0, 2, 0, "1.0000", 7.0, 8.0, "create_employee", 1),
    # S8 completed (3 s), S5 compensated (50 s): median 26.5
    ("2026-03", CREATE, 1, 1, 0, "0.5000", 26.5, 50.0, "create_employee", 1),
    ("2026-03", ASSIGN, 0, 0, 1, "1.0000", 12.0, 12.0, "reserve_capacity", 1),
}


async def test_saga_outcomes_follow_scripted_events_and_the_newest_version_wins(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    await deliver(hrms, SAGAS)
    status, body = await get(api)
    assert status == "isles; fwd=miss; stored"
    assert rows(body) == JANUARY | PARKED
    assert (await get(api))[0] == "isles; hit"

    await deliver(hrms, HISTORY)  # employee events: not this model's
    assert (await get(api))[0] == "isles; hit"

    await deliver(hrms, [RETRIED])
    status, body = await get(api)
    assert status == "isles; fwd=miss; stored", "the model's event moved the cached figure"
    assert rows(body) == JANUARY | RESOLVED

    # the parked end again, newly sent (a resend, a replay): older than what is kept
    stale = finished(S[5], CREATE, "failed", "2026-02-03T09:00:00", 30.0, failed_step="create_employee", version=5)
    await deliver(hrms, [stale])
    assert rows((await get(api))[1]) == JANUARY | RESOLVED

    # the other company sees its own saga only; the operator's is nobody's
    _, other = await get(api, D)
    assert rows(other) == {("2026-03", CREATE, 1, 0, 0, "0.0000", 99.0, 99.0, None, 0)}

    quarters = rows((await get(api, interval="quarter"))[1])
    # Q1: CREATE: S1, S2, S8 completed; S3, S6, S7, S5 compensated: median of 2, 3, 4, 6, 8, 10, 50
    assert ("2026-01", CREATE, 3, 4, 0, "0.5714", 6.0, 50.0, "create_employee", 2) in quarters

    before = (await get(api))[1]
    result = await ARCHIVE.rebuild(hrms["analytics"].db, "sagas")
    assert result.generation == 2
    status, after = await get(api)
    assert after == before, "the rebuild equals the live model"


async def test_only_the_companys_admins_read_it(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    company = (await new_company(api, "Sagas Co"))["id"]
    department = ok(await api.post("/api/company/departments", json={"company_id": company, "name": "Ops"}), 201)["id"]
    await hrms.settle()
    admin = await user_with_password(api, company, "admin")
    manager = await user_with_password(api, company, "manager", department_id=department)
    employee = await user_with_password(api, company, "employee", department_id=department)
    stranger = await user_with_password(api, (await new_company(api, "Other Sagas Co"))["id"], "admin")
    await hrms.settle()
    path = f"/api/analytics/companies/{company}/sagas"
    r = await api.get(path, headers=await headers_of(api, admin))
    assert r.status_code == 200, r.text
    assert {p["saga"] for p in r.json()["points"]} == {CREATE}, "hiring them ran the company's sagas"
    assert (await api.get(path, headers=await headers_of(api, manager))).status_code == 403
    assert (await api.get(path, headers=await headers_of(api, employee))).status_code == 403
    r = await api.get(path, headers=await headers_of(api, stranger))
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"


async def test_the_hr_systems_sagas_end_up_in_the_figure(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    company = (await new_company(api, "Real Sagas Co"))["id"]
    await hrms.settle()
    person = await new_employee(api, company_id=company)  # CreateEmployee completes
    project = await new_project(api, company_id=company)
    ok(await assign(api, person, project), 201)  # the project service's saga completes too
    failpoints.configure({"saga.employee.CreateEmployee.activate_user.before": "refuse"})
    try:
        body = {
            "company_id": company,
            "employee_number": f"X-{uuid.uuid4().hex[:6]}",
            "first_name": "Refused",
            "last_name": "Person",
            "email": f"refused.{uuid.uuid4().hex[:8]}@example.com",
            "hire_date": "2024-03-01",
        }
        r = await api.post("/api/employee/employees", json=body)
        assert r.status_code == 422, r.text
    finally:
        failpoints.clear()
    await hrms.settle()
    today = datetime.now(UTC).date()
    query = {"from": today.isoformat(), "to": today.isoformat(), "interval": "day"}
    figure = ok(await api.get(f"/api/analytics/companies/{company}/sagas", params=query))
    points = {p["saga"]: p for p in figure["points"]}
    assert set(points) == {CREATE, ASSIGN}
    create = points[CREATE]
    assert (create["completed"], create["compensated"], create["failed"]) == (1, 1, 0)
    assert (create["failing_step"], create["failing_step_count"], create["compensation_rate"]) == (
        "activate_user",
        1,
        "0.5000",
    )
    assert 0 < create["median_seconds"] <= create["max_seconds"]
    assert (points[ASSIGN]["completed"], points[ASSIGN]["failing_step"]) == (1, None)
    # and they are the sagas the services ran, as their own stores have them
    runner = hrms["employee"].sagas
    assert runner is not None
    ran, total = await runner.store.find(tenant_id=company, saga_type=CREATE)
    assert total == 2
    assert sorted(s.status.value for s in ran) == ["compensated", "completed"]
