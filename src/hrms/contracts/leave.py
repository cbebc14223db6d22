"""The leave service's published contracts (issue 17): the life of a leave request.

A request's days are counted when it is made, from its company's work week and
holidays, and carried on every event (history is never recomputed from today's
calendar). ``first_day``/``last_day`` say which part of the first and last day is
taken: the whole day, or only its morning or afternoon (a one-day request: the same
value in both). The people are employees (ids of ``employee.employees``); the
approver is the one whose decision the request waits for (None: an admin's, HR's).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar, Literal

from isles import Event

AGGREGATE = "leave_request"
DayPart = Literal["full", "morning", "afternoon"]


class _Request(Event):
    # The fields every request event carries; never published itself. Event requires
    # every subclass to declare its type, this base included.
    event_type: ClassVar[str] = "leave._Request"

    id: uuid.UUID
    company_id: uuid.UUID
    employee_id: uuid.UUID
    leave_type_id: uuid.UUID
    leave_type_name: str
    start_date: date
    end_date: date
    first_day: DayPart = "full"
    last_day: DayPart = "full"
    days: Decimal  # working days taken, in halves


class LeaveRequested(_Request):
    """A request waits for a decision: ``approver_id``'s (the employee's manager), or
    an admin's when None."""

    event_type: ClassVar[str] = "leave.LeaveRequested"
    schema_version: ClassVar[int] = 1

    approver_id: uuid.UUID | None = None
    reason: str | None = None


class LeaveApproved(_Request):
    """The request is granted (the last level of approval decided)."""

    event_type: ClassVar[str] = "leave.LeaveApproved"
    schema_version: ClassVar[int] = 1

    approved_by: uuid.UUID | None = None  # the deciding employee (None: the operator or an admin without record)
    approved_at: datetime
    paid: bool = True


class LeaveRejected(_Request):
    event_type: ClassVar[str] = "leave.LeaveRejected"
    schema_version: ClassVar[int] = 1

    rejected_by: uuid.UUID | None = None
    rejected_at: datetime
    comment: str | None = None


class LeaveCancelled(_Request):
    """Withdrawn by the requester, or cancelled by an admin after approval (then
    ``was_approved``: the days come back to the balance and the calendar is free)."""

    event_type: ClassVar[str] = "leave.LeaveCancelled"
    schema_version: ClassVar[int] = 1

    cancelled_by: uuid.UUID | None = None
    cancelled_at: datetime
    was_approved: bool = False


__all__ = ["AGGREGATE", "DayPart", "LeaveApproved", "LeaveCancelled", "LeaveRejected", "LeaveRequested"]
