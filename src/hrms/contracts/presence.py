"""The presence service's published contracts (issue 17).

``AttendanceMarked``: an employee's computed day says something worth telling —
absent, a half day, late, left early, or a check-out missing — or no longer says
what it said (a correction or a late leave decision cleared it). It is published
only when the day's outcome changed from its previous computation, so computing a
day again publishes nothing new. The aggregate is the attendance day
(``attendance_day``; its id is the same for an employee and a date every time).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import ClassVar, Literal

from isles import Event

AGGREGATE = "attendance_day"
Status = Literal["present", "half_day", "absent", "on_leave"]


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
        """Whether the day needs someone's attention (False: it was cleared)."""
        return self.status in ("absent", "half_day") or self.late or self.left_early or self.missing_checkout


__all__ = ["AGGREGATE", "AttendanceMarked", "Status"]
