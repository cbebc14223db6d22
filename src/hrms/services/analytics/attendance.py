"""The attendance read model (issue 23: attendance rates), kept from the presence
service's ``presence.AttendanceMarked`` like the headcount from employee events.

One row per attendance day (the event's id: the same for an employee and a date every
time the day is computed): its status and flags as the newest version of the day's
events says. An event at or below the version the row holds changes nothing: a day's
events may arrive again, or an older one after a newer. A day the presence service no
longer has a row for (status ``removed``) is kept as such, at its version, so that an
older event of it arriving late does not bring it back; the figures leave it out.

The figure (``attendance_queries.attendance``) counts, per period and department — the employee's
department **on that day**, from the headcount model's spans — the days present, half
day, absent and on leave, the late days and the days left early, with

* the **attendance rate** = (present + 0.5 * half day) ÷ (present + half day + absent),
  days on leave left out; null when no day counts;
* the **punctuality rate** = 1 - late ÷ (present + half day); null when no day was worked.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any, cast

from sqlalchemy import Boolean, Date, Index, Integer, String, Table, Uuid
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from hrms.contracts.presence import AttendanceMarked
from hrms.services.analytics.models import Base
from hrms.services.analytics.upserts import upserts
from isles import Envelope, ReadModel, TenantOwned

NAME = "attendance"
VERSION = 1
STATUSES = ("present", "half_day", "absent", "on_leave")


class AttendanceMark(TenantOwned, Base):
    """An employee's attendance day as the newest of its ``AttendanceMarked`` events
    says (``version``: that event's aggregate version; ``removed``: the presence
    service has no row of the day any more)."""

    # isles: ignore[ISL303] a read model: a rebuild writes its rows again, the events' times are in them
    __tablename__ = "attendance_marks"

    generation: Mapped[int] = mapped_column(Integer, primary_key=True)
    day_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # isles: ignore[ISL302] see the module
    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)  # isles: ignore[ISL302] see the module
    employee_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)  # isles: ignore[ISL302] see the module
    day: Mapped[date] = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False)
    late: Mapped[bool] = mapped_column(Boolean, nullable=False)
    left_early: Mapped[bool] = mapped_column(Boolean, nullable=False)
    missing_checkout: Mapped[bool] = mapped_column(Boolean, nullable=False)
    worked_minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __table_args__ = (Index("idx_attendance_marks_generation_company_id_day", "generation", "company_id", "day"),)


def _values(event: AttendanceMarked, env: Envelope, generation: int) -> dict[str, Any]:
    return {
        "generation": generation,
        "day_id": event.id,
        "company_id": event.company_id,
        "employee_id": event.employee_id,
        "day": event.day,
        "status": event.status,
        "late": event.late,
        "left_early": event.left_early,
        "missing_checkout": event.missing_checkout,
        "worked_minutes": event.worked_minutes,
        "version": env.aggregateversion,
    }


async def marked(session: AsyncSession, pairs: Sequence[tuple[Envelope, Any]], generation: int) -> None:
    """A batch's days as their events say, set-wise: the newest version of each day in
    the batch, then one upsert statement for them all that leaves a row holding that
    version or a newer one as it is (a day's events may arrive again, or an older one
    after a newer)."""
    newest: dict[uuid.UUID, tuple[int, dict[str, Any]]] = {}
    for env, event in pairs:
        held = newest.get(event.id)
        if held is None or env.aggregateversion > held[0]:
            newest[event.id] = (env.aggregateversion, _values(event, env, generation))
    await session.execute(_UPSERTS[session.get_bind().dialect.name], [values for _, values in newest.values()])


# a row holding that version or a newer one is left as it is
_UPSERTS = upserts(
    cast(Table, AttendanceMark.__table__),
    ("generation", "day_id"),
    where=lambda table, excluded: table.c.version < excluded.version,
)


MODEL = ReadModel(
    name=NAME,
    version=VERSION,
    tables=[AttendanceMark.__table__],  # type: ignore[list-item]
    apply=marked,
    events=[AttendanceMarked],
)
