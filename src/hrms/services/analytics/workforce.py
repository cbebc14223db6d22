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
from collections.abc import Sequence
from datetime import date
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.contracts.company import TeamCreated, TeamDeleted, TeamMemberAdded, TeamMemberRemoved, TeamUpdated
from hrms.contracts.leave import LeaveApproved, LeaveCancelled
from hrms.contracts.project import AssignmentCreated, AssignmentRemoved
from hrms.services.analytics.models import Allocation, LeaveTaken, TeamKnown, TeamMembership
from hrms.services.analytics.upserts import upserts
from isles import Envelope, ReadModel

LEAVE, ALLOCATION = "leave", "allocation"


async def leave_taken(session: AsyncSession, pairs: Sequence[tuple[Envelope, Any]], generation: int) -> None:
    """A batch of leave events, set-wise: the approved requests in one upsert (a row
    there keeps its ``cancelled``), then the cancellations after approval in one
    update. Cancellations come after their approval (one request's events keep their
    order), so marking them after the upsert is what applying them in order does."""
    taken: dict[uuid.UUID, dict[str, Any]] = {}
    gone: set[uuid.UUID] = set()
    for _, event in pairs:
        if isinstance(event, LeaveApproved):
            taken[event.id] = {
                "generation": generation,
                "request_id": event.id,
                "company_id": event.company_id,
                "employee_id": event.employee_id,
                "leave_type_id": event.leave_type_id,
                "leave_type_name": event.leave_type_name,
                "start_date": event.start_date,
                "end_date": event.end_date,
                "days": event.days,
                "cancelled": False,
            }
        elif event.was_approved:  # withdrawn before a decision: never taken
            gone.add(event.id)
    dialect = session.get_bind().dialect.name
    if taken:
        await session.execute(_LEAVE_UPSERTS[dialect], list(taken.values()))
    if gone:
        t = _table(LeaveTaken)
        await session.execute(
            update(t).where(t.c.generation == generation, t.c.request_id.in_(sorted(gone))).values(cancelled=True)
        )


async def allocated(session: AsyncSession, pairs: Sequence[tuple[Envelope, Any]], generation: int) -> None:
    """A batch of assignment events, set-wise: the assignments made in one upsert (a row
    there keeps its ``removed_on``), then the removals in one statement (each ends its
    assignment on the event's day, unless it ended already: the first removal's day)."""
    made: dict[uuid.UUID, dict[str, Any]] = {}
    ended: dict[uuid.UUID, date] = {}
    for env, event in pairs:
        if isinstance(event, AssignmentCreated):
            made[event.id] = {
                "generation": generation,
                "assignment_id": event.id,
                "company_id": event.company_id,
                "employee_id": event.employee_id,
                "project_id": event.project_id,
                "project_name": event.project_name,
                "allocation": event.allocation,
                "start_date": event.start_date,
                "end_date": event.end_date,
                "removed_on": None,
            }
        else:
            ended.setdefault(event.id, env.time.date())
    dialect = session.get_bind().dialect.name
    if made:
        await session.execute(_ALLOCATION_UPSERTS[dialect], list(made.values()))
    if ended:
        t = _table(Allocation)
        await session.execute(
            update(t)
            .where(t.c.generation == bindparam("g"), t.c.assignment_id == bindparam("a"), t.c.removed_on.is_(None))
            .values(removed_on=bindparam("day")),
            [{"g": generation, "a": a, "day": day} for a, day in ended.items()],
        )


def _table(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


_LEAVE_UPSERTS = upserts(_table(LeaveTaken), ("generation", "request_id"), kept=("cancelled",))
_ALLOCATION_UPSERTS = upserts(_table(Allocation), ("generation", "assignment_id"), kept=("removed_on",))


LEAVE_MODEL = ReadModel(
    name=LEAVE,
    version=1,
    tables=[LeaveTaken.__table__],  # type: ignore[list-item]
    apply=leave_taken,
    events=[LeaveApproved, LeaveCancelled],
)
ALLOCATION_MODEL = ReadModel(
    name=ALLOCATION,
    version=1,
    tables=[Allocation.__table__],  # type: ignore[list-item]
    apply=allocated,
    events=[AssignmentCreated, AssignmentRemoved],
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
