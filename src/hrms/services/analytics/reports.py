"""Reports: saved definitions, their runs (a stored result each), exports (CSV and an
SVG chart) and the monthly schedule.

A run computes the report's figures for its period from the read model and stores
them. A **scheduled** run's key is its period (``2026-10``): the unique key on
(report, period key) makes the schedule's job safe to run twice — the second finds
the run there and neither computes nor announces it again. The run and its
``ReportReady`` event (the notification service mails the recipients) are written in
one transaction.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.contracts.analytics import AGGREGATE, ReportReady
from hrms.services.analytics import attendance_queries, queries, sagas_queries
from hrms.services.analytics.balances_queries import balances
from hrms.services.analytics.models import Report, ReportRun
from isles import Job, ServiceContext, UniqueViolation, UnitOfWork

COLUMNS = (
    "starts_on",
    "ends_on",
    "department_id",
    "opening",
    "headcount",
    "hires",
    "leavers",
    "transfers_in",
    "transfers_out",
    "turnover",
)


def plain(value: Any) -> Any:
    """A figure's value as stored in a run's result (JSON: dates and ids as text,
    decimals as text so that no digit is lost)."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    return value


Compute = Callable[[AsyncSession, Report, date, date], Awaitable[list[dict[str, Any]]]]


@dataclass(frozen=True)
class Kind:
    """What a report of one kind shows: the read model's figures as rows of
    ``columns``; its chart draws ``value`` per period, a line per ``series``."""

    name: str
    columns: tuple[str, ...]
    value: str
    series: tuple[str, ...]
    compute: Compute
    mailed: tuple[str, ...]  # the columns of the mail's table (after the period)

    def rows(self, points: Sequence[Any]) -> list[dict[str, Any]]:
        return [{c: plain(getattr(p, c)) for c in self.columns} for p in points]


async def _headcount(session: AsyncSession, r: Report, start: date, end: date) -> list[dict[str, Any]]:
    by: queries.By = "department" if r.group_by == "department" else "company"
    return KINDS["headcount"].rows(await queries.headcount(session, r.company_id, start, end, r.interval, by))  # type: ignore[arg-type]


async def _leave(session: AsyncSession, r: Report, start: date, end: date) -> list[dict[str, Any]]:
    return KINDS["leave"].rows(await queries.leave(session, r.company_id, start, end, r.interval))  # type: ignore[arg-type]


async def _allocation(session: AsyncSession, r: Report, start: date, end: date) -> list[dict[str, Any]]:
    projects, _ = await queries.allocation(session, r.company_id, start, end, r.interval)  # type: ignore[arg-type]
    return KINDS["allocation"].rows(projects)


async def _utilization(session: AsyncSession, r: Report, start: date, end: date) -> list[dict[str, Any]]:
    _, usage = await queries.allocation(session, r.company_id, start, end, r.interval)  # type: ignore[arg-type]
    return KINDS["utilization"].rows(usage)


async def _balances(session: AsyncSession, r: Report, start: date, end: date) -> list[dict[str, Any]]:
    return KINDS["balances"].rows(await balances(session, r.company_id, start, end, r.interval))  # type: ignore[arg-type]


async def _sagas(session: AsyncSession, r: Report, start: date, end: date) -> list[dict[str, Any]]:
    return KINDS["sagas"].rows(await sagas_queries.figures(session, r.company_id, start, end, r.interval))  # type: ignore[arg-type]


async def _attendance(session: AsyncSession, r: Report, start: date, end: date) -> list[dict[str, Any]]:
    points = await attendance_queries.attendance(session, r.company_id, start, end, r.interval)  # type: ignore[arg-type]
    return KINDS["attendance"].rows(points)


async def _teams(session: AsyncSession, r: Report, start: date, end: date) -> list[dict[str, Any]]:
    return KINDS["teams"].rows(await queries.teams(session, r.company_id, start, end, r.interval))  # type: ignore[arg-type]


