"""The two leave events this service consumes, as ``hrms.contracts.leave`` defines them.

A stand-in: ``hrms/contracts/leave.py`` cannot be imported as committed (its base
class ``_Request`` subclasses ``isles.Event`` without an ``event_type``, which
``Event.__init_subclass__`` refuses with a TypeError). The fields and event types
here are copied from it unchanged; once the contract imports, ``handlers.py`` imports
``LeaveApproved`` and ``LeaveCancelled`` from it and this module goes.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar, Literal

from isles import Event

DayPart = Literal["full", "morning", "afternoon"]


class LeaveApproved(Event):
    """The request is granted (the last level of approval decided)."""

    event_type: ClassVar[str] = "leave.LeaveApproved"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    company_id: uuid.UUID
    employee_id: uuid.UUID
    leave_type_id: uuid.UUID
    leave_type_name: str
    start_date: date
    end_date: date
    first_day: DayPart = "full"
    last_day: DayPart = "full"
    days: Decimal
    approved_by: uuid.UUID | None = None
    approved_at: datetime
    paid: bool = True


class LeaveCancelled(Event):
    """Withdrawn by the requester, or cancelled by an admin after approval."""

    event_type: ClassVar[str] = "leave.LeaveCancelled"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    company_id: uuid.UUID
    employee_id: uuid.UUID
    leave_type_id: uuid.UUID
    leave_type_name: str
    start_date: date
    end_date: date
    first_day: DayPart = "full"
    last_day: DayPart = "full"
    days: Decimal
    cancelled_by: uuid.UUID | None = None
    cancelled_at: datetime
    was_approved: bool = False
