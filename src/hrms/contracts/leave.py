"""The leave service's published contracts (issue 17): the life of a leave request,
and each entry of the balance ledger (``LedgerEntryPosted``).

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


LEDGER_AGGREGATE = "leave_ledger_entry"


class LedgerEntryPosted(Event):
    """One entry of a balance ledger, as written (entries are never changed: each is
    published once, at version 1, in the transaction that writes it).

    ``days`` is signed as in the ledger: credits positive (``allocation``, ``accrual``,
    ``adjustment``, ``carry_forward`` into a year, ``cancellation`` of approved leave
    giving days back), debits negative (``taken``, ``expiry``, ``carry_forward`` out of
    a year, a negative ``adjustment``). An employee's balance of a type and ``year`` is
    the sum of its entries' ``days``; ``taken`` and ``cancellation`` entries are the
    days taken (net), the others the days credited. ``effective_on`` is the day the
    entry counts from; ``expires_on`` the expiry of carried-forward days;
    ``request_id`` the leave request of a ``taken`` or ``cancellation`` entry."""

    event_type: ClassVar[str] = "leave.LedgerEntryPosted"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    company_id: uuid.UUID
    employee_id: uuid.UUID
    leave_type_id: uuid.UUID
    leave_type_name: str
    year: int
    kind: Literal["allocation", "accrual", "taken", "cancellation", "carry_forward", "expiry", "adjustment"]
    days: Decimal  # signed, two places
    effective_on: date
    expires_on: date | None = None
    request_id: uuid.UUID | None = None


__all__ = [
    "AGGREGATE",
    "LEDGER_AGGREGATE",
    "DayPart",
    "LeaveApproved",
    "LeaveCancelled",
    "LeaveRejected",
    "LeaveRequested",
    "LedgerEntryPosted",
]
