"""HTTP routes of the analytics service (mounted at ``/api/analytics``): figures of one
company from the read models. Admins of the company read them all (``reports:read``);
a manager reads their own department's headcount and leave (their department as the
headcount model knows them: the employee record of their login), nothing else;
another company's figures answer 404, like a company that does not exist."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from hrms.contracts.permissions import ADMIN
from hrms.services.analytics import queries, reports
from hrms.services.analytics.archive import ARCHIVE
from hrms.services.analytics.headcount import NAME as HEADCOUNT
from hrms.services.analytics.models import HeadcountPerson, Report, ReportRun
from hrms.services.analytics.workforce import ALLOCATION, LEAVE, TEAMS
from isles import (
    FieldError,
    Listing,
    ListSpec,
    Page,
    Principal,
    Problem,
    TenantData,
    UniqueViolation,
    conflict,
    context_of,
    invalid,
    not_found,
    require,
    utcnow,
)

router = APIRouter()

ReadReports = Annotated[Principal, Depends(require("reports:read"))]

_NO_COMPANY: dict[int | str, dict[str, Any]] = {404: {"description": "No such company, or not the caller's."}}


class HeadcountPoint(BaseModel):
    starts_on: date = Field(description="The period's first day.", examples=["2026-03-01"])
    ends_on: date = Field(
        description="The period's last day (the headcount is the people employed on it).", examples=["2026-03-31"]
    )
    department_id: uuid.UUID | None = Field(
        description="The department (null: the whole company, or people in no department).",
        examples=["5b0c9a9e-2f7d-4c1e-9a43-0d6f5e8b7c21"],
    )
    opening: int = Field(description="People employed the day before the period starts.", examples=[41])
    headcount: int = Field(description="People employed on the period's last day.", examples=[43])
    hires: int = Field(description="People hired (or back) within the period.", examples=[3])
    leavers: int = Field(description="People who left within the period.", examples=[1])
    transfers_in: int = Field(0, description="People moved into the department within the period.", examples=[1])
    transfers_out: int = Field(0, description="People moved out of the department within the period.", examples=[0])
    turnover: Decimal = Field(
        description="Leavers ÷ the average of opening and closing headcount (4 places).", examples=["0.0238"]
    )


class HeadcountView(BaseModel):
    company_id: uuid.UUID = Field(examples=["0d8f6c1e-5b7a-4e3c-9f21-6a4b8c0d2e13"])
    interval: queries.Interval = Field(examples=["month"])
    by: queries.By = Field(examples=["department"])
    points: list[HeadcountPoint] = Field(
        examples=[
            [
                {
                    "starts_on": "2026-03-01",
                    "ends_on": "2026-03-31",
                    "department_id": "5b0c9a9e-2f7d-4c1e-9a43-0d6f5e8b7c21",
                    "opening": 41,
                    "headcount": 43,
                    "hires": 3,
                    "leavers": 1,
                    "transfers_in": 1,
                    "transfers_out": 0,
                    "turnover": "0.0238",
                }
            ]
        ]
    )


def _year_before(day: date) -> date:
    """The first day of the month a year before ``day``'s month, plus one month: twelve
    whole months up to ``day``'s."""
    index = day.year * 12 + day.month - 1 - 11
    return date(index // 12, index % 12 + 1, 1)


From = Annotated[
    date | None,
    Query(alias="from", description="The first day (included; default: a year before `to`).", examples=["2026-01-01"]),
]
To = Annotated[
    date | None, Query(alias="to", description="The last day (included; default: today).", examples=["2026-12-31"])
]
IntervalQuery = Annotated[queries.Interval, Query(description="The length of a period.")]


def _sees_all(caller: Principal) -> bool:
    return caller.kind != "user" or caller.has_role(ADMIN)


async def _department_of(session: Any, caller: Principal, company_id: uuid.UUID) -> uuid.UUID | None:
    """None for an admin (and the operator): every figure of the company. A manager's
    own department (as the headcount model knows them, by their login), else 403."""
    if _sees_all(caller):
        return None
    generation = await ARCHIVE.generation(session, HEADCOUNT)
    department = await session.scalar(
        select(HeadcountPerson.department_id).where(
            HeadcountPerson.generation == generation,
            HeadcountPerson.company_id == company_id,
            HeadcountPerson.user_id == caller.user_id,
            HeadcountPerson.left_on.is_(None),
        )
    )
    if department is None:
        raise Problem(
            403, "a manager reads their own department's figures, and you are in no department", slug="no-department"
        )
    return department  # type: ignore[no-any-return]


def _admins_only(caller: Principal) -> None:
    if not _sees_all(caller):
        raise Problem(403, "only the company's admins read these figures", slug="forbidden")


def _company(caller: Principal, company_id: uuid.UUID) -> uuid.UUID:
    if caller.tenant is not None and caller.tenant != company_id:
        raise not_found("company", company_id)
    return company_id


@router.get(
    "/companies/{company_id}/headcount",
    response_model=HeadcountView,
    responses=_NO_COMPANY,
    summary="Headcount, hires, leavers, transfers and turnover per period",
)
async def get_headcount(
    company_id: uuid.UUID,
    request: Request,
    response: Response,
    caller: ReadReports,
    start: From = None,
    end: To = None,
    interval: IntervalQuery = "month",
    by: Annotated[queries.By, Query(description="One series for the company, or one per department.")] = "company",
) -> HeadcountView:
    """The company's headcount over time from the headcount read model (kept from
    employee events: hires, transfers between departments, leavers). Figures are
    cached until an event changes the company's headcount (``Cache-Status`` says
    whether this answer was).

    Example: `GET /api/analytics/companies/{id}/headcount?from=2026-01-01&to=2026-12-31&interval=month&by=department`
    """
    _company(caller, company_id)
    start, end = _range(start, end, interval)
    async with TenantData(request, caller).read() as session:
        department = await _department_of(session, caller, company_id)
        if department is not None:
            by = "department"  # a manager's: their department's series

        async def compute() -> bytes:
            points = await queries.headcount(session, company_id, start, end, interval, by)
            return _view(company_id, interval, by, points).model_dump_json().encode()

        raw = await _cached(request, response, session, HEADCOUNT, company_id, (start, end, interval, by), compute)
    view = HeadcountView.model_validate_json(raw)
    if department is not None:
        view.points = [p for p in view.points if p.department_id == department]
    return view


async def _cached(
    request: Request,
    response: Response,
    session: Any,
    model: str,
    company_id: uuid.UUID,
    parts: tuple[Any, ...],
    compute: Callable[[], Awaitable[bytes]],
) -> bytes:
    """The figure from the service's cache, keyed by the model's stamp for the company
    (a new one once an event of the company is applied to it), else computed and kept;
    the answer's ``Cache-Status`` says which (RFC 9211)."""
    stamp = await ARCHIVE.stamp(session, model, str(company_id))
    key = ":".join([model, stamp, str(company_id), *map(str, parts)])
    computed = False

    async def counted() -> bytes:
        nonlocal computed
        computed = True
        return await compute()

    raw = await context_of(request).cache.get_or_compute(key, counted)
    response.headers["Cache-Status"] = "isles; fwd=miss; stored" if computed else "isles; hit"
    return raw


_View = TypeVar("_View", bound=BaseModel)


async def _points(
    request: Request,
    response: Response,
    caller: Principal,
    company_id: uuid.UUID,
    *,
    model: str,
    view: type[_View],
    point: type[BaseModel],
    rows: Callable[[Any], Awaitable[Sequence[Any]]],
    parts: tuple[date, date, queries.Interval],
    departments: bool,
    managers: bool = True,
) -> _View:
    """A figure of ``points`` (``view`` with ``company_id``, ``interval`` and ``point``
    items, made from what ``rows(session)`` returns), through the cache (:func:`_cached`,
    keyed by ``parts``). ``departments``: its departments are the headcount model's, so
    that model's stamp keys it too. ``managers``: a manager reads the points of their own
    department only (else the caller was checked to be an admin)."""
    interval = parts[2]
    async with TenantData(request, caller).read() as session:
        department = await _department_of(session, caller, company_id) if managers else None

        async def compute() -> bytes:
            made = [point.model_validate(p, from_attributes=True) for p in await rows(session)]
            return view(company_id=company_id, interval=interval, points=made).model_dump_json().encode()

        key: tuple[Any, ...] = parts
        if departments:
            key = (await ARCHIVE.stamp(session, HEADCOUNT, str(company_id)), *parts)
        raw = await _cached(request, response, session, model, company_id, key, compute)
    shown = view.model_validate_json(raw)
    if department is not None:
        shown.points = [p for p in shown.points if p.department_id == department]  # type: ignore[attr-defined]
    return shown


def _range(start: date | None, end: date | None, interval: queries.Interval) -> tuple[date, date]:
    end = end or utcnow().date()
    start = start or _year_before(end)
    if end < start:
        raise invalid([FieldError("to", "the last day is before the first (from)", "range")])
    if len(queries.periods(start, end, interval)) > queries.MAX_PERIODS:
        raise invalid(
            [FieldError("to", f"more than {queries.MAX_PERIODS} periods: take a longer interval", "too_many_periods")]
        )
    return start, end


def _view(
    company_id: uuid.UUID, interval: queries.Interval, by: queries.By, points: list[queries.Point]
) -> HeadcountView:
    return HeadcountView(
        company_id=company_id,
        interval=interval,
        by=by,
        points=[
            HeadcountPoint(
                starts_on=p.starts_on,
                ends_on=p.ends_on,
                department_id=p.department_id,
                opening=p.opening,
                headcount=p.headcount,
                hires=p.hires,
                leavers=p.leavers,
                transfers_in=p.transfers_in,
                transfers_out=p.transfers_out,
                turnover=p.turnover,
            )
            for p in points
        ],
    )


# -- leave and allocation -------------------------------------------------------------------


class LeavePoint(BaseModel):
    starts_on: date = Field(description="The period's first day.", examples=["2026-03-01"])
    ends_on: date = Field(description="The period's last day.", examples=["2026-03-31"])
    leave_type: str = Field(description="The leave type's name.", examples=["Annual leave"])
    department_id: uuid.UUID | None = Field(
        description="The employees' department (their current one; null: none or unknown).",
        examples=["5b0c9a9e-2f7d-4c1e-9a43-0d6f5e8b7c21"],
    )
    requests: int = Field(description="Approved requests starting in the period (not cancelled).", examples=[4])
    people: int = Field(description="People taking them.", examples=[3])
    days: Decimal = Field(description="Their working days (in halves).", examples=["9.5"])


class LeaveView(BaseModel):
    company_id: uuid.UUID = Field(examples=["0d8f6c1e-5b7a-4e3c-9f21-6a4b8c0d2e13"])
    interval: queries.Interval = Field(examples=["month"])
    points: list[LeavePoint] = Field(
        examples=[
            [
                {
                    "starts_on": "2026-03-01",
                    "ends_on": "2026-03-31",
                    "leave_type": "Annual leave",
                    "department_id": "5b0c9a9e-2f7d-4c1e-9a43-0d6f5e8b7c21",
                    "requests": 4,
                    "people": 3,
                    "days": "9.5",
                }
            ]
        ]
    )


class ProjectAllocation(BaseModel):
    starts_on: date = Field(examples=["2026-03-01"])
    ends_on: date = Field(
        description="The day the allocation is taken on (the period's last).", examples=["2026-03-31"]
    )
    project_id: uuid.UUID = Field(examples=["6c1e0d8f-7a5b-4e3c-9f21-0d2e136a4b8c"])
    project_name: str = Field(examples=["Apollo"])
    people: int = Field(description="People assigned on that day.", examples=[5])
    allocation: int = Field(description="Their allocations summed (per cent).", examples=[320])


class UtilizationPoint(BaseModel):
    starts_on: date = Field(examples=["2026-03-01"])
    ends_on: date = Field(examples=["2026-03-31"])
    headcount: int = Field(description="People employed on the period's last day.", examples=[43])
    allocated: int = Field(description="Every allocation on that day, summed (per cent).", examples=[3440])
    utilization: Decimal = Field(description="allocated / (headcount * 100), 4 places.", examples=["0.8000"])


class AllocationView(BaseModel):
    company_id: uuid.UUID = Field(examples=["0d8f6c1e-5b7a-4e3c-9f21-6a4b8c0d2e13"])
    interval: queries.Interval = Field(examples=["month"])
    projects: list[ProjectAllocation] = Field(
        examples=[
            [
                {
                    "starts_on": "2026-03-01",
                    "ends_on": "2026-03-31",
                    "project_id": "6c1e0d8f-7a5b-4e3c-9f21-0d2e136a4b8c",
                    "project_name": "Apollo",
                    "people": 5,
                    "allocation": 320,
                }
            ]
        ]
    )
    utilization: list[UtilizationPoint] = Field(
        examples=[
            [
                {
                    "starts_on": "2026-03-01",
                    "ends_on": "2026-03-31",
                    "headcount": 43,
                    "allocated": 3440,
                    "utilization": "0.8000",
                }
            ]
        ]
    )


@router.get(
    "/companies/{company_id}/leave",
    response_model=LeaveView,
    responses=_NO_COMPANY,
    summary="Leave taken per period, by leave type and department",
)
async def get_leave(
    company_id: uuid.UUID,
    request: Request,
    response: Response,
    caller: ReadReports,
    start: From = None,
    end: To = None,
    interval: IntervalQuery = "month",
) -> LeaveView:
    """Approved leave (cancellations taken back) per period, leave type and department,
    from the leave read model (kept from leave events).

    Example: `GET /api/analytics/companies/{id}/leave?from=2026-01-01&to=2026-12-31&interval=quarter`
    """
    _company(caller, company_id)
    start, end = _range(start, end, interval)
    return await _points(
        request,
        response,
        caller,
        company_id,
        model=LEAVE,
        view=LeaveView,
        point=LeavePoint,
        parts=(start, end, interval),
        departments=True,
        rows=lambda session: queries.leave(session, company_id, start, end, interval),
    )


@router.get(
    "/companies/{company_id}/allocation",
    response_model=AllocationView,
    responses=_NO_COMPANY,
    summary="Project allocation and the company's utilization per period",
)
async def get_allocation(
    company_id: uuid.UUID,
    request: Request,
    response: Response,
    caller: ReadReports,
    start: From = None,
    end: To = None,
    interval: IntervalQuery = "month",
) -> AllocationView:
    """On each period's last day: the people on each project and their allocations, and
    the company's allocations over its headcount (from the allocation and headcount
    read models, kept from assignment and employee events). Admins only.

    Example: `GET /api/analytics/companies/{id}/allocation?from=2026-01-01&to=2026-06-30`
    """
    _company(caller, company_id)
    _admins_only(caller)
    start, end = _range(start, end, interval)
    async with TenantData(request, caller).read() as session:

        async def compute() -> bytes:
            projects, usage = await queries.allocation(session, company_id, start, end, interval)
            view = AllocationView(
                company_id=company_id,
                interval=interval,
                projects=[ProjectAllocation.model_validate(p, from_attributes=True) for p in projects],
                utilization=[UtilizationPoint.model_validate(u, from_attributes=True) for u in usage],
            )
            return view.model_dump_json().encode()

        # utilization divides by the headcount: both models' stamps key it
        both = await ARCHIVE.stamp(session, HEADCOUNT, str(company_id))
        raw = await _cached(request, response, session, ALLOCATION, company_id, (both, start, end, interval), compute)
    return AllocationView.model_validate_json(raw)


class TeamPoint(BaseModel):
    starts_on: date = Field(examples=["2026-03-01"])
    ends_on: date = Field(examples=["2026-03-31"])
    team_id: uuid.UUID = Field(examples=["9a43c1e5-2f7d-4c1e-0d6f-5e8b7c215b0c"])
    team_name: str = Field(examples=["Platform"])
    department_id: uuid.UUID | None = Field(
        description="The team's department (null: none).", examples=["5b0c9a9e-2f7d-4c1e-9a43-0d6f5e8b7c21"]
    )
    members: int = Field(description="Members on the period's last day.", examples=[6])
    joined: int = Field(description="Members added within the period.", examples=[1])
    left: int = Field(description="Members removed within the period (or the team deleted).", examples=[0])


class TeamsView(BaseModel):
    company_id: uuid.UUID = Field(examples=["0d8f6c1e-5b7a-4e3c-9f21-6a4b8c0d2e13"])
    interval: queries.Interval = Field(examples=["month"])
    points: list[TeamPoint] = Field(
        examples=[
            [
                {
                    "starts_on": "2026-03-01",
                    "ends_on": "2026-03-31",
                    "team_id": "9a43c1e5-2f7d-4c1e-0d6f-5e8b7c215b0c",
                    "team_name": "Platform",
                    "department_id": "5b0c9a9e-2f7d-4c1e-9a43-0d6f5e8b7c21",
                    "members": 6,
                    "joined": 1,
                    "left": 0,
                }
            ]
        ]
    )


@router.get(
    "/companies/{company_id}/teams",
    response_model=TeamsView,
    responses=_NO_COMPANY,
    summary="Headcount by team per period: members, joined, left",
)
async def get_teams(
    company_id: uuid.UUID,
    request: Request,
    response: Response,
    caller: ReadReports,
    start: From = None,
    end: To = None,
    interval: IntervalQuery = "month",
) -> TeamsView:
    """Each team's members on the last day of each period, and who joined and left it,
    from the teams read model (kept from the company service's team events). A manager
    reads the teams of their own department.

    Example: `GET /api/analytics/companies/{id}/teams?from=2026-01-01&to=2026-06-30`
    """
    _company(caller, company_id)
    start, end = _range(start, end, interval)
    return await _points(
        request,
        response,
        caller,
        company_id,
        model=TEAMS,
        view=TeamsView,
        point=TeamPoint,
        parts=(start, end, interval),
        departments=False,
        rows=lambda session: queries.teams(session, company_id, start, end, interval),
    )


# -- reports -------------------------------------------------------------------------------

WriteReports = Annotated[Principal, Depends(require("reports:write"))]
_NO_REPORT: dict[int | str, dict[str, Any]] = {404: {"description": "No such report or run of the company."}}
_REPORT_ID = "3f6b9d21-7c4e-4a8b-b5d2-1e9f0a7c3b64"
_RUN_ID = "8e2c4a6f-1b3d-4e5f-9a7b-0c2d4e6f8a1b"
_RUN_PATH = f"/api/analytics/companies/0d8f6c1e-5b7a-4e3c-9f21-6a4b8c0d2e13/reports/{_REPORT_ID}/runs/{_RUN_ID}"

REPORTS = ListSpec(
    sort={"name": Report.name, "created_at": Report.created_at}, default=("name",), key=Report.id, search=(Report.name,)
)
RUNS = ListSpec(sort={"created_at": ReportRun.created_at}, default=("-created_at",), key=ReportRun.id)
ReportList = Annotated[Listing, Depends(REPORTS.dependency)]
RunList = Annotated[Listing, Depends(RUNS.dependency)]


ReportKind = Literal["headcount", "leave", "allocation", "utilization", "teams", "balances", "sagas", "attendance"]


class ReportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["Monthly headcount"])
    kind: ReportKind = Field(
        "headcount",
        description="Which figures: those of `GET .../{kind}` (utilization: the company's line of `.../allocation`).",
        examples=["headcount"],
    )
    interval: queries.Interval = Field("month", description="The length of a period in the result.", examples=["month"])
    by: queries.By = Field(
        "department", description="One series for the company, or one per department (headcount reports)."
    )
    period: Literal["previous_month", "previous_quarter", "last_12_months", "year_to_date"] = Field(
        "last_12_months", description="Which days a run covers, as of the day it runs.", examples=["previous_month"]
    )
    schedule: Literal["monthly"] | None = Field(
        None, description="Run once a month for the month that ended (null: only when asked).", examples=["monthly"]
    )
    recipients: list[uuid.UUID] = Field(
        default_factory=list,
        max_length=50,
        description="Users of the company mailed each scheduled run (by the notification service).",
        examples=[["7d1f3b5a-9c2e-4f6a-8b0d-2e4f6a8c0b1d"]],
    )


