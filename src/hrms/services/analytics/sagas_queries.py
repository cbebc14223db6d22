"""The sagas figure (issue 23): per period (by the UTC day a saga ended) and saga name,
how many completed, were compensated and failed, the compensation rate, the median
and the longest duration, and the step that failed most often; from the sagas read
model (:mod:`hrms.services.analytics.sagas`)."""

from __future__ import annotations

import statistics
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.services.analytics import queries
from hrms.services.analytics.archive import ARCHIVE
from hrms.services.analytics.sagas import NAME, SagaOutcome


@dataclass
class SagaPoint:
    starts_on: date
    ends_on: date
    saga: str
    completed: int = 0
    compensated: int = 0
    failed: int = 0
    median_seconds: float = 0.0
    max_seconds: float = 0.0
    failing_step: str | None = None
    failing_step_count: int = 0

    @property
    def total(self) -> int:
        return self.completed + self.compensated + self.failed

    @property
    def compensation_rate(self) -> Decimal:
        """The sagas that were undone (compensated, or failed: their compensation gave
        up) over all that ended; 4 places."""
        if not self.total:
            return Decimal("0.0000")
        rate = Decimal(self.compensated + self.failed) / Decimal(self.total)
        return rate.quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)


async def figures(
    session: AsyncSession, company_id: uuid.UUID, start: date, end: date, interval: queries.Interval
) -> list[SagaPoint]:
    """Per period and saga name (only those with a saga that ended in it): counts by
    outcome, the longest duration (in SQL), the median (of the durations the database
    sorts: a median is not portable SQL) and the step that failed most often (ties: the
    first by name)."""
    cut = queries.periods(start, end, interval)
    p = queries._periods_table(cut)
    gen = await ARCHIVE.generation(session, NAME)
    o = SagaOutcome
    joined = and_(
        o.generation == gen,
        o.company_id == company_id,
        o.finished_on >= p.c.starts_on,
        o.finished_on <= p.c.ends_on,
    )

    def counted(status: str) -> Any:
        return func.sum(case((o.status == status, 1), else_=0))

    q = (
        select(
            p.c.n, o.saga, counted("completed"), counted("compensated"), counted("failed"), func.max(o.duration_seconds)
        )
        .select_from(p)
        .join(o, joined)
        .group_by(p.c.n, o.saga)
    )
    points: dict[tuple[int, str], SagaPoint] = {}
    for n, saga, completed, compensated, failed, longest in (await session.execute(q)).all():
        a, b = cut[int(n)]
        points[(int(n), saga)] = SagaPoint(
            a, b, saga, int(completed), int(compensated), int(failed), max_seconds=float(longest)
        )
    durations = select(p.c.n, o.saga, o.duration_seconds).select_from(p).join(o, joined).order_by(o.duration_seconds)
    seen: dict[tuple[int, str], list[float]] = {}
    for n, saga, seconds in (await session.execute(durations)).all():
        seen.setdefault((int(n), saga), []).append(float(seconds))
    for key, values in seen.items():
        points[key].median_seconds = round(statistics.median(values), 3)
    steps = (
        select(p.c.n, o.saga, o.failed_step, func.count())
        .select_from(p)
        .join(o, and_(joined, o.failed_step.is_not(None)))
        .group_by(p.c.n, o.saga, o.failed_step)
    )
    for n, saga, step, count in sorted((await session.execute(steps)).all(), key=lambda r: (-int(r[3]), r[2])):
        point = points[(int(n), saga)]
        if point.failing_step is None:
            point.failing_step, point.failing_step_count = step, int(count)
    return sorted(points.values(), key=lambda x: (x.starts_on, x.saga))
