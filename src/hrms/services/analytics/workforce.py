"""The leave and allocation read models (issue 23), kept from the archive like the
headcount's (``isles.ReadModel``: generations, rebuilt while events arrive).

* **leave**: each approved request (``LeaveApproved``: its type, dates and working
  days); a cancellation after approval (``LeaveCancelled`` with ``was_approved``)
  marks it, its days count no more. Keyed by the request: applying an event again
  writes the same row.
* **allocation**: each assignment (``AssignmentCreated``: project, allocation per
  cent, dates); ``AssignmentRemoved`` ends it on the event's day.

Balances are not here: allocations and adjustments of balances are not published by
the leave service (only requests and decisions are), so an archive of events cannot
tell them; the leave service's own ``leave_balances`` projection is their source.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from hrms.contracts.leave import LeaveApproved, LeaveCancelled
from hrms.contracts.project import AssignmentCreated, AssignmentRemoved
from hrms.services.analytics.models import Allocation, LeaveTaken
from isles import Envelope, ReadModel

LEAVE, ALLOCATION = "leave", "allocation"


async def approved(session: AsyncSession, event: LeaveApproved, env: Envelope, generation: int) -> None:
    row = await session.get(LeaveTaken, (generation, event.id))
    if row is None:
        row = LeaveTaken(generation=generation, request_id=event.id, cancelled=False)
        session.add(row)
    row.company_id, row.employee_id = event.company_id, event.employee_id
    row.leave_type_id, row.leave_type_name = event.leave_type_id, event.leave_type_name
    row.start_date, row.end_date, row.days = event.start_date, event.end_date, event.days


async def cancelled(session: AsyncSession, event: LeaveCancelled, env: Envelope, generation: int) -> None:
    if not event.was_approved:
        return  # withdrawn before a decision: never taken
    row = await session.get(LeaveTaken, (generation, event.id))
    if row is not None:
        row.cancelled = True


async def assigned(session: AsyncSession, event: AssignmentCreated, env: Envelope, generation: int) -> None:
    row = await session.get(Allocation, (generation, event.id))
    if row is None:
        row = Allocation(generation=generation, assignment_id=event.id, removed_on=None)
        session.add(row)
    row.company_id, row.employee_id = event.company_id, event.employee_id
    row.project_id, row.project_name = event.project_id, event.project_name
    row.allocation, row.start_date, row.end_date = event.allocation, event.start_date, event.end_date


async def removed(session: AsyncSession, event: AssignmentRemoved, env: Envelope, generation: int) -> None:
    row = await session.get(Allocation, (generation, event.id))
    if row is not None and row.removed_on is None:
        row.removed_on = env.time.date()


LEAVE_MODEL = ReadModel(
    name=LEAVE,
    version=1,
    tables=[LeaveTaken.__table__],  # type: ignore[list-item]
    handlers={LeaveApproved: approved, LeaveCancelled: cancelled},
)
ALLOCATION_MODEL = ReadModel(
    name=ALLOCATION,
    version=1,
    tables=[Allocation.__table__],  # type: ignore[list-item]
    handlers={AssignmentCreated: assigned, AssignmentRemoved: removed},
)
