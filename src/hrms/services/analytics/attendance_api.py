"""The attendance figure's route (issue 23): ``GET /api/analytics/companies/{id}/attendance``,
with the access rules and cache of the other figures (``api``'s helpers). Its own
router, included with the others by ``routes``."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from hrms.services.analytics import api, attendance_queries, queries
from hrms.services.analytics.attendance import NAME as ATTENDANCE

router = APIRouter()


class AttendancePoint(BaseModel):
    starts_on: date = Field(description="The period's first day.", examples=["2026-03-01"])
    ends_on: date = Field(description="The period's last day.", examples=["2026-03-31"])
    department_id: uuid.UUID | None = Field(
        description="The employees' department on each day (null: none, or not employed that day).",
        examples=["5b0c9a9e-2f7d-4c1e-9a43-0d6f5e8b7c21"],
    )
    present: int = Field(description="Days present.", examples=[180])
    half_day: int = Field(description="Half days.", examples=[4])
    absent: int = Field(description="Days absent.", examples=[6])
    on_leave: int = Field(description="Days on leave (not in the rates).", examples=[12])
    late: int = Field(description="Days late.", examples=[9])
    left_early: int = Field(description="Days left early.", examples=[5])
    attendance_rate: Decimal | None = Field(
        description="(present + 0.5 * half_day) ÷ (present + half_day + absent), 4 places; null without such days.",
        examples=["0.9579"],
    )
    punctuality_rate: Decimal | None = Field(
        description="1 - late ÷ (present + half_day), 4 places; null without a day worked.", examples=["0.9511"]
    )


class AttendanceView(BaseModel):
    company_id: uuid.UUID = Field(examples=["0d8f6c1e-5b7a-4e3c-9f21-6a4b8c0d2e13"])
    interval: queries.Interval = Field(examples=["month"])
    points: list[AttendancePoint] = Field(
        examples=[
            [
                {
                    "starts_on": "2026-03-01",
                    "ends_on": "2026-03-31",
                    "department_id": "5b0c9a9e-2f7d-4c1e-9a43-0d6f5e8b7c21",
                    "present": 180,
                    "half_day": 4,
                    "absent": 6,
                    "on_leave": 12,
                    "late": 9,
                    "left_early": 5,
                    "attendance_rate": "0.9579",
                    "punctuality_rate": "0.9511",
                }
            ]
        ]
    )


@router.get(
    "/companies/{company_id}/attendance",
    response_model=AttendanceView,
    responses=api._NO_COMPANY,
    summary="Attendance per period and department: days by status, late, left early, the rates",
)
async def get_attendance(
    company_id: uuid.UUID,
    request: Request,
    response: Response,
    caller: api.ReadReports,
    start: api.From = None,
    end: api.To = None,
    interval: api.IntervalQuery = "month",
) -> AttendanceView:
    """Computed attendance days per period and department (the employee's department on
    the day) from the attendance read model (kept from the presence service's
    ``AttendanceMarked``): days present, half day, absent and on leave, late and left
    early, the attendance rate and the punctuality rate. A manager reads their own
    department's.

    Example: `GET /api/analytics/companies/{id}/attendance?from=2026-01-01&to=2026-06-30&interval=month`
    """
    api._company(caller, company_id)
    start, end = api._range(start, end, interval)

    # the department is the headcount model's (its spans): both models' stamps key it
    return await api._points(
        request,
        response,
        caller,
        company_id,
        model=ATTENDANCE,
        view=AttendanceView,
        point=AttendancePoint,
        parts=(start, end, interval),
        departments=True,
        rows=lambda session: attendance_queries.attendance(session, company_id, start, end, interval),
    )
