"""The sagas figure's route (``GET /api/analytics/companies/{id}/sagas``): the outcomes
of the company's sagas per period, from the sagas read model. Admins of the company
only (sagas are no department's); another company answers 404."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from hrms.services.analytics import api, queries, sagas_queries
from hrms.services.analytics.sagas import NAME as SAGAS

router = APIRouter()


class SagaFigure(BaseModel):
    starts_on: date = Field(description="The period's first day.", examples=["2026-03-01"])
    ends_on: date = Field(description="The period's last day.", examples=["2026-03-31"])
    saga: str = Field(description="The saga's name.", examples=["employee.CreateEmployee"])
    completed: int = Field(description="Sagas that completed (ended within the period).", examples=[40])
    compensated: int = Field(description="Sagas undone after a step failed.", examples=[3])
    failed: int = Field(description="Sagas whose compensation gave up: an operator's to retry.", examples=[1])
    compensation_rate: Decimal = Field(
        description="(Compensated + failed) ÷ every saga that ended (4 places).", examples=["0.0909"]
    )
    median_seconds: float = Field(description="The median duration, start to end, in seconds.", examples=[0.42])
    max_seconds: float = Field(description="The longest duration, in seconds.", examples=[12.5])
    failing_step: str | None = Field(
        description="The step that failed most often (null: none failed).", examples=["create_user"]
    )
    failing_step_count: int = Field(description="How many sagas that step failed.", examples=[3])


class SagasView(BaseModel):
    company_id: uuid.UUID = Field(examples=["0d8f6c1e-5b7a-4e3c-9f21-6a4b8c0d2e13"])
    interval: queries.Interval = Field(examples=["month"])
    points: list[SagaFigure] = Field(
        examples=[
            [
                {
                    "starts_on": "2026-03-01",
                    "ends_on": "2026-03-31",
                    "saga": "employee.CreateEmployee",
                    "completed": 40,
                    "compensated": 3,
                    "failed": 1,
                    "compensation_rate": "0.0909",
                    "median_seconds": 0.42,
                    "max_seconds": 12.5,
                    "failing_step": "create_user",
                    "failing_step_count": 3,
                }
            ]
        ]
    )


@router.get(
    "/companies/{company_id}/sagas",
    response_model=SagasView,
    responses=api._NO_COMPANY,
    summary="Saga outcomes per period: completed, compensated, failed, durations, the failing step",
)
async def get_sagas(
    company_id: uuid.UUID,
    request: Request,
    response: Response,
    caller: api.ReadReports,
    start: api.From = None,
    end: api.To = None,
    interval: api.IntervalQuery = "month",
) -> SagasView:
    """The platform's own health for the company: per period (by the day a saga ended)
    and saga name, how many completed, were compensated or failed (a compensation gave
    up), the compensation rate, the median and longest duration and the step that
    failed most often; from the sagas read model (kept from ``isles.SagaFinished``).
    Sagas started for no company (by the operator) are in no company's figure.
    Admins only.

    Example: `GET /api/analytics/companies/{id}/sagas?from=2026-01-01&to=2026-06-30&interval=month`
    """
    api._company(caller, company_id)
    api._admins_only(caller)
    start, end = api._range(start, end, interval)
    return await api._points(
        request,
        response,
        caller,
        company_id,
        model=SAGAS,
        view=SagasView,
        point=SagaFigure,
        parts=(start, end, interval),
        departments=False,
        managers=False,
        rows=lambda session: sagas_queries.figures(session, company_id, start, end, interval),
    )
