"""The life of a leave request: made (PENDING at level 1), approved level by level
(the last approval debits the ledger), rejected, or cancelled (after approval: a
reversing ledger entry). Each transition writes its event in its transaction.

The wait for a decision is durable: it is the request row itself (``status``,
``level``, ``approver_id``) and its ``leave_approvals``, so a restart loses nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.contracts.leave import AGGREGATE
from hrms.services.leave import events, ledger
from hrms.services.leave.calendar import Span, count_days, overlap
from hrms.services.leave.deps import Scope, is_admin
from hrms.services.leave.models import (
    APPROVED,
    CANCELLATION,
    CANCELLED,
    PENDING,
    REJECTED,
    TAKEN,
    LeaveApproval,
    LeaveRequest,
    LeaveRequestUser,
    LeaveType,
)
from hrms.services.leave.schemas import LeaveRequestCreate
from hrms.services.leave.service import calendar_of, get_leave_type, pending_days
from isles import Event, FieldError, ListSpec, Principal, Problem, UnitOfWork, conflict, invalid, not_found, utcnow


def _emit(uow: UnitOfWork, request: LeaveRequest, event: Event) -> None:
    uow.emit(event, aggregate=request, aggregate_type=AGGREGATE, tenant_id=str(request.company_id))


def _refuse(field: str, message: str, code: str) -> Problem:
    return invalid([FieldError(field, message, code)])


def _forbidden(detail: str) -> Problem:
    return Problem(403, detail, slug="forbidden")


async def _check_rules(
    session: AsyncSession, leave_type: LeaveType, person: LeaveRequestUser, data: LeaveRequestCreate, today: date
) -> Any:
    """The type's rules and the calendar: the days the request takes (422 naming the
    field at fault otherwise)."""
    if not leave_type.is_active:
        raise _refuse("leave_type_id", f"leave type {leave_type.name!r} is retired", "retired")
    if not leave_type.half_days:
        for part in ("first_day", "last_day"):
            if getattr(data, part) != "full":
                raise _refuse(part, f"{leave_type.name!r} is taken in whole days only", "no_half_days")
    calendar = await calendar_of(session, person.company_id or leave_type.company_id)
    days = count_days(calendar, data.start_date, data.end_date, data.first_day, data.last_day)
    if days == 0:
        raise _refuse("start_date", "the request takes no working day (weekends and holidays only)", "no_working_day")
    if leave_type.max_consecutive_days is not None and days > leave_type.max_consecutive_days:
        limit = ledger.days(leave_type.max_consecutive_days)
        raise _refuse("end_date", f"{days} days in a row; {leave_type.name!r} allows {limit} at most", "too_long")
    notice = (data.start_date - today).days
    if notice < leave_type.min_notice_days:
        message = f"{leave_type.name!r} needs {leave_type.min_notice_days} days' notice; this starts in {notice}"
        raise _refuse("start_date", message, "short_notice")
    return days


async def _check_overlap(session: AsyncSession, employee_id: uuid.UUID, data: LeaveRequestCreate) -> None:
    mine = await session.scalars(
        select(LeaveRequest).where(
            LeaveRequest.employee_id == employee_id,
            LeaveRequest.status.in_((PENDING, APPROVED)),
            LeaveRequest.start_date <= data.end_date,
            LeaveRequest.end_date >= data.start_date,
        )
    )
    new = Span(data.start_date, data.end_date, data.first_day, data.last_day)
    for other in mine.all():
        day = overlap(new, Span(other.start_date, other.end_date, other.first_day, other.last_day))
        if day is not None:
            raise conflict("start_date", f"overlaps request {other.id} ({other.status.lower()}) on {day.isoformat()}")


async def make_request(
    *, uow: UnitOfWork, caller: Principal, person: LeaveRequestUser, data: LeaveRequestCreate, today: date
) -> LeaveRequest:
    """Request leave for ``person``: counted from the calendar, checked against the
    type's rules, the employee's other requests and the balance (less the days their
    pending requests reserve, unless the type allows a negative balance)."""
    session = uow.session
    # The employee's row lock queues their concurrent requests and decisions.
    await session.execute(select(LeaveRequestUser.id).where(LeaveRequestUser.id == person.id).with_for_update())
    if not person.is_active:
        raise _refuse("employee_id", f"employee {person.id} is not active", "inactive")
    leave_type = await get_leave_type(session, data.leave_type_id, field="leave_type_id")
    days = await _check_rules(session, leave_type, person, data, today)
    await _check_overlap(session, person.id, data)
    year = data.start_date.year
    if not leave_type.allow_negative:
        balance = await ledger.balance_of(session, person.id, leave_type.id, year)
        available = balance - await pending_days(session, person.id, leave_type.id, year)
        if days > available:
            message = f"{days} days requested; {available} available in {year} ({balance} less pending requests)"
            raise _refuse("leave_type_id", message, "insufficient_balance")
    manager = await session.get(LeaveRequestUser, person.manager_id) if person.manager_id else None
    usable = manager is not None and manager.is_active and manager.company_id == person.company_id
    request = LeaveRequest(
        id=uuid.uuid4(),
        company_id=leave_type.company_id,
        employee_id=person.id,
        employee_name=person.full_name,
        leave_type_id=leave_type.id,
        leave_type_name=leave_type.name,
        paid=leave_type.paid,
        start_date=data.start_date,
        end_date=data.end_date,
        first_day=data.first_day,
        last_day=data.last_day,
        days=days,
        reason=data.reason,
        status=PENDING,
        level=1,
        levels=leave_type.approval_levels,
        approver_id=manager.id if usable and manager is not None and manager.id != person.id else None,
        requested_by=caller.user_id,
        version=0,
    )
    session.add(request)
    _emit(uow, request, events.requested(request))
    await uow.commit()
    return request


async def _load_visible(session: AsyncSession, scope: Scope, request_id: uuid.UUID) -> LeaveRequest:
    request = await session.get(LeaveRequest, request_id, with_for_update=True)
    if request is None or not scope.covers(request.employee_id):
        raise not_found("leave request", request_id)
    return request


async def _check_may_decide(session: AsyncSession, caller: Principal, scope: Scope, request: LeaveRequest) -> None:
    if request.status != PENDING:
        raise conflict("status", f"request {request.id} is {request.status.lower()}: nothing to decide")
    if is_admin(caller):
        return
    if request.level > 1:
        raise _forbidden(f"request {request.id} awaits HR's decision (approval level {request.level})")
    requester = await session.get(LeaveRequestUser, request.employee_id)
    if scope.me is None or requester is None or requester.manager_id != scope.me.id:
        raise _forbidden(f"only the manager of the requester (or an admin) decides request {request.id}")


def _record(
    request: LeaveRequest, decision: str, caller: Principal, scope: Scope, at: datetime, comment: str | None
) -> LeaveApproval:
    return LeaveApproval(
        id=uuid.uuid4(),
        company_id=request.company_id,
        request_id=request.id,
        level=request.level,
        decision=decision,
        decided_by=scope.me_id,
        decided_by_user=caller.user_id,
        decided_at=at,
        comment=comment,
    )


async def decide(
    *, uow: UnitOfWork, caller: Principal, scope: Scope, request_id: uuid.UUID, approve: bool, comment: str | None
) -> LeaveRequest:
    """Approve (one level; the last debits the ledger) or reject a pending request."""
    session = uow.session
    request = await _load_visible(session, scope, request_id)
    await _check_may_decide(session, caller, scope, request)
    now = utcnow()
    session.add(_record(request, "approved" if approve else "rejected", caller, scope, now, comment))
    if approve and request.level < request.levels:
        request.level += 1
        request.approver_id = None  # HR: any admin
        _emit(uow, request, events.requested(request))  # it waits again, for an admin
    elif approve:
        request.status, request.decided_at = APPROVED, now
        entry = ledger.Entry(
            request.company_id,
            request.employee_id,
            request.leave_type_id,
            request.start_date.year,
            TAKEN,
            -request.days,
            request.start_date,
            period_key=f"taken:{request.id}",
            request_id=request.id,
            created_by=caller.user_id,
        )
        await ledger.post(uow, [entry])
        _emit(uow, request, events.approved(request, scope.me_id, now))
    else:
        request.status, request.decided_at = REJECTED, now
        _emit(uow, request, events.rejected(request, scope.me_id, now, comment))
    await uow.commit()
    return request


async def cancel(*, uow: UnitOfWork, caller: Principal, scope: Scope, request_id: uuid.UUID) -> LeaveRequest:
    """Withdraw a pending request (its requester, or an admin), or cancel an approved
    one (an admin): the days taken come back through a reversing ledger entry."""
    session = uow.session
    request = await _load_visible(session, scope, request_id)
    own = request.employee_id == scope.me_id
    if request.status == PENDING:
        if not (own or is_admin(caller)):
            raise _forbidden(f"only the requester (or an admin) withdraws request {request.id}")
    elif request.status == APPROVED:
        if not is_admin(caller):
            raise _forbidden(f"request {request.id} is approved: an admin cancels it")
        entry = ledger.Entry(
            request.company_id,
            request.employee_id,
            request.leave_type_id,
            request.start_date.year,
            CANCELLATION,
            request.days,
            request.start_date,
            period_key=f"cancellation:{request.id}",
            request_id=request.id,
            reason="approved leave cancelled",
            created_by=caller.user_id,
        )
        await ledger.post(uow, [entry])
    else:
        raise conflict("status", f"request {request.id} is {request.status.lower()}: it cannot be cancelled")
    was_approved = request.status == APPROVED
    now = utcnow()
    session.add(_record(request, "cancelled", caller, scope, now, None))
    request.status, request.decided_at = CANCELLED, now
    _emit(uow, request, events.cancelled(request, scope.me_id, now, was_approved))
    await uow.commit()
    return request


async def approvals_of(session: AsyncSession, request_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[LeaveApproval]]:
    out: dict[uuid.UUID, list[LeaveApproval]] = {i: [] for i in request_ids}
    if request_ids:
        rows = await session.scalars(
            select(LeaveApproval)
            .where(LeaveApproval.request_id.in_(request_ids))
            .order_by(LeaveApproval.decided_at, LeaveApproval.level)
        )
        for a in rows.all():
            out[a.request_id].append(a)
    return out


REQUESTS = ListSpec(
    sort={"start_date": LeaveRequest.start_date, "created_at": LeaveRequest.created_at, "status": LeaveRequest.status},
    default=("-start_date",),
    key=LeaveRequest.id,
    search=(LeaveRequest.employee_name, LeaveRequest.leave_type_name),
)


def requests_where(
    *, status: str | None, employee_id: uuid.UUID | None, leave_type_id: uuid.UUID | None, scope: Any
) -> Select[Any]:
    q = select(LeaveRequest)
    if status is not None:
        q = q.where(LeaveRequest.status == status)
    if employee_id is not None:
        q = q.where(LeaveRequest.employee_id == employee_id)
    if leave_type_id is not None:
        q = q.where(LeaveRequest.leave_type_id == leave_type_id)
    if scope is not None:
        q = q.where(scope)
    return q
