"""Use cases of leave types, the calendar and the ledger's manual entries."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.services.leave import ledger
from hrms.services.leave.calendar import DEFAULT_WORK_WEEK as DEFAULT_WEEK
from hrms.services.leave.calendar import Calendar, decode_week, encode_week
from hrms.services.leave.models import (
    ADJUSTMENT,
    ALLOCATION,
    PENDING,
    Holiday,
    LeaveBalance,
    LeaveRequest,
    LeaveRequestUser,
    LeaveType,
    LedgerEntry,
    WorkWeek,
)
from hrms.services.leave.schemas import AdjustmentCreate, AllocationCreate, BalanceView, LeaveTypeCreate
from isles import FieldError, ListSpec, Problem, UniqueViolation, UnitOfWork, conflict, invalid, not_found

#: What a new leave type is unless told otherwise.
TYPE_DEFAULTS: dict[str, Any] = {
    "paid": True,
    "allowance_days": Decimal(0),
    "monthly_accrual": None,
    "half_days": True,
    "max_consecutive_days": None,
    "allow_negative": False,
    "carry_forward_cap": Decimal(0),
    "carry_forward_expiry_months": None,
    "min_notice_days": 0,
    "approval_levels": 1,
}
#: Rules that cannot be unset (null) in an update.
REQUIRED_RULES = (
    "name",
    "paid",
    "allowance_days",
    "half_days",
    "allow_negative",
    "carry_forward_cap",
    "min_notice_days",
    "approval_levels",
)


def _name_taken(name: object) -> Problem:
    return conflict("name", f"the company has a leave type named {name!r} already")


async def _commit_named(uow: UnitOfWork, name: object) -> None:
    try:
        await uow.commit()
    except UniqueViolation as exc:
        raise _name_taken(name) from exc


async def create_leave_type(*, uow: UnitOfWork, data: LeaveTypeCreate, company_id: uuid.UUID) -> LeaveType:
    taken = await uow.session.scalar(
        select(LeaveType.id).where(LeaveType.company_id == company_id, LeaveType.name == data.name)
    )
    if taken is not None:
        raise _name_taken(data.name)
    given = data.model_dump(exclude_unset=True, exclude={"company_id", "name"})
    rules = {k: (given[k] if given.get(k) is not None else v) for k, v in TYPE_DEFAULTS.items()}
    leave_type = LeaveType(id=uuid.uuid4(), company_id=company_id, name=data.name, version=0, **rules)
    uow.session.add(leave_type)
    await _commit_named(uow, data.name)
    return leave_type


async def get_leave_type(session: AsyncSession, leave_type_id: uuid.UUID, *, field: str | None = None) -> LeaveType:
    """The type; unknown: 404, or a 422 naming ``field`` when it comes from a body."""
    leave_type = await session.get(LeaveType, leave_type_id)
    if leave_type is None:
        if field is not None:
            raise invalid([FieldError(field, f"leave type {leave_type_id} does not exist", "not_found")])
        raise not_found("leave type", leave_type_id)
    return leave_type


async def update_leave_type(*, uow: UnitOfWork, leave_type_id: uuid.UUID, changes: Mapping[str, Any]) -> LeaveType:
    for key in REQUIRED_RULES:
        if key in changes and changes[key] is None:
            raise invalid([FieldError(key, f"{key} cannot be null", "null")])
    leave_type = await uow.session.get(LeaveType, leave_type_id, with_for_update=True)
    if leave_type is None:
        raise not_found("leave type", leave_type_id)
    if "name" in changes and changes["name"] != leave_type.name:
        clash = await uow.session.scalar(
            select(LeaveType.id).where(LeaveType.company_id == leave_type.company_id, LeaveType.name == changes["name"])
        )
        if clash is not None:
            raise _name_taken(changes["name"])
    for key, value in changes.items():
        setattr(leave_type, key, value)
    leave_type.version += 1
    await _commit_named(uow, leave_type.name)
    return leave_type


async def retire_leave_type(*, uow: UnitOfWork, leave_type_id: uuid.UUID) -> None:
    """A type is never deleted (the ledger names it): it takes no new requests."""
    leave_type = await uow.session.get(LeaveType, leave_type_id, with_for_update=True)
    if leave_type is None:
        raise not_found("leave type", leave_type_id)
    if leave_type.is_active:
        leave_type.is_active = False
        leave_type.version += 1
        await uow.commit()


LEAVE_TYPES = ListSpec(
    sort={"name": LeaveType.name, "created_at": LeaveType.created_at},
    default=("name",),
    key=LeaveType.id,
    search=(LeaveType.name,),
)


def leave_types_where(*, include_retired: bool) -> Select[Any]:
    q = select(LeaveType)
    return q if include_retired else q.where(LeaveType.is_active.is_(True))


# -- the calendar ------------------------------------------------------------------------


async def work_week(session: AsyncSession, company_id: uuid.UUID) -> list[str]:
    stored = await session.scalar(select(WorkWeek.working_days).where(WorkWeek.company_id == company_id))
    return decode_week(stored or DEFAULT_WEEK)


async def set_work_week(*, uow: UnitOfWork, company_id: uuid.UUID, days: list[str]) -> list[str]:
    row = await uow.session.get(WorkWeek, company_id, with_for_update=True)
    if row is None:
        uow.session.add(WorkWeek(company_id=company_id, working_days=encode_week(days)))
    else:
        row.working_days = encode_week(days)
    await uow.commit()
    return decode_week(encode_week(days))


async def calendar_of(session: AsyncSession, company_id: uuid.UUID) -> Calendar:
    week = await session.scalar(select(WorkWeek.working_days).where(WorkWeek.company_id == company_id))
    rows = (await session.execute(select(Holiday.day, Holiday.recurring).where(Holiday.company_id == company_id))).all()
    return Calendar.of(week, [(r.day, r.recurring) for r in rows])


async def add_holiday(*, uow: UnitOfWork, company_id: uuid.UUID, name: str, day: date, recurring: bool) -> Holiday:
    holiday = Holiday(id=uuid.uuid4(), company_id=company_id, name=name, day=day, recurring=recurring)
    uow.session.add(holiday)
    try:
        await uow.commit()
    except UniqueViolation as exc:
        raise conflict("day", f"the company has a holiday on {day.isoformat()} already") from exc
    return holiday


async def remove_holiday(*, uow: UnitOfWork, holiday_id: uuid.UUID) -> None:
    """Requests already made keep the days counted then."""
    holiday = await uow.session.get(Holiday, holiday_id)
    if holiday is None:
        raise not_found("holiday", holiday_id)
    await uow.session.delete(holiday)
    await uow.commit()


#: How the holiday list sorts and searches (sort=, q=, cursor=).
HOLIDAYS = ListSpec(
    sort={"day": Holiday.day, "name": Holiday.name}, default=("day",), key=Holiday.id, search=(Holiday.name,)
)


def holidays_where(year: int | None) -> Select[Any]:
    q = select(Holiday)
    if year is not None:
        q = q.where((Holiday.recurring.is_(True)) | (func.extract("year", Holiday.day) == year))
    return q


# -- the ledger by hand ----------------------------------------------------------------


async def _person_and_type(
    session: AsyncSession, company_id: uuid.UUID, employee_id: uuid.UUID, leave_type_id: uuid.UUID
) -> tuple[LeaveRequestUser, LeaveType]:
    errors = []
    person = await session.get(LeaveRequestUser, employee_id)
    if person is None or person.company_id != company_id:
        errors.append(FieldError("employee_id", f"employee {employee_id} does not exist", "not_found"))
    leave_type = await session.get(LeaveType, leave_type_id)
    if leave_type is None:
        errors.append(FieldError("leave_type_id", f"leave type {leave_type_id} does not exist", "not_found"))
    if errors or person is None or leave_type is None:
        raise invalid(errors)
    return person, leave_type


async def allocate(
    *, uow: UnitOfWork, company_id: uuid.UUID, data: AllocationCreate, by: uuid.UUID | None
) -> ledger.Entry:
    """Credit a year's allowance (or the days given)."""
    _, leave_type = await _person_and_type(uow.session, company_id, data.employee_id, data.leave_type_id)
    amount = data.days if data.days is not None else leave_type.allowance_days
    entry = ledger.Entry(
        company_id,
        data.employee_id,
        leave_type.id,
        data.year,
        ALLOCATION,
        amount,
        date(data.year, 1, 1),
        reason=data.reason,
        created_by=by,
    )
    await ledger.post(uow, [entry])
    await uow.commit()
    return entry


