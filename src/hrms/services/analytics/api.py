"""HTTP routes of the analytics service (mounted at ``/api/analytics``): figures of one
company from the read models. Admins of the company read them (``reports:read``);
another company's figures answer 404, like a company that does not exist."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from hrms.services.analytics import queries
from hrms.services.analytics.archive import ARCHIVE
from hrms.services.analytics.headcount import NAME as HEADCOUNT
from isles import FieldError, Principal, TenantData, context_of, invalid, not_found, require, utcnow

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
    start: Annotated[
        date | None,
        Query(
            alias="from", description="The first day (included; default: a year before `to`).", examples=["2026-01-01"]
        ),
    ] = None,
    end: Annotated[
        date | None, Query(alias="to", description="The last day (included; default: today).", examples=["2026-12-31"])
    ] = None,
    interval: Annotated[queries.Interval, Query(description="The length of a period.")] = "month",
    by: Annotated[queries.By, Query(description="One series for the company, or one per department.")] = "company",
) -> HeadcountView:
    """The company's headcount over time from the headcount read model (kept from
    employee events: hires, transfers between departments, leavers). Figures are
    cached until an event changes the company's headcount (``Cache-Status`` says
    whether this answer was).

    Example: `GET /api/analytics/companies/{id}/headcount?from=2026-01-01&to=2026-12-31&interval=month&by=department`
    """
    _company(caller, company_id)
    end = end or utcnow().date()
    start = start or _year_before(end)
    if end < start:
        raise invalid([FieldError("to", "the last day is before the first (from)", "range")])
    if len(queries.periods(start, end, interval)) > queries.MAX_PERIODS:
        raise invalid(
            [FieldError("to", f"more than {queries.MAX_PERIODS} periods: take a longer interval", "too_many_periods")]
        )
    async with TenantData(request, caller).read() as session:
        stamp = await ARCHIVE.stamp(session, HEADCOUNT, str(company_id))
        key = f"{HEADCOUNT}:{stamp}:{company_id}:{start}:{end}:{interval}:{by}"
        computed = False

        async def compute() -> bytes:
            nonlocal computed
            computed = True
            points = await queries.headcount(session, company_id, start, end, interval, by)
            return _view(company_id, interval, by, points).model_dump_json().encode()

        raw = await context_of(request).cache.get_or_compute(key, compute)
    response.headers["Cache-Status"] = "isles; fwd=miss; stored" if computed else "isles; hit"
    return HeadcountView.model_validate_json(raw)


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