_PERIOD = ("starts_on", "ends_on")
KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "headcount", COLUMNS, "headcount", ("department_id",), _headcount,
            ("department_id", "opening", "headcount", "hires", "leavers", "turnover"),
        ),
        Kind(
            "leave", (*_PERIOD, "leave_type", "department_id", "requests", "people", "days"), "days",
            ("leave_type", "department_id"), _leave, ("leave_type", "department_id", "requests", "people", "days"),
        ),
        Kind(
            "allocation", (*_PERIOD, "project_id", "project_name", "people", "allocation"), "allocation",
            ("project_name",), _allocation, ("project_name", "people", "allocation"),
        ),
        Kind(
            "utilization", (*_PERIOD, "headcount", "allocated", "utilization"), "utilization", (), _utilization,
            ("headcount", "allocated", "utilization"),
        ),
        Kind(
            "teams", (*_PERIOD, "team_id", "team_name", "department_id", "members", "joined", "left"), "members",
            ("team_name",), _teams, ("team_name", "members", "joined", "left"),
        ),
        Kind(
            "balances",
            (*_PERIOD, "leave_type_id", "leave_type", "department_id", "employees", "credited", "taken", "balance"),
            "balance", ("leave_type", "department_id"), _balances,
            ("leave_type", "department_id", "employees", "credited", "taken", "balance"),
        ),
        Kind(
            "sagas",
            (*_PERIOD, "saga", "completed", "compensated", "failed", "compensation_rate", "median_seconds",
             "max_seconds", "failing_step", "failing_step_count"),
            "compensation_rate", ("saga",), _sagas,
            ("saga", "completed", "compensated", "failed", "compensation_rate", "failing_step"),
        ),
        Kind(
            "attendance",
            (*_PERIOD, "department_id", "present", "half_day", "absent", "on_leave", "late", "left_early",
             "attendance_rate", "punctuality_rate"),
            "attendance_rate", ("department_id",), _attendance,
            ("department_id", "present", "half_day", "absent", "on_leave", "late", "attendance_rate"),
        ),
    )
}  # fmt: skip


def _month_start(day: date) -> date:
    return day.replace(day=1)