class ReportView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": _REPORT_ID,
                    "company_id": "0d8f6c1e-5b7a-4e3c-9f21-6a4b8c0d2e13",
                    "name": "Monthly headcount",
                    "kind": "headcount",
                    "interval": "month",
                    "by": "department",
                    "period": "previous_month",
                    "schedule": "monthly",
                    "recipients": ["7d1f3b5a-9c2e-4f6a-8b0d-2e4f6a8c0b1d"],
                    "created_at": "2026-11-29T10:00:00Z",
                }
            ]
        }
    )

    id: uuid.UUID
    company_id: uuid.UUID
    name: str
    kind: str
    interval: str
    by: str
    period: str
    schedule: str | None
    recipients: list[uuid.UUID]
    created_at: datetime


class RunView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": _RUN_ID,
                    "report_id": _REPORT_ID,
                    "period_key": "2026-10",
                    "period_start": "2026-10-01",
                    "period_end": "2026-10-31",
                    "triggered_by": "schedule",
                    "created_at": "2026-11-01T01:00:04Z",
                    "kind": "headcount",
                    "points": [
                        {
                            "starts_on": "2026-10-01",
                            "ends_on": "2026-10-31",
                            "department_id": None,
                            "opening": 41,
                            "headcount": 43,
                            "hires": 3,
                            "leavers": 1,
                            "transfers_in": 0,
                            "transfers_out": 0,
                            "turnover": "0.0238",
                        }
                    ],
                    "csv": f"{_RUN_PATH}.csv",
                    "chart": f"{_RUN_PATH}.svg",
                }
            ]
        }
    )

    id: uuid.UUID
    report_id: uuid.UUID
    period_key: str
    period_start: date
    period_end: date
    triggered_by: str
    created_at: datetime
    kind: str = Field(description="The report's kind: which figures the points are.", examples=["headcount"])
    points: list[dict[str, Any]] = Field(
        description="The figures, as `GET .../{kind}` gives them (dates and ids as text, decimals as text)."
    )
    csv: str = Field(description="The result as CSV (text/csv).")
    chart: str = Field(description="The figures as a line chart (image/svg+xml).")