async def adjust(
    *, uow: UnitOfWork, company_id: uuid.UUID, data: AdjustmentCreate, by: uuid.UUID | None
) -> ledger.Entry:
    """Credit or debit days by hand, with the reason."""
    await _person_and_type(uow.session, company_id, data.employee_id, data.leave_type_id)
    entry = ledger.Entry(
        company_id,
        data.employee_id,
        data.leave_type_id,
        data.year,
        ADJUSTMENT,
        data.days,
        date.today() if date.today().year == data.year else date(data.year, 1, 1),
        reason=data.reason,
        created_by=by,
    )
    await ledger.post(uow, [entry])
    await uow.commit()
    return entry


async def pending_days(session: AsyncSession, employee_id: uuid.UUID, leave_type_id: uuid.UUID, year: int) -> Decimal:
    """Days of the employee's pending requests of this type and year (reserved)."""
    total = await session.scalar(
        select(func.sum(LeaveRequest.days)).where(
            LeaveRequest.employee_id == employee_id,
            LeaveRequest.leave_type_id == leave_type_id,
            LeaveRequest.status == PENDING,
            func.extract("year", LeaveRequest.start_date) == year,
        )
    )
    return ledger.days(total)


#: How the balance list sorts (sort=, cursor=).
BALANCES = ListSpec(
    sort={"employee_id": LeaveBalance.employee_id, "balance": LeaveBalance.balance, "taken": LeaveBalance.taken},
    default=("employee_id",),
    key=LeaveBalance.id,
)