def period_of(period: str, today: date) -> tuple[date, date, str]:
    """(first day, last day, key) of a report's ``period`` as of ``today``."""
    this_month = _month_start(today)
    if period == "previous_month":
        end = this_month - timedelta(days=1)
        return _month_start(end), end, end.strftime("%Y-%m")
    if period == "previous_quarter":
        quarter_start = this_month.replace(month=(this_month.month - 1) // 3 * 3 + 1)
        end = quarter_start - timedelta(days=1)
        start = end.replace(month=(end.month - 1) // 3 * 3 + 1, day=1)
        return start, end, f"{end.year}-Q{(end.month - 1) // 3 + 1}"
    if period == "last_12_months":
        end = this_month - timedelta(days=1)
        start = date(end.year - 1, end.month, 1) + timedelta(days=32)
        start = start.replace(day=1)
        return start, end, f"{start:%Y-%m}..{end:%Y-%m}"
    if period == "year_to_date":
        return date(today.year, 1, 1), today, f"{today.year}-ytd-{today.isoformat()}"
    raise ValueError(f"unknown period {period!r}")


async def run(
    uow: UnitOfWork, report: Report, *, today: date, trigger: str, base_path: str = "/api/analytics"
) -> tuple[ReportRun, bool]:
    """Run ``report`` for its period as of ``today``; (the run, whether it is new). A
    scheduled run that exists already is returned as it is (nothing computed or sent)."""
    start, end, key = period_of(report.period, today)
    if trigger == "manual":
        key = f"manual:{uuid.uuid4()}"
    found = await uow.session.scalar(
        select(ReportRun).where(ReportRun.report_id == report.id, ReportRun.period_key == key)
    )
    if found is not None:
        return found, False
    kind = KINDS[report.kind]
    shown = await kind.compute(uow.session, report, start, end)
    result = {"kind": kind.name, "points": shown, "interval": report.interval, "by": report.group_by}
    row = ReportRun(
        id=uuid.uuid4(),
        report_id=report.id,
        company_id=report.company_id,
        period_key=key,
        period_start=start,
        period_end=end,
        triggered_by=trigger,
        result=json.dumps(result),
    )
    uow.session.add(row)
    if report.recipients:
        prefix = f"{base_path}/companies/{report.company_id}/reports/{report.id}/runs/{row.id}"
        uow.emit(
            ReportReady(
                id=row.id,
                report_id=report.id,
                company_id=report.company_id,
                report_name=report.name,
                period_start=start,
                period_end=end,
                recipients=[uuid.UUID(r) for r in report.recipients],
                summary=summary(kind, shown),
                csv_path=f"{prefix}.csv",
                chart_path=f"{prefix}.svg",
            ),
            aggregate=SimpleNamespace(id=row.id, version=0),  # a run is announced once: version 1
            aggregate_type=AGGREGATE,
            tenant_id=str(report.company_id),
        )
    try:
        await uow.commit()
    except UniqueViolation:  # another runner made this period's run first
        return row, False
    return row, True


def summary(kind: Kind, points: list[dict[str, Any]]) -> str:
    """The figures as a plain-text table (for a mail); ids shortened to 8 characters."""
    head = ("period", *kind.mailed)

    def cell(p: dict[str, Any], column: str) -> str:
        value = p.get(column)
        if value is None:
            return "all" if column == "department_id" else ""
        return str(value)[:8] if column.endswith("_id") else str(value)

    rows = [(f"{p['starts_on']}..{p['ends_on']}", *(cell(p, c) for c in kind.mailed)) for p in points]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [head, *rows])


def to_csv(points: list[dict[str, Any]], columns: Sequence[str] = COLUMNS) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for p in points:
        writer.writerow(["" if p.get(c) is None else p[c] for c in columns])
    return out.getvalue()


PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04")


def to_svg(
    points: list[dict[str, Any]],
    title: str,
    *,
    value: str = "headcount",
    series_of: Sequence[str] = ("department_id",),
    width: int = 720,
    height: int = 360,
) -> str:
    """A line chart of ``value`` per period: one line per ``series_of`` (the columns
    naming a line: a department, a leave type, a project; none: one line), a legend
    naming them, axes with the first and last periods and the largest value."""
    series: dict[str, list[tuple[str, float]]] = {}
    labels: dict[str, str] = {}  # a line's name -> its legend (ids shortened)
    for p in points:
        named = [c for c in series_of if p.get(c) is not None]
        name = " ".join(str(p[c]) for c in named) or "company"
        labels[name] = " ".join(str(p[c])[:8] if c.endswith("_id") else str(p[c]) for c in named) or "company"
        series.setdefault(name, []).append((p["ends_on"], float(p[value] or 0)))
    days = sorted({p["ends_on"] for p in points})
    peak = max([0.0, *(v for line in series.values() for _, v in line)])
    top: float = peak if 0 < peak < 1 else max(1, peak)  # a rate below 1 keeps its scale
    left, right, upper, lower = 56, 16, 40, 48
    plot_w, plot_h = width - left - right, height - upper - lower

    def x(day: str) -> float:
        at = float(days.index(day))
        return left + (plot_w * at / (len(days) - 1) if len(days) > 1 else plot_w / 2)

    def y(v: float) -> float:
        return upper + plot_h - plot_h * v / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title, {chr(34): "&quot;"})}">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{left}" y="24" font-family="sans-serif" font-size="15">{escape(title)}</text>',
        f'<line x1="{left}" y1="{upper + plot_h}" x2="{left + plot_w}" y2="{upper + plot_h}" stroke="#111827"/>',
        f'<line x1="{left}" y1="{upper}" x2="{left}" y2="{upper + plot_h}" stroke="#111827"/>',
        f'<text x="{left - 6}" y="{upper + 4}" text-anchor="end" font-family="sans-serif" '
        f'font-size="11">{top:g}</text>',
        f'<text x="{left - 6}" y="{upper + plot_h}" text-anchor="end" font-family="sans-serif" font-size="11">0</text>',
    ]
    if days:
        parts.append(
            f'<text x="{left}" y="{height - 28}" font-family="sans-serif" font-size="11">{escape(days[0])}</text>'
        )
        parts.append(
            f'<text x="{left + plot_w}" y="{height - 28}" text-anchor="end" font-family="sans-serif" '
            f'font-size="11">{escape(days[-1])}</text>'
        )
    for i, (name, values) in enumerate(sorted(series.items())):
        color = PALETTE[i % len(PALETTE)]
        coords = " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in values)
        parts.append(
            f'<polyline data-series="{escape(name)}" fill="none" stroke="{color}" stroke-width="2" points="{coords}"/>'
        )
        parts.append(
            f'<text x="{left + 8 + 150 * (i % 4)}" y="{height - 10 - 14 * (i // 4)}" fill="{color}" '
            f'font-family="sans-serif" font-size="11">{escape(labels[name][:24])}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


async def send_scheduled(ctx: ServiceContext, day: date) -> str:
    """Run every scheduled report of every company whose period as of ``day`` has no
    run yet (the job of ``day``; twice for one day runs nothing the second time)."""
    from isles import ACROSS_TENANTS

    async with ctx.db.read_session(tenant=ACROSS_TENANTS) as session:
        scheduled = list((await session.scalars(select(Report).where(Report.schedule == "monthly"))).all())
    made = 0
    for report in scheduled:
        async with ctx.uow(tenant=report.company_id) as uow:
            mine = await uow.session.get(Report, report.id)
            if mine is None:
                continue
            _, new = await run(uow, mine, today=day, trigger="schedule")
            made += int(new)
    return f"{made} report run(s) of {len(scheduled)} scheduled report(s)"


JOBS = (
    Job(
        name="send-reports",
        run=send_scheduled,
        schedule="daily",
        description="Run the scheduled reports whose period has ended and announce them (mailed by notification).",
    ),
)