def _report_view(r: Report) -> ReportView:
    return ReportView(
        id=r.id,
        company_id=r.company_id,
        name=r.name,
        kind=r.kind,
        interval=r.interval,
        by=r.group_by,
        period=r.period,
        schedule=r.schedule,
        recipients=[uuid.UUID(x) for x in r.recipients],
        created_at=r.created_at,
    )


def _run_view(run: ReportRun) -> RunView:
    base = f"/api/analytics/companies/{run.company_id}/reports/{run.report_id}/runs/{run.id}"
    return RunView(
        id=run.id,
        report_id=run.report_id,
        period_key=run.period_key,
        period_start=run.period_start,
        period_end=run.period_end,
        triggered_by=run.triggered_by,
        created_at=run.created_at,
        kind=json.loads(run.result).get("kind", "headcount"),
        points=json.loads(run.result)["points"],
        csv=f"{base}.csv",
        chart=f"{base}.svg",
    )


async def _report(session: Any, company_id: uuid.UUID, report_id: uuid.UUID) -> Report:
    report = await session.get(Report, report_id)
    if report is None or report.company_id != company_id:
        raise not_found("report", report_id)
    return report  # type: ignore[no-any-return]


async def _run(session: Any, company_id: uuid.UUID, report_id: uuid.UUID, run_id: uuid.UUID) -> ReportRun:
    run = await session.get(ReportRun, run_id)
    if run is None or run.company_id != company_id or run.report_id != report_id:
        raise not_found("run", run_id)
    return run  # type: ignore[no-any-return]


