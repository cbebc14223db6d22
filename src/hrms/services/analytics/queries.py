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
from hrms.services.analytics.models import (
    Allocation,
    HeadcountPerson,
    HeadcountSpan,
    LeaveTaken,
    TeamKnown,
    TeamMembership,
)
from hrms.services.analytics.workforce import ALLOCATION, LEAVE, TEAMS

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


@dataclass
class LeavePoint:
    starts_on: date
    ends_on: date
    leave_type: str
    department_id: uuid.UUID | None
    requests: int
    people: int
    days: Decimal


async def leave(
    session: AsyncSession, company_id: uuid.UUID, start: date, end: date, interval: Interval
) -> list[LeavePoint]:
    """Per period, leave type and department (the employee's current one, from the
    headcount model): approved, not cancelled requests starting in the period, the
    people taking them and their working days (a request counts in its first day's
    period)."""
    cut = periods(start, end, interval)
    p = _periods_table(cut)
    leave_gen = await ARCHIVE.generation(session, LEAVE)
    people_gen = await ARCHIVE.generation(session, NAME)
    t, who = LeaveTaken, HeadcountPerson
    q = (
        select(
            p.c.n,
            t.leave_type_name,
            who.department_id,
            func.count(),
            func.count(func.distinct(t.employee_id)),
            func.sum(t.days),
        )
        .select_from(p)
        .join(
            t,
            and_(
                t.generation == leave_gen,
                t.company_id == company_id,
                t.cancelled.is_(False),
                t.start_date >= p.c.starts_on,
                t.start_date <= p.c.ends_on,
            ),
        )
        .outerjoin(who, and_(who.generation == people_gen, who.employee_id == t.employee_id))
        .group_by(p.c.n, t.leave_type_name, who.department_id)
    )
    out = []
    for n, kind, department, requests, people, days in (await session.execute(q)).all():
        a, b = cut[int(n)]
        out.append(
            LeavePoint(a, b, kind, department, int(requests), int(people), Decimal(str(days)).quantize(Decimal("0.1")))
        )
    return sorted(out, key=lambda x: (x.starts_on, x.leave_type, str(x.department_id or "")))


@dataclass
class AllocationPoint:
    starts_on: date
    ends_on: date
    project_id: uuid.UUID
    project_name: str
    people: int
    allocation: int  # per cent, summed over the people on it


@dataclass
class Utilization:
    starts_on: date
    ends_on: date
    headcount: int
    allocated: int  # per cent, summed
    utilization: Decimal  # allocated / (headcount * 100)


async def allocation(
    session: AsyncSession, company_id: uuid.UUID, start: date, end: date, interval: Interval
) -> tuple[list[AllocationPoint], list[Utilization]]:
    """On each period's last day: per project, the people assigned and their summed
    allocation; for the company, the allocation over the headcount (utilization)."""
    cut = periods(start, end, interval)
    p = _periods_table(cut)
    gen = await ARCHIVE.generation(session, ALLOCATION)
    a = Allocation
    active = and_(
        a.generation == gen,
        a.company_id == company_id,
        a.start_date <= p.c.ends_on,
        or_(a.end_date.is_(None), a.end_date >= p.c.ends_on),
        or_(a.removed_on.is_(None), a.removed_on > p.c.ends_on),
    )
    q = (
        select(
            p.c.n,
            a.project_id,
            func.max(a.project_name),
            func.count(func.distinct(a.employee_id)),
            func.sum(a.allocation),
        )
        .select_from(p)
        .join(a, active)
        .group_by(p.c.n, a.project_id)
    )
    projects = []
    allocated = [0] * len(cut)
    for n, project, name, people, total in (await session.execute(q)).all():
        s, e = cut[int(n)]
        projects.append(AllocationPoint(s, e, project, name, int(people), int(total)))
        allocated[int(n)] += int(total)
    heads = {
        (x.starts_on, x.ends_on): x.headcount
        for x in await headcount(session, company_id, start, end, interval, "company")
    }
    usage = []
    for i, (s, e) in enumerate(cut):
        people = heads.get((s, e), 0)
        rate = (Decimal(allocated[i]) / (people * 100)).quantize(Decimal("0.0001")) if people else Decimal("0.0000")
        usage.append(Utilization(s, e, people, allocated[i], rate))
    return sorted(projects, key=lambda x: (x.starts_on, x.project_name)), usage


@dataclass
class TeamPoint:
    starts_on: date
    ends_on: date
    team_id: uuid.UUID
    team_name: str
    department_id: uuid.UUID | None
    members: int = 0
    joined: int = 0
    left: int = 0


async def teams(
    session: AsyncSession, company_id: uuid.UUID, start: date, end: date, interval: Interval
) -> list[TeamPoint]:
    """Per period and team: its members on the period's last day, and those who joined
    and left it within the period (a team deleted before the period is left out)."""
    cut = periods(start, end, interval)
    p = _periods_table(cut)
    gen = await ARCHIVE.generation(session, TEAMS)
    m, t = TeamMembership, TeamKnown
    mine = and_(m.generation == gen, m.company_id == company_id)
    conditions = {
        "members": and_(m.starts_on <= p.c.ends_on, or_(m.ends_on.is_(None), m.ends_on > p.c.ends_on)),
        "joined": and_(m.starts_on >= p.c.starts_on, m.starts_on <= p.c.ends_on),
        "left": and_(m.ends_on >= p.c.starts_on, m.ends_on <= p.c.ends_on),
    }
    known = {
        r.team_id: r
        for r in (await session.scalars(select(t).where(t.generation == gen, t.company_id == company_id))).all()
    }
    points: dict[tuple[int, uuid.UUID], TeamPoint] = {}
    for name, condition in conditions.items():
        q = (
            select(p.c.n, m.team_id, func.count())
            .select_from(p)
            .join(m, and_(mine, condition))
            .group_by(p.c.n, m.team_id)
        )
        for n, team, count in (await session.execute(q)).all():
            key = (int(n), team)
            if key not in points:
                a, b = cut[int(n)]
                info = known.get(team)
                points[key] = TeamPoint(a, b, team, info.name if info else "", info.department_id if info else None)
            setattr(points[key], name, int(count))
    return sorted(points.values(), key=lambda x: (x.starts_on, x.team_name, str(x.team_id)))