def balances_where(*, year: int, employee_id: uuid.UUID | None, scope: Any) -> Select[Any]:
    q = select(LeaveBalance).where(LeaveBalance.year == year)
    if employee_id is not None:
        q = q.where(LeaveBalance.employee_id == employee_id)
    if scope is not None:
        q = q.where(scope)
    return q


async def balance_views_as_of(
    session: AsyncSession, when: datetime, *, year: int, employee_id: uuid.UUID | None, scope: Any
) -> list[BalanceView]:
    """The balances of ``year`` as the ledger stood at ``when`` (its entries are never
    changed: the ledger is the balances' history). Pending requests are today's
    business, not kept in time: ``pending`` is 0 and ``available`` the balance."""
    where = [LedgerEntry.year == year]
    if employee_id is not None:
        where.append(LedgerEntry.employee_id == employee_id)
    if scope is not None:
        where.append(scope)
    rows = await ledger.sums_as_of(session, when, *where)
    types = select(LeaveType.id, LeaveType.name).where(LeaveType.id.in_({r.leave_type_id for r in rows}))
    names = {r.id: r.name for r in await session.execute(types)} if rows else {}
    zero = ledger.days(0)
    views = []
    for r in rows:
        credited, taken = ledger.days(r.credited), ledger.days(r.taken)
        views.append(
            BalanceView(
                employee_id=r.employee_id,
                leave_type_id=r.leave_type_id,
                leave_type_name=names.get(r.leave_type_id, ""),
                year=r.year,
                credited=credited,
                taken=taken,
                balance=credited - taken,
                pending=zero,
                available=credited - taken,
            )
        )
    return views


async def balance_views(session: AsyncSession, rows: Sequence[LeaveBalance], year: int) -> list[BalanceView]:
    """``rows`` with their type's name and the days pending requests reserve."""
    if not rows:
        return []
    types = select(LeaveType.id, LeaveType.name).where(LeaveType.id.in_({b.leave_type_id for b in rows}))
    names = {r.id: r.name for r in await session.execute(types)}
    pending_q = (
        select(LeaveRequest.employee_id, LeaveRequest.leave_type_id, func.sum(LeaveRequest.days).label("days"))
        .where(
            LeaveRequest.status == PENDING,
            func.extract("year", LeaveRequest.start_date) == year,
            LeaveRequest.employee_id.in_({b.employee_id for b in rows}),
        )
        .group_by(LeaveRequest.employee_id, LeaveRequest.leave_type_id)
    )
    pending = {(r.employee_id, r.leave_type_id): ledger.days(r.days) for r in await session.execute(pending_q)}
    out = []
    for b in rows:
        reserved = pending.get((b.employee_id, b.leave_type_id), ledger.days(0))
        balance = ledger.days(b.balance)
        out.append(
            BalanceView(
                employee_id=b.employee_id,
                leave_type_id=b.leave_type_id,
                leave_type_name=names.get(b.leave_type_id, ""),
                year=b.year,
                credited=ledger.days(b.credited),
                taken=ledger.days(b.taken),
                balance=balance,
                pending=reserved,
                available=balance - reserved,
            )
        )
    return out


LEDGER = ListSpec(
    sort={"created_at": LedgerEntry.created_at, "effective_on": LedgerEntry.effective_on, "year": LedgerEntry.year},
    default=("created_at",),
    key=LedgerEntry.id,
    search=(LedgerEntry.kind,),
)


def ledger_where(
    *, employee_id: uuid.UUID | None, leave_type_id: uuid.UUID | None, year: int | None, scope: Any
) -> Select[Any]:
    q = select(LedgerEntry)
    if employee_id is not None:
        q = q.where(LedgerEntry.employee_id == employee_id)
    if leave_type_id is not None:
        q = q.where(LedgerEntry.leave_type_id == leave_type_id)
    if year is not None:
        q = q.where(LedgerEntry.year == year)
    if scope is not None:
        q = q.where(scope)
    return q