@router.post(
    "/companies/{company_id}/reports",
    status_code=201,
    response_model=ReportView,
    tags=["reports"],
    responses={**_NO_COMPANY, 409: {"description": "The company has a report of that name already."}},
)
async def create_report(
    company_id: uuid.UUID, body: ReportCreate, request: Request, caller: WriteReports
) -> ReportView:
    """Save a report definition; with ``schedule: monthly`` it runs on the first days
    of each month for the month that ended and is mailed to ``recipients``.

    Example: `POST /api/analytics/companies/{id}/reports`
    `{"name": "Monthly headcount", "period": "previous_month", "schedule": "monthly"}`
    """
    _company(caller, company_id)
    report = Report(
        id=uuid.uuid4(),
        company_id=company_id,
        name=body.name,
        kind=body.kind,
        interval=body.interval,
        group_by=body.by,
        period=body.period,
        schedule=body.schedule,
        recipients=[str(r) for r in body.recipients],
        version=1,
    )
    async with TenantData(request, caller).uow() as uow:
        if await uow.session.scalar(select(Report.id).where(Report.company_id == company_id, Report.name == body.name)):
            raise conflict("name", f"the company has a report named {body.name!r} already")
        uow.session.add(report)
        try:
            await uow.commit()
        except UniqueViolation as exc:
            raise conflict("name", f"the company has a report named {body.name!r} already") from exc
    return _report_view(report)


