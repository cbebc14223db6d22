"""The balances figure (issue 23) from the balances read model and the headcount's
spans, computed by the database: one grouped statement over all periods at once. The
definition is in :mod:`hrms.services.analytics.balances`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, Integer, and_, case, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from hrms.services.analytics.archive import ARCHIVE
from hrms.services.analytics.balances import NAME, BalanceEntry
from hrms.services.analytics.headcount import NAME as HEADCOUNT
from hrms.services.analytics.models import HeadcountSpan
from hrms.services.analytics.queries import Interval, periods

TAKEN_KINDS = ("taken", "cancellation")  # the leave service's: the days taken, net of cancellations


@dataclass
class BalancePoint:
    starts_on: date
    ends_on: date
    leave_type_id: uuid.UUID
    leave_type: str
    department_id: uuid.UUID | None
    employees: int
    credited: Decimal
    taken: Decimal
    balance: Decimal


def _periods_table(cut: list[tuple[date, date]]) -> Any:
    rows = [
        select(
            literal(i, Integer).label("n"),
            literal(b, Date).label("ends_on"),
            literal(b.year, Integer).label("year"),
        )
        for i, (_, b) in enumerate(cut)
    ]
    return (union_all(*rows) if len(rows) > 1 else rows[0]).cte("balance_periods")


def _days(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


async def balances(
    session: AsyncSession, company_id: uuid.UUID, start: date, end: date, interval: Interval
) -> list[BalancePoint]:
    """Per period, leave type and department (the employee's on the period's last
    day): the balances of the year in force that day, credited and taken, and the
    employees counted (see the module for the definition)."""
    cut = periods(start, end, interval)
    p = _periods_table(cut)
    generation = await ARCHIVE.generation(session, NAME)
    people_gen = await ARCHIVE.generation(session, HEADCOUNT)
    b = BalanceEntry
    taken = b.kind.in_(TAKEN_KINDS)
    # 1. per period, employee and type: the entries of the year in force, effective by then
    per_employee = (
        select(
            p.c.n,
            p.c.ends_on,
            b.employee_id,
            b.leave_type_id,
            func.max(b.leave_type_name).label("leave_type"),
            func.sum(case((taken, 0), else_=b.days)).label("credited"),
            func.sum(case((taken, -b.days), else_=0)).label("taken"),
            func.sum(b.days).label("balance"),
        )
        .select_from(p)
        .join(
            b,
            and_(
                b.generation == generation,
                b.company_id == company_id,
                b.year == p.c.year,
                b.effective_on <= p.c.ends_on,
            ),
        )
        .group_by(p.c.n, p.c.ends_on, b.employee_id, b.leave_type_id)
        .cte("balance_per_employee")
    )
    # 2. the employee's department that day: their latest span started by then
    s, later = HeadcountSpan, aliased(HeadcountSpan)
    latest = (
        select(func.max(later.starts_on))
        .where(
            later.generation == people_gen,
            later.employee_id == per_employee.c.employee_id,
            later.starts_on <= per_employee.c.ends_on,
        )
        .scalar_subquery()
    )
    e = per_employee.c
    q = (
        select(
            e.n,
            e.leave_type_id,
            func.max(e.leave_type),
            s.department_id,
            func.count(),
            func.sum(e.credited),
            func.sum(e.taken),
            func.sum(e.balance),
        )
        .select_from(per_employee)
        .outerjoin(s, and_(s.generation == people_gen, s.employee_id == e.employee_id, s.starts_on == latest))
        .group_by(e.n, e.leave_type_id, s.department_id)
    )
    out = []
    for n, type_id, type_name, department, employees, credited, taken_days, balance in (await session.execute(q)).all():
        a, z = cut[int(n)]
        out.append(
            BalancePoint(
                a,
                z,
                type_id,
                type_name,
                department,
                int(employees),
                _days(credited),
                _days(taken_days),
                _days(balance),
            )
        )
    return sorted(out, key=lambda x: (x.starts_on, x.leave_type, str(x.leave_type_id), str(x.department_id or "")))
