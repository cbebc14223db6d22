"""The attendance figure (issue 23), computed by the database from the attendance read
model joined to the headcount model's spans (the department on the day): one grouped
statement over all periods at once. See :mod:`hrms.services.analytics.attendance`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.services.analytics.archive import ARCHIVE
from hrms.services.analytics.attendance import NAME, STATUSES, AttendanceMark
from hrms.services.analytics.headcount import NAME as HEADCOUNT
from hrms.services.analytics.models import HeadcountSpan
from hrms.services.analytics.queries import Interval, _periods_table, periods


@dataclass
class AttendancePoint:
    starts_on: date
    ends_on: date
    department_id: uuid.UUID | None
    present: int
    half_day: int
    absent: int
    on_leave: int
    late: int
    left_early: int

    @property
    def attendance_rate(self) -> Decimal | None:
        days = self.present + self.half_day + self.absent
        if not days:
            return None
        return _four(Decimal(self.present) + Decimal(self.half_day) / 2, Decimal(days))

    @property
    def punctuality_rate(self) -> Decimal | None:
        worked = self.present + self.half_day
        if not worked:
            return None
        return _four(Decimal(worked - self.late), Decimal(worked))


def _four(a: Decimal, b: Decimal) -> Decimal:
    return (a / b).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)


async def attendance(
    session: AsyncSession, company_id: uuid.UUID, start: date, end: date, interval: Interval
) -> list[AttendancePoint]:
    """Per period and department (the employee's on the day, from the headcount
    model's spans; null: no span that day): the days by status, the late days and
    those left early. Only periods and departments with a day are listed."""
    cut = periods(start, end, interval)
    p = _periods_table(cut)
    gen = await ARCHIVE.generation(session, NAME)
    spans_gen = await ARCHIVE.generation(session, HEADCOUNT)
    m, s = AttendanceMark, HeadcountSpan

    def days(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    counted = m.status.in_(STATUSES)
    q = (
        select(
            p.c.n,
            s.department_id,
            *(days(m.status == status) for status in STATUSES),
            days(and_(counted, m.late.is_(True))),
            days(and_(counted, m.left_early.is_(True))),
        )
        .select_from(p)
        .join(
            m,
            and_(
                m.generation == gen,
                m.company_id == company_id,
                m.day >= p.c.starts_on,
                m.day <= p.c.ends_on,
                counted,
            ),
        )
        .outerjoin(
            s,
            and_(
                s.generation == spans_gen,
                s.employee_id == m.employee_id,
                s.starts_on <= m.day,
                or_(s.ends_on.is_(None), s.ends_on > m.day),
            ),
        )
        .group_by(p.c.n, s.department_id)
    )
    out = []
    for n, department, present, half, absent, leave, late, early in (await session.execute(q)).all():
        a, b = cut[int(n)]
        out.append(
            AttendancePoint(a, b, department, int(present), int(half), int(absent), int(leave), int(late), int(early))
        )
    return sorted(out, key=lambda x: (x.starts_on, str(x.department_id or "")))
