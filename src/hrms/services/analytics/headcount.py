"""The headcount read model: who was employed, when, in which department.

Kept from employee events (a hire: ``EmployeeCreated``, its ``hire_date``; a
transfer: an ``EmployeeUpdated`` whose department differs, on the event's day; a
leaver: ``EmployeeDeactivated``, its ``deactivated_at``; a reactivation starts a new
span). Each function writes from the event and its envelope only, so a replay of the
archive writes what the live events wrote. An event at or below the version the model
holds for the employee changes nothing (the inbox already skips a redelivery; this
keeps a replay of a partly built generation safe too).

Someone is counted on day D when a span has ``starts_on <= D < ends_on`` (or no end):
hired that day counts, left that day does not.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.contracts.employee import EmployeeCreated, EmployeeDeactivated, EmployeeUpdated
from hrms.services.analytics.models import HeadcountPerson, HeadcountSpan
from isles import Envelope, ReadModel

NAME = "headcount"
VERSION = 1


async def _person(session: AsyncSession, generation: int, employee_id: uuid.UUID) -> HeadcountPerson | None:
    return await session.scalar(
        select(HeadcountPerson).where(
            HeadcountPerson.generation == generation, HeadcountPerson.employee_id == employee_id
        )
    )


async def _open_span(session: AsyncSession, generation: int, employee_id: uuid.UUID) -> HeadcountSpan | None:
    return await session.scalar(
        select(HeadcountSpan)
        .where(
            HeadcountSpan.generation == generation,
            HeadcountSpan.employee_id == employee_id,
            HeadcountSpan.ends_on.is_(None),
        )
        .order_by(HeadcountSpan.starts_on.desc())
        .limit(1)
    )


async def _start(session: AsyncSession, person: HeadcountPerson, on: date, by: str) -> None:
    """A span from ``on`` in the person's department (a span that starts that very day
    takes the department instead: a transfer on the day of a hire is the hire's)."""
    span = await session.get(HeadcountSpan, (person.generation, person.employee_id, on))
    if span is not None:
        span.department_id, span.ends_on, span.ended_by = person.department_id, None, None
        return
    session.add(
        HeadcountSpan(
            generation=person.generation,
            employee_id=person.employee_id,
            starts_on=on,
            company_id=person.company_id,
            department_id=person.department_id,
            ends_on=None,
            started_by=by,
        )
    )


async def _end(session: AsyncSession, generation: int, employee_id: uuid.UUID, on: date, by: str) -> None:
    span = await _open_span(session, generation, employee_id)
    if span is not None:
        span.ends_on, span.ended_by = max(on, span.starts_on), by


async def hired(session: AsyncSession, event: EmployeeCreated, env: Envelope, generation: int) -> None:
    held = await _person(session, generation, event.id)
    if held is not None:
        return  # created once; a later version got here first only if events were lost
    person = HeadcountPerson(
        generation=generation,
        employee_id=event.id,
        company_id=event.company_id,
        department_id=event.department_id,
        user_id=event.user_id,
        hired_on=event.hire_date,
        left_on=None if event.is_active else event.hire_date,
        version=env.aggregateversion,
    )
    session.add(person)
    if event.is_active:
        await _start(session, person, event.hire_date, "hire")


async def updated(session: AsyncSession, event: EmployeeUpdated, env: Envelope, generation: int) -> None:
    person = await _person(session, generation, event.id)
    if person is None or env.aggregateversion <= person.version:
        return
    person.version = env.aggregateversion
    if event.user_id is not None:
        person.user_id = event.user_id
    on = max(env.time.date(), person.hired_on)
    if not event.is_active:
        if person.left_on is None:
            person.left_on = on
            await _end(session, generation, event.id, on, "left")
        return
    moved = event.department_id != person.department_id
    person.department_id = event.department_id
    if person.left_on is not None:  # back again: a new span from today
        person.left_on = None
        await _start(session, person, on, "return")
    elif moved:
        await _end(session, generation, event.id, on, "transfer")
        await _start(session, person, on, "transfer")


async def left(session: AsyncSession, event: EmployeeDeactivated, env: Envelope, generation: int) -> None:
    person = await _person(session, generation, event.id)
    if person is None or env.aggregateversion <= person.version:
        return
    person.version = env.aggregateversion
    if person.left_on is None:
        on = max(event.deactivated_at.date(), person.hired_on)
        person.left_on = on
        await _end(session, generation, event.id, on, "left")


def _tables() -> list[Any]:
    return [HeadcountPerson.__table__, HeadcountSpan.__table__]


MODEL = ReadModel(
    name=NAME,
    version=VERSION,
    tables=_tables(),
    handlers={EmployeeCreated: hired, EmployeeUpdated: updated, EmployeeDeactivated: left},
)