@router.get("/companies/{company_id}/reports", response_model=Page[ReportView], tags=["reports"], responses=_NO_COMPANY)
async def list_reports(
    company_id: uuid.UUID, request: Request, caller: ReadReports, listing: ReportList
) -> Page[ReportView]:
    """The company's saved reports (admins)."""
    _company(caller, company_id)
    _admins_only(caller)
    async with TenantData(request, caller).read() as session:
        rows, total, cursor = await listing.fetch(session, select(Report).where(Report.company_id == company_id))
    return listing.page([_report_view(r) for r in rows], total, cursor)


@router.post(
    "/companies/{company_id}/reports/{report_id}/runs",
    status_code=201,
    response_model=RunView,
    tags=["reports"],
    responses=_NO_REPORT,
)
async def run_report(company_id: uuid.UUID, report_id: uuid.UUID, request: Request, caller: WriteReports) -> RunView:
    """Run the report now for its period as of today; the result is stored (not mailed).

    Example: `POST /api/analytics/companies/{id}/reports/{report_id}/runs`
    """
    _company(caller, company_id)
    async with TenantData(request, caller).uow() as uow:
        report = await _report(uow.session, company_id, report_id)
        run, _ = await reports.run(uow, report, today=utcnow().date(), trigger="manual")
    return _run_view(run)


