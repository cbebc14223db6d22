"""The leave and allocation read models (issue 23), kept from the archive like the
headcount's (``isles.ReadModel``: generations, rebuilt while events arrive).

* **leave**: each approved request (``LeaveApproved``: its type, dates and working
  days); a cancellation after approval (``LeaveCancelled`` with ``was_approved``)
  marks it, its days count no more. Keyed by the request: applying an event again
  writes the same row.
* **teams**: each team (name, department; deleted) and its memberships, from the
  company service's team events, each membership from the day it was added (the
  event's day) until the day it was removed or the team deleted.
* **allocation**: each assignment (``AssignmentCreated``: project, allocation per
  cent, dates); ``AssignmentRemoved`` ends it on the event's day.

Balances are kept by their own model (``balances``), from the leave service's
ledger entries (``leave.LedgerEntryPosted``).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.contracts.company import TeamCreated, TeamDeleted, TeamMemberAdded, TeamMemberRemoved, TeamUpdated
from hrms.contracts.leave import LeaveApproved, LeaveCancelled
from hrms.contracts.project import AssignmentCreated, AssignmentRemoved
from hrms.services.analytics.models import Allocation, LeaveTaken, TeamKnown, TeamMembership
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


# -- teams ---------------------------------------------------------------------------------

TEAMS = "teams"


async def _team(session: AsyncSession, generation: int, event: TeamCreated | TeamUpdated) -> None:
    row = await session.get(TeamKnown, (generation, event.id))
    if row is None:
        row = TeamKnown(generation=generation, team_id=event.id, deleted=False)
        session.add(row)
    row.company_id, row.name, row.department_id = event.company_id, event.name, event.department_id


async def team_created(session: AsyncSession, event: TeamCreated, env: Envelope, generation: int) -> None:
    await _team(session, generation, event)


async def team_updated(session: AsyncSession, event: TeamUpdated, env: Envelope, generation: int) -> None:
    await _team(session, generation, event)


async def _open(
    session: AsyncSession, generation: int, team: uuid.UUID, employee: uuid.UUID | None
) -> list[TeamMembership]:
    m = TeamMembership
    q = select(m).where(m.generation == generation, m.team_id == team, m.ends_on.is_(None))
    if employee is not None:
        q = q.where(m.employee_id == employee)
    return list((await session.scalars(q)).all())


async def team_deleted(session: AsyncSession, event: TeamDeleted, env: Envelope, generation: int) -> None:
    row = await session.get(TeamKnown, (generation, event.id))
    if row is not None:
        row.deleted = True
    for membership in await _open(session, generation, event.id, None):
        membership.ends_on = max(env.time.date(), membership.starts_on)


async def member_added(session: AsyncSession, event: TeamMemberAdded, env: Envelope, generation: int) -> None:
    if await _open(session, generation, event.team_id, event.employee_id):
        return  # a member already
    on = env.time.date()
    again = await session.get(TeamMembership, (generation, event.team_id, event.employee_id, on))
    if again is not None:  # removed and added back the same day
        again.ends_on = None
        return
    session.add(
        TeamMembership(
            generation=generation,
            team_id=event.team_id,
            employee_id=event.employee_id,
            starts_on=on,
            company_id=event.company_id,
            ends_on=None,
        )
    )


async def member_removed(session: AsyncSession, event: TeamMemberRemoved, env: Envelope, generation: int) -> None:
    for membership in await _open(session, generation, event.team_id, event.employee_id):
        membership.ends_on = max(env.time.date(), membership.starts_on)


TEAMS_MODEL = ReadModel(
    name=TEAMS,
    version=1,
    tables=[TeamKnown.__table__, TeamMembership.__table__],  # type: ignore[list-item]
    handlers={
        TeamCreated: team_created,
        TeamUpdated: team_updated,
        TeamDeleted: team_deleted,
        TeamMemberAdded: member_added,
        TeamMemberRemoved: member_removed,
    },
)
