"""The leave and allocation read models (issue 23), on SQLite and PostgreSQL: figures
against a scripted history computed by hand, a rebuild equal to the live models, and
their cached figures invalidated by their own events and by the headcount's."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from hrms.contracts.company import TeamCreated, TeamDeleted, TeamMemberAdded, TeamMemberRemoved
from hrms.contracts.leave import LeaveApproved, LeaveCancelled
from hrms.contracts.project import AssignmentCreated, AssignmentRemoved
from hrms.services.analytics.archive import ARCHIVE
from isles import Event
from isles.core.events import Envelope
from isles.runtime.system import SystemRuntime
from tests.hrms.analytics.test_headcount import E1, E2, E3, HISTORY, A, B, C, change, deliver
from tests.hrms.helpers import ok

pytestmark = [pytest.mark.integration, pytest.mark.services("analytics")]

ANNUAL, SICK = uuid.uuid4(), uuid.uuid4()
APOLLO, ZEUS = uuid.uuid4(), uuid.uuid4()


def _env(event: Event, source: str, kind: str, key: uuid.UUID, version: int, day: str) -> Envelope:
    env = Envelope.new(
        event, source=source, aggregate_type=kind, aggregate_id=str(key), aggregate_version=version, tenant_id=str(C)
    )
    return dataclasses.replace(env, time=datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC))


def approved(request: uuid.UUID, employee: uuid.UUID, kind: uuid.UUID, start: str, end: str, days: str) -> Envelope:
    common = _leave(request, employee, kind, start, end, days)
    event = LeaveApproved(**common, approved_at=datetime.fromisoformat(f"{start}T08:00:00+00:00"))
    return _env(event, "/isles/leave", "leave_request", request, 2, start)


def cancelled(request: uuid.UUID, employee: uuid.UUID, kind: uuid.UUID, start: str, end: str, days: str) -> Envelope:
    common = _leave(request, employee, kind, start, end, days)
    event = LeaveCancelled(**common, cancelled_at=datetime.fromisoformat(f"{start}T07:00:00+00:00"), was_approved=True)
    return _env(event, "/isles/leave", "leave_request", request, 3, start)


def _leave(request: uuid.UUID, employee: uuid.UUID, kind: uuid.UUID, start: str, end: str, days: str) -> dict[str, Any]:
    return {
        "id": request,
        "company_id": C,
        "employee_id": employee,
        "leave_type_id": kind,
        "leave_type_name": "Annual leave" if kind == ANNUAL else "Sick leave",
        "start_date": date.fromisoformat(start),
        "end_date": date.fromisoformat(end),
        "days": Decimal(days),
    }


def assignment(key: uuid.UUID, employee: uuid.UUID, project: uuid.UUID, allocation: int, start: str) -> Envelope:
    event = AssignmentCreated(
        id=key,
        company_id=C,
        employee_id=employee,
        project_id=project,
        project_name="Apollo" if project == APOLLO else "Zeus",
        role="dev",
        allocation=allocation,
        start_date=date.fromisoformat(start),
    )
    return _env(event, "/isles/project", "assignment", key, 1, start)


def unassignment(key: uuid.UUID, employee: uuid.UUID, project: uuid.UUID, day: str) -> Envelope:
    event = AssignmentRemoved(id=key, company_id=C, employee_id=employee, project_id=project)
    return _env(event, "/isles/project", "assignment", key, 2, day)


R1, R2, R3, R4 = (uuid.uuid4() for _ in range(4))
S1, S2, S3 = (uuid.uuid4() for _ in range(3))
WORKFORCE = [
    approved(R1, E1, ANNUAL, "2026-02-10", "2026-02-13", "4"),  # E1 in A until March 15
    approved(R2, E2, SICK, "2026-02-20", "2026-02-20", "0.5"),
    approved(R3, E3, ANNUAL, "2026-03-02", "2026-03-06", "5"),
    approved(R4, E3, ANNUAL, "2026-03-20", "2026-03-20", "1"),
    cancelled(R4, E3, ANNUAL, "2026-03-20", "2026-03-20", "1"),  # taken back: counts no more
    assignment(S1, E1, APOLLO, 50, "2026-01-15"),
    assignment(S2, E2, APOLLO, 100, "2026-02-01"),
    assignment(S3, E1, ZEUS, 50, "2026-02-01"),
    unassignment(S2, E2, APOLLO, "2026-04-10"),  # E2 left that day too
]


async def get(api: httpx.AsyncClient, what: str, **params: str) -> tuple[str, dict[str, Any]]:
    query = {"from": "2026-01-01", "to": "2026-04-30", "interval": "month", **params}
    r = await api.get(f"/api/analytics/companies/{C}/{what}", params=query)
    return r.headers.get("Cache-Status", ""), ok(r)


def leave_rows(body: dict[str, Any]) -> set[tuple[str, str, str | None, int, int, str]]:
    return {
        (p["starts_on"][:7], p["leave_type"], p["department_id"], p["requests"], p["people"], p["days"])
        for p in body["points"]
    }


async def test_leave_and_allocation_follow_a_scripted_history(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    await deliver(hrms, [*HISTORY, *WORKFORCE])
    _, leave = await get(api, "leave")
    # departments are the people's current ones: E1 moved to B, E2 is back in A, E3 left from B
    assert leave_rows(leave) == {
        ("2026-02", "Annual leave", str(B), 1, 1, "4.0"),
        ("2026-02", "Sick leave", str(A), 1, 1, "0.5"),
        ("2026-03", "Annual leave", str(B), 1, 1, "5.0"),
    }
    _, allocation = await get(api, "allocation")
    projects = {(p["ends_on"][:7], p["project_name"], p["people"], p["allocation"]) for p in allocation["projects"]}
    assert projects == {
        ("2026-01", "Apollo", 1, 50),
        ("2026-02", "Apollo", 2, 150),
        ("2026-02", "Zeus", 1, 50),
        ("2026-03", "Apollo", 2, 150),
        ("2026-03", "Zeus", 1, 50),
        ("2026-04", "Apollo", 1, 50),
        ("2026-04", "Zeus", 1, 50),
    }
    usage = [(u["headcount"], u["allocated"], u["utilization"]) for u in allocation["utilization"]]
    assert usage == [(2, 50, "0.2500"), (3, 200, "0.6667"), (3, 200, "0.6667"), (2, 100, "0.5000")]

    before = (leave, allocation)
    for model in ("leave", "allocation"):
        result = await ARCHIVE.rebuild(hrms["analytics"].db, model)
        assert result.generation == 2
    assert ((await get(api, "leave"))[1], (await get(api, "allocation"))[1]) == before


async def test_cached_figures_move_with_their_events_and_the_headcount(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    await deliver(hrms, [*HISTORY, *WORKFORCE])
    assert (await get(api, "leave"))[0] == "isles; fwd=miss; stored"
    assert (await get(api, "leave"))[0] == "isles; hit"
    await deliver(hrms, [assignment(uuid.uuid4(), E3, ZEUS, 20, "2026-02-15")])  # not a leave event
    assert (await get(api, "leave"))[0] == "isles; hit"
    status, allocation = await get(api, "allocation")
    assert status == "isles; fwd=miss; stored"
    assert allocation["utilization"][1]["allocated"] == 220

    await deliver(hrms, [change(E2, 4, "2026-05-01", B)])  # a transfer: the leave's department moves
    status, leave = await get(api, "leave")
    assert status == "isles; fwd=miss; stored"
    assert ("2026-02", "Sick leave", str(B), 1, 1, "0.5") in leave_rows(leave)
    assert (await get(api, "allocation"))[0] == "isles; fwd=miss; stored"  # its headcount moved too


T1, T2 = uuid.uuid4(), uuid.uuid4()


def team_event(event: Event, team: uuid.UUID, version: int, day: str) -> Envelope:
    return _env(event, "/isles/company", "team", team, version, day)


TEAMS = [
    team_event(TeamCreated(id=T1, company_id=C, name="Platform", department_id=A), T1, 1, "2026-01-05"),
    team_event(TeamMemberAdded(team_id=T1, employee_id=E1, company_id=C, role="member"), T1, 2, "2026-01-10"),
    team_event(TeamMemberAdded(team_id=T1, employee_id=E2, company_id=C, role="member"), T1, 3, "2026-02-01"),
    team_event(TeamCreated(id=T2, company_id=C, name="Ops", department_id=B), T2, 1, "2026-02-01"),
    team_event(TeamMemberRemoved(team_id=T1, employee_id=E1, company_id=C), T1, 4, "2026-03-15"),
    team_event(TeamMemberAdded(team_id=T1, employee_id=E3, company_id=C, role="lead"), T1, 5, "2026-03-15"),
    team_event(TeamMemberAdded(team_id=T2, employee_id=E1, company_id=C, role="member"), T2, 2, "2026-03-15"),
    team_event(TeamMemberAdded(team_id=T2, employee_id=E1, company_id=C, role="member"), T2, 3, "2026-03-16"),  # again
    team_event(TeamDeleted(id=T2, company_id=C), T2, 4, "2026-04-20"),
]


async def test_team_headcount_follows_a_scripted_history(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    await deliver(hrms, [*HISTORY, *TEAMS])
    _, body = await get(api, "teams")
    got = {(p["starts_on"][:7], p["team_name"], p["members"], p["joined"], p["left"]) for p in body["points"]}
    assert got == {
        ("2026-01", "Platform", 1, 1, 0),
        ("2026-02", "Platform", 2, 1, 0),
        ("2026-03", "Platform", 2, 1, 1),
        ("2026-04", "Platform", 2, 0, 0),
        ("2026-03", "Ops", 1, 1, 0),
        ("2026-04", "Ops", 0, 0, 1),  # deleted: its member left with it
    }
    assert {p["department_id"] for p in body["points"] if p["team_name"] == "Ops"} == {str(B)}
    before = body
    assert (await ARCHIVE.rebuild(hrms["analytics"].db, "teams")).generation == 2
    assert (await get(api, "teams"))[1] == before
