"""Figures from the headcount read model, computed by the database (one statement per
figure over all periods at once: the periods are a small table joined to the spans).

A period's **headcount** is the people counted on its last day; its **opening**
headcount those counted the day before it starts. **Hires** are spans started by a
hire or a return within the period, **leavers** spans ended by leaving,
**transfers** in and out spans started or ended by a move between departments (of
the whole company: none). **Turnover** is leavers ÷ the average of opening and
closing headcount.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

from sqlalchemy import Date, Integer, and_, func, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.services.analytics.archive import ARCHIVE
from hrms.services.analytics.headcount import NAME
from hrms.services.analytics.models import HeadcountSpan

Interval = Literal["day", "week", "month", "quarter", "year"]
By = Literal["company", "department"]
MAX_PERIODS = 400


def _next_start(day: date, interval: Interval) -> date:
    if interval == "day":
        return day + timedelta(days=1)
    if interval == "week":  # weeks start on Monday
        return day + timedelta(days=7 - day.weekday())
    months = {"month": 1, "quarter": 3, "year": 12}[interval]
    first = (day.month - 1) // months * months  # the calendar period's first month, 0-based
    index = day.year * 12 + first + months
    return date(index // 12, index % 12 + 1, 1)


def periods(start: date, end: date, interval: Interval) -> list[tuple[date, date]]:
    """Calendar periods covering ``start``..``end`` (both included), the first and last
    cut to them."""
    out: list[tuple[date, date]] = []
    day = start
    while day <= end:
        nxt = _next_start(day, interval)
        out.append((day, min(nxt - timedelta(days=1), end)))
        day = nxt
        if len(out) > MAX_PERIODS:
            break
    return out


@dataclass
class Point:
    starts_on: date
    ends_on: date
    department_id: uuid.UUID | None = None
    opening: int = 0
    headcount: int = 0
    hires: int = 0
    leavers: int = 0
    transfers_in: int = 0
    transfers_out: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def turnover(self) -> Decimal:
        average = Decimal(self.opening + self.headcount) / 2
        if not average:
            return Decimal("0.0000")
        return (Decimal(self.leavers) / average).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)


def _periods_table(spans: list[tuple[date, date]]) -> Any:
    rows = [
        select(
            literal(i, Integer).label("n"),
            literal(a, Date).label("starts_on"),
            literal(b, Date).label("ends_on"),
            literal(a - timedelta(days=1), Date).label("before"),
        )
        for i, (a, b) in enumerate(spans)
    ]
    return (union_all(*rows) if len(rows) > 1 else rows[0]).cte("periods")


async def headcount(
    session: AsyncSession, company_id: uuid.UUID, start: date, end: date, interval: Interval, by: By
) -> list[Point]:
    """Per period (and department, ``by="department"``): opening and closing headcount,
    hires, leavers and transfers. Every period appears for the company; for departments,
    those with anyone in them or any movement."""
    cut = periods(start, end, interval)
    generation = await ARCHIVE.generation(session, NAME)
    p = _periods_table(cut)
    s = HeadcountSpan
    group = [p.c.n, s.department_id] if by == "department" else [p.c.n]
    mine = and_(s.generation == generation, s.company_id == company_id)

    def counted(on: Any) -> Any:
        return and_(s.starts_on <= on, or_(s.ends_on.is_(None), s.ends_on > on))

    def within(column: Any) -> Any:
        return and_(column >= p.c.starts_on, column <= p.c.ends_on)

    figures: dict[str, Any] = {
        "headcount": counted(p.c.ends_on),
        "opening": counted(p.c.before),
        "hires": and_(within(s.starts_on), s.started_by.in_(("hire", "return"))),
        "leavers": and_(within(s.ends_on), s.ended_by == "left"),
    }
    if by == "department":
        figures["transfers_in"] = and_(within(s.starts_on), s.started_by == "transfer")
        figures["transfers_out"] = and_(within(s.ends_on), s.ended_by == "transfer")
    points: dict[tuple[int, uuid.UUID | None], Point] = {}
    if by == "company":
        points = {(i, None): Point(a, b) for i, (a, b) in enumerate(cut)}
    for name, condition in figures.items():
        q = select(*group, func.count()).select_from(p).join(s, and_(mine, condition)).group_by(*group)
        for row in (await session.execute(q)).all():
            n, dept = int(row[0]), (row[1] if by == "department" else None)
            point = points.get((n, dept))
            if point is None:
                a, b = cut[n]
                point = points[n, dept] = Point(a, b, dept)
            setattr(point, name, int(row[-1]))
    return sorted(points.values(), key=lambda x: (x.starts_on, str(x.department_id or "")))
