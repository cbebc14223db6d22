"""The balances figure's route (issue 23): ``GET /api/analytics/companies/{id}/balances``,
with the access rules, parameters and cache of the other figures (``api.py``)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from hrms.services.analytics import balances_queries, queries
from hrms.services.analytics.api import (
    _NO_COMPANY,
    From,
    IntervalQuery,
    ReadReports,
    To,
    _company,
    _points,
    _range,
)
from hrms.services.analytics.balances import NAME as BALANCES

router = APIRouter()


class BalancePoint(BaseModel):
    starts_on: date = Field(description="The period's first day.", examples=["2026-03-01"])
    ends_on: date = Field(
        description="The period's last day: the balances are those of its year as they stood that day.",
        examples=["2026-03-31"],
    )
    leave_type_id: uuid.UUID = Field(examples=["2e9c1d8f-4b6a-4d7b-b3a5-6c0e8f2d9a71"])
    leave_type: str = Field(description="The leave type's name.", examples=["Annual leave"])
    department_id: uuid.UUID | None = Field(
        description="The employees' department on the period's last day (null: none or unknown).",
        examples=["5b0c9a9e-2f7d-4c1e-9a43-0d6f5e8b7c21"],
    )
    employees: int = Field(description="Employees with a ledger entry of the year counted by then.", examples=[12])
    credited: Decimal = Field(
        description="Days credited: allocations, accruals, adjustments, carry-forward, expiries.", examples=["310.50"]
    )
    taken: Decimal = Field(description="Days taken, net of cancellations.", examples=["42.00"])
    balance: Decimal = Field(description="credited - taken: the days left.", examples=["268.50"])


class BalancesView(BaseModel):
    company_id: uuid.UUID = Field(examples=["0d8f6c1e-5b7a-4e3c-9f21-6a4b8c0d2e13"])
    interval: queries.Interval = Field(examples=["month"])
    points: list[BalancePoint] = Field(
        examples=[
            [
                {
                    "starts_on": "2026-03-01",
                    "ends_on": "2026-03-31",
                    "leave_type_id": "2e9c1d8f-4b6a-4d7b-b3a5-6c0e8f2d9a71",
                    "leave_type": "Annual leave",
                    "department_id": "5b0c9a9e-2f7d-4c1e-9a43-0d6f5e8b7c21",
                    "employees": 12,
                    "credited": "310.50",
                    "taken": "42.00",
                    "balance": "268.50",
                }
            ]
        ]
    )


@router.get(
    "/companies/{company_id}/balances",
    response_model=BalancesView,
    responses=_NO_COMPANY,
    summary="Leave balances per period, by leave type and department",
)
async def get_balances(
    company_id: uuid.UUID,
    request: Request,
    response: Response,
    caller: ReadReports,
    start: From = None,
    end: To = None,
    interval: IntervalQuery = "month",
) -> BalancesView:
    """On each period's last day, per leave type and department (the employees' that
    day): the balances of the year in force (its ledger entries effective by then),
    the days credited and taken, and the employees counted; from the balances read
    model (kept from the leave service's ledger events) and the headcount's. A manager
    reads their own department's.

    Example: `GET /api/analytics/companies/{id}/balances?from=2026-01-01&to=2026-12-31&interval=month`
    """
    _company(caller, company_id)
    start, end = _range(start, end, interval)

    # the departments are the headcount model's: both models' stamps key it
    return await _points(
        request,
        response,
        caller,
        company_id,
        model=BALANCES,
        view=BalancesView,
        point=BalancePoint,
        parts=(start, end, interval),
        departments=True,
        rows=lambda session: balances_queries.balances(session, company_id, start, end, interval),
    )
