"""The presence service's published contracts (issue 17).

``AttendanceMarked``: an employee's computed day — its status (``present``,
``half_day``, ``absent``, ``on_leave``) and flags (late, left early, a check-out
missing). It is published for every computed day whose outcome (status and flags)
differs from its previous computation, the **first computation included**: a plain
present day is published once too, so a reader of the events knows every computed
day (attendance rates: issue 23). Computing a day again with the same outcome
publishes nothing. When a computation leaves an employee without a row for a day
they had one for (no shift that day any more, their check-ins voided, their leave
cancelled), the status is ``removed`` (flags false, no minutes): the day's earlier
outcome is void. The aggregate is the attendance day (``attendance_day``; its id is
the same for an employee and a date every time); its version grows by one with each
event, so a reader keeps the highest.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import ClassVar, Literal

from isles import Event

AGGREGATE = "attendance_day"
Status = Literal["present", "half_day", "absent", "on_leave", "removed"]


class AttendanceMarked(Event):
    event_type: ClassVar[str] = "presence.AttendanceMarked"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    company_id: uuid.UUID
    employee_id: uuid.UUID
    day: date
    status: Status
    late: bool
    left_early: bool
    missing_checkout: bool
    worked_minutes: int

    @property
    def noteworthy(self) -> bool:
        """Whether the day needs someone's attention (False: a plain day, or it was cleared)."""
        return self.status in ("absent", "half_day") or self.late or self.left_early or self.missing_checkout


__all__ = ["AGGREGATE", "AttendanceMarked", "Status"]