@router.get(
    "/companies/{company_id}/reports/{report_id}/runs",
    response_model=Page[RunView],
    tags=["reports"],
    responses=_NO_REPORT,
)
async def list_runs(
    company_id: uuid.UUID, report_id: uuid.UUID, request: Request, caller: ReadReports, listing: RunList
) -> Page[RunView]:
    """The report's runs, newest first, with their results (admins)."""
    _company(caller, company_id)
    _admins_only(caller)
    async with TenantData(request, caller).read() as session:
        await _report(session, company_id, report_id)
        rows, total, cursor = await listing.fetch(session, select(ReportRun).where(ReportRun.report_id == report_id))
    return listing.page([_run_view(r) for r in rows], total, cursor)


@router.get(
    "/companies/{company_id}/reports/{report_id}/runs/{run_id}.csv",
    response_class=PlainTextResponse,
    tags=["reports"],
    responses={**_NO_REPORT, 200: {"content": {"text/csv": {"example": ",".join(reports.COLUMNS) + "\r\n"}}}},
)
async def run_csv(
    company_id: uuid.UUID, report_id: uuid.UUID, run_id: uuid.UUID, request: Request, caller: ReadReports
) -> Response:
    """A run's result as CSV (one row per point: per period, and department, leave type,
    project or team as the kind has them; admins)."""
    _company(caller, company_id)
    _admins_only(caller)
    async with TenantData(request, caller).read() as session:
        run = await _run(session, company_id, report_id, run_id)
    result = json.loads(run.result)
    name = f"report-{run.report_id}-{run.period_key.replace(':', '-')}.csv"
    return Response(
        reports.to_csv(result["points"], reports.KINDS[result.get("kind", "headcount")].columns),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/companies/{company_id}/reports/{report_id}/runs/{run_id}.svg",
    response_class=Response,
    tags=["reports"],
    responses={**_NO_REPORT, 200: {"content": {"image/svg+xml": {"example": "<svg ...>"}}}},
)
async def run_chart(
    company_id: uuid.UUID, report_id: uuid.UUID, run_id: uuid.UUID, request: Request, caller: ReadReports
) -> Response:
    """A run's figures as a line chart (SVG): the kind's main figure (headcount, days of
    leave, allocation, utilization, members) per period, a line per department, leave
    type, project or team (admins)."""
    _company(caller, company_id)
    _admins_only(caller)
    async with TenantData(request, caller).read() as session:
        report = await _report(session, company_id, report_id)
        run = await _run(session, company_id, report_id, run_id)
    result = json.loads(run.result)
    kind = reports.KINDS[result.get("kind", "headcount")]
    title = f"{report.name}: {kind.value} {run.period_start} to {run.period_end}"
    svg = reports.to_svg(result["points"], title, value=kind.value, series_of=kind.series)
    return Response(svg, media_type="image/svg+xml")
