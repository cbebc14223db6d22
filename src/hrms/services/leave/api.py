"""HTTP routes of the leave service (mounted at ``/api/leave``)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.services.leave import jobs, requests, service
from hrms.services.leave.deps import (
    ApproveLeave,
    ManageLeave,
    ReadLeave,
    RequestLeave,
    check_sees,
    employee_for,
    scope_of,
)
from hrms.services.leave.models import LeaveApproval, LeaveBalance, LeaveRequest, LeaveType, LedgerEntry
from hrms.services.leave.schemas import (
    AdjustmentCreate,
    AllocationCreate,
    ApprovalView,
    BalanceView,
    Decision,
    HolidayCreate,
    HolidayView,
    JobResult,
    JobRun,
    LeaveRequestCreate,
    LeaveRequestView,
    LeaveTypeCreate,
    LeaveTypeUpdate,
    LeaveTypeView,
    LedgerEntryView,
    WorkWeekUpdate,
    WorkWeekView,
)
from isles import (
    FieldError,
    Listing,
    Page,
    Principal,
    TenantData,
    UnitOfWork,
    check_tenant,
    invalid,
    not_found,
    utcnow,
)

router = APIRouter()
_NAME_TAKEN: dict[int | str, dict[str, Any]] = {409: {"description": "The company has a leave type of that name."}}


def type_view(t: LeaveType) -> LeaveTypeView:
    return LeaveTypeView.model_validate(t, from_attributes=True)


def request_view(r: LeaveRequest, approvals: list[LeaveApproval]) -> LeaveRequestView:
    view = LeaveRequestView.model_validate(r, from_attributes=True)
    view.approvals = [ApprovalView.model_validate(a, from_attributes=True) for a in approvals]
    return view


def _company(caller: Principal, company_id: uuid.UUID | None) -> uuid.UUID:
    """The company a read of company-wide settings is about (the operator names one)."""
    if caller.tenant is not None:
        if company_id is not None and company_id != caller.tenant:
            raise invalid([FieldError("company_id", f"company {company_id} does not exist", "not_found")])
        return caller.tenant
    if company_id is None:
        raise invalid([FieldError("company_id", "required for a caller acting for no company", "missing")])
    return company_id


# -- leave types -----------------------------------------------------------------------


@router.post("/leave-types", status_code=201, response_model=LeaveTypeView, tags=["leave types"], responses=_NAME_TAKEN)
async def create_leave_type(
    body: LeaveTypeCreate, request: Request, response: Response, caller: ManageLeave
) -> LeaveTypeView:
    """Create a leave type of the caller's company (its name unique there)."""
    company_id = check_tenant(caller, body.company_id)
    async with TenantData(request, caller).uow() as uow:
        leave_type = await service.create_leave_type(uow=uow, data=body, company_id=company_id)
    response.headers["Location"] = f"{request.url.path}/{leave_type.id}"
    return type_view(leave_type)


TypeList = Annotated[Listing, Depends(service.LEAVE_TYPES.dependency)]


@router.get("/leave-types", response_model=Page[LeaveTypeView], tags=["leave types"])
async def list_leave_types(
    request: Request, caller: ReadLeave, listing: TypeList, include_retired: Annotated[bool, Query()] = False
) -> Page[LeaveTypeView]:
    """The company's leave types (``q`` finds names)."""
    async with TenantData(request, caller).read() as session:
        rows, total, cursor = await listing.fetch(session, service.leave_types_where(include_retired=include_retired))
    return listing.page([type_view(t) for t in rows], total, cursor)


@router.get("/leave-types/{leave_type_id}", response_model=LeaveTypeView, tags=["leave types"])
async def get_leave_type(leave_type_id: uuid.UUID, request: Request, caller: ReadLeave) -> LeaveTypeView:
    async with TenantData(request, caller).read() as session:
        return type_view(await service.get_leave_type(session, leave_type_id))


@router.patch("/leave-types/{leave_type_id}", response_model=LeaveTypeView, tags=["leave types"], responses=_NAME_TAKEN)
async def update_leave_type(
    leave_type_id: uuid.UUID, body: LeaveTypeUpdate, request: Request, caller: ManageLeave
) -> LeaveTypeView:
    """Change a leave type's rules; requests already made keep the days counted then."""
    async with TenantData(request, caller).uow() as uow:
        leave_type = await service.update_leave_type(
            uow=uow, leave_type_id=leave_type_id, changes=body.model_dump(exclude_unset=True)
        )
    return type_view(leave_type)


@router.delete("/leave-types/{leave_type_id}", status_code=204, tags=["leave types"])
async def retire_leave_type(leave_type_id: uuid.UUID, request: Request, caller: ManageLeave) -> Response:
    """Retire a leave type: it takes no new requests; its ledger stays."""
    async with TenantData(request, caller).uow() as uow:
        await service.retire_leave_type(uow=uow, leave_type_id=leave_type_id)
    return Response(status_code=204)


# -- the calendar ------------------------------------------------------------------------


@router.get("/work-week", response_model=WorkWeekView, tags=["calendar"])
async def get_work_week(
    request: Request, caller: ReadLeave, company_id: Annotated[uuid.UUID | None, Query()] = None
) -> WorkWeekView:
    """The company's working weekdays (Monday to Friday unless set)."""
    company = _company(caller, company_id)
    async with TenantData(request, caller).read() as session:
        return WorkWeekView(company_id=company, working_days=await service.work_week(session, company))


@router.put("/work-week", response_model=WorkWeekView, tags=["calendar"])
async def set_work_week(body: WorkWeekUpdate, request: Request, caller: ManageLeave) -> WorkWeekView:
    """Set the company's working weekdays (requests already made keep their days)."""
    company = check_tenant(caller, body.company_id)
    async with TenantData(request, caller).uow() as uow:
        days = await service.set_work_week(uow=uow, company_id=company, days=list(body.working_days))
    return WorkWeekView(company_id=company, working_days=days)


@router.post(
    "/holidays",
    status_code=201,
    response_model=HolidayView,
    tags=["calendar"],
    responses={409: {"description": "The company has a holiday that day."}},
)
async def add_holiday(body: HolidayCreate, request: Request, response: Response, caller: ManageLeave) -> HolidayView:
    """Add a holiday: on its date, or every year on its month and day (``recurring``)."""
    company = check_tenant(caller, body.company_id)
    async with TenantData(request, caller).uow() as uow:
        holiday = await service.add_holiday(
            uow=uow, company_id=company, name=body.name, day=body.day, recurring=body.recurring
        )
    response.headers["Location"] = f"{request.url.path}/{holiday.id}"
    return HolidayView.model_validate(holiday, from_attributes=True)


HolidayList = Annotated[Listing, Depends(service.HOLIDAYS.dependency)]


@router.get("/holidays", response_model=Page[HolidayView], tags=["calendar"])
async def list_holidays(
    request: Request,
    caller: ReadLeave,
    listing: HolidayList,
    year: Annotated[
        int | None, Query(ge=2000, le=2100, description="Dated holidays of this year, and every recurring one.")
    ] = None,
) -> Page[HolidayView]:
    """The company's holidays (``q`` finds names; ``sort=name``)."""
    async with TenantData(request, caller).read() as session:
        rows, total, cursor = await listing.fetch(session, service.holidays_where(year))
    return listing.page([HolidayView.model_validate(h, from_attributes=True) for h in rows], total, cursor)


@router.delete("/holidays/{holiday_id}", status_code=204, tags=["calendar"])
async def remove_holiday(holiday_id: uuid.UUID, request: Request, caller: ManageLeave) -> Response:
    async with TenantData(request, caller).uow() as uow:
        await service.remove_holiday(uow=uow, holiday_id=holiday_id)
    return Response(status_code=204)


# -- balances and the ledger -----------------------------------------------------------------


BalanceList = Annotated[Listing, Depends(service.BALANCES.dependency)]


@router.get(
    "/balances",
    response_model=Page[BalanceView],
    tags=["balances"],
    responses={404: {"description": "No such employee, or not one the caller sees."}},
)
async def list_balances(
    request: Request,
    caller: ReadLeave,
    listing: BalanceList,
    year: Annotated[int | None, Query(ge=2000, le=2100, description="Default: this year.")] = None,
    employee_id: Annotated[uuid.UUID | None, Query()] = None,
    as_of: Annotated[
        datetime | None,
        Query(
            description="The balances as the ledger stood at this moment (pending: 0; one page).",
            examples=["2026-01-31T23:59:59Z"],
        ),
    ] = None,
) -> Page[BalanceView]:
    """Balances of a year: the caller's own, their reports' (a manager) or everyone's
    (an admin); ``employee_id`` for one employee. ``available`` = balance - pending.
    With ``as_of``, as they stood then: the ledger is never changed, so it is the
    balances' history."""
    year = year or utcnow().year
    async with TenantData(request, caller).read() as session:
        scope = await scope_of(session, caller)
        if employee_id is not None:
            check_sees(scope, employee_id)
        if as_of is not None:
            views = await service.balance_views_as_of(
                session, as_of, year=year, employee_id=employee_id, scope=scope.where(LedgerEntry.employee_id)
            )
            return listing.page(views, len(views), None)
        where = service.balances_where(year=year, employee_id=employee_id, scope=scope.where(LeaveBalance.employee_id))
        rows, total, cursor = await listing.fetch(session, where)
        views = await service.balance_views(session, rows, year)
    return listing.page(views, total, cursor)


LedgerList = Annotated[Listing, Depends(service.LEDGER.dependency)]


@router.get("/ledger", response_model=Page[LedgerEntryView], tags=["balances"])
async def list_ledger(
    request: Request,
    caller: ReadLeave,
    listing: LedgerList,
    employee_id: Annotated[uuid.UUID | None, Query()] = None,
    leave_type_id: Annotated[uuid.UUID | None, Query()] = None,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
) -> Page[LedgerEntryView]:
    """The ledger entries the caller may see (``q`` finds kinds)."""
    async with TenantData(request, caller).read() as session:
        scope = await scope_of(session, caller)
        where = service.ledger_where(
            employee_id=employee_id, leave_type_id=leave_type_id, year=year, scope=scope.where(LedgerEntry.employee_id)
        )
        rows, total, cursor = await listing.fetch(session, where)
    return listing.page([LedgerEntryView.model_validate(e, from_attributes=True) for e in rows], total, cursor)


async def _entry_view(session: AsyncSession, entry_id: uuid.UUID) -> LedgerEntryView:
    entry = await session.scalar(select(LedgerEntry).where(LedgerEntry.id == entry_id))
    return LedgerEntryView.model_validate(entry, from_attributes=True)


@router.post("/allocations", status_code=201, response_model=LedgerEntryView, tags=["balances"])
async def allocate(body: AllocationCreate, request: Request, caller: ManageLeave) -> LedgerEntryView:
    """Credit an employee's yearly allowance of a type (or the days given)."""
    async with TenantData(request, caller).uow() as uow:
        company = await _write_company(uow.session, caller, body.leave_type_id)
        entry = await service.allocate(uow=uow, company_id=company, data=body, by=caller.user_id)
    async with TenantData(request, caller).read() as session:
        return await _entry_view(session, entry.id)


@router.post("/adjustments", status_code=201, response_model=LedgerEntryView, tags=["balances"])
async def adjust(body: AdjustmentCreate, request: Request, caller: ManageLeave) -> LedgerEntryView:
    """Credit (positive) or debit (negative) days by hand, with a reason."""
    async with TenantData(request, caller).uow() as uow:
        company = await _write_company(uow.session, caller, body.leave_type_id)
        entry = await service.adjust(uow=uow, company_id=company, data=body, by=caller.user_id)
    async with TenantData(request, caller).read() as session:
        return await _entry_view(session, entry.id)


async def _write_company(session: AsyncSession, caller: Principal, leave_type_id: uuid.UUID) -> uuid.UUID:
    """The caller's company; the operator's is the leave type's."""
    if caller.tenant is not None:
        return caller.tenant
    leave_type = await service.get_leave_type(session, leave_type_id, field="leave_type_id")
    return leave_type.company_id


# -- requests --------------------------------------------------------------------------


@router.post(
    "/requests",
    status_code=201,
    response_model=LeaveRequestView,
    tags=["requests"],
    responses={409: {"description": "It overlaps another pending or approved request."}},
)
async def request_leave(
    body: LeaveRequestCreate, request: Request, response: Response, caller: RequestLeave
) -> LeaveRequestView:
    """Request leave (for oneself; an admin for anyone). Its working days are counted
    now, from the company's work week and holidays, and kept. Publishes LeaveRequested."""
    async with TenantData(request, caller).uow() as uow:
        session = uow.session
        scope = await scope_of(session, caller)
        company = await _write_company(session, caller, body.leave_type_id)
        person = await employee_for(session, caller, scope, body.employee_id, company)
        made = await requests.make_request(uow=uow, caller=caller, person=person, data=body, today=utcnow().date())
    response.headers["Location"] = f"{request.url.path}/{made.id}"
    return request_view(made, [])


RequestList = Annotated[Listing, Depends(requests.REQUESTS.dependency)]
Status = Literal["PENDING", "APPROVED", "REJECTED", "CANCELLED"]


@router.get("/requests", response_model=Page[LeaveRequestView], tags=["requests"])
async def list_requests(
    request: Request,
    caller: ReadLeave,
    listing: RequestList,
    status: Annotated[Status | None, Query()] = None,
    employee_id: Annotated[uuid.UUID | None, Query()] = None,
    leave_type_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Page[LeaveRequestView]:
    """The requests the caller may see: their own, their reports' (a manager), the
    company's (an admin). ``q`` finds employee and type names."""
    async with TenantData(request, caller).read() as session:
        scope = await scope_of(session, caller)
        where = requests.requests_where(
            status=status,
            employee_id=employee_id,
            leave_type_id=leave_type_id,
            scope=scope.where(LeaveRequest.employee_id),
        )
        rows, total, cursor = await listing.fetch(session, where)
        approvals = await requests.approvals_of(session, [r.id for r in rows])
    return listing.page([request_view(r, approvals[r.id]) for r in rows], total, cursor)


@router.get("/requests/{request_id}", response_model=LeaveRequestView, tags=["requests"])
async def get_request(request_id: uuid.UUID, request: Request, caller: ReadLeave) -> LeaveRequestView:
    async with TenantData(request, caller).read() as session:
        scope = await scope_of(session, caller)
        found = await session.get(LeaveRequest, request_id)
        if found is None:
            raise not_found("leave request", request_id)
        check_sees(scope, found.employee_id, "leave request")
        approvals = await requests.approvals_of(session, [found.id])
    return request_view(found, approvals[found.id])


_DECISION: dict[int | str, dict[str, Any]] = {
    409: {"description": "The request is no longer pending."},
}


async def _decide(
    request_id: uuid.UUID, body: Decision | None, request: Request, caller: Principal, approve: bool
) -> LeaveRequestView:
    async with TenantData(request, caller).uow() as uow:
        scope = await scope_of(uow.session, caller)
        decided = await requests.decide(
            uow=uow,
            caller=caller,
            scope=scope,
            request_id=request_id,
            approve=approve,
            comment=body.comment if body else None,
        )
    return await _view(request, caller, decided.id)


async def _view(request: Request, caller: Principal, request_id: uuid.UUID) -> LeaveRequestView:
    async with TenantData(request, caller).read() as session:
        found = await session.get(LeaveRequest, request_id)
        assert found is not None
        approvals = await requests.approvals_of(session, [request_id])
    return request_view(found, approvals[request_id])


@router.post("/requests/{request_id}/approve", response_model=LeaveRequestView, tags=["requests"], responses=_DECISION)
async def approve_request(
    request_id: uuid.UUID, request: Request, caller: ApproveLeave, body: Decision | None = None
) -> LeaveRequestView:
    """Approve at the level awaited: the requester's manager at level 1, an admin at
    level 2 (an admin at any). The last level debits the balance. Publishes
    LeaveApproved (or LeaveRequested again, awaiting HR)."""
    return await _decide(request_id, body, request, caller, True)


@router.post("/requests/{request_id}/reject", response_model=LeaveRequestView, tags=["requests"], responses=_DECISION)
async def reject_request(
    request_id: uuid.UUID, request: Request, caller: ApproveLeave, body: Decision | None = None
) -> LeaveRequestView:
    """Reject a pending request. Publishes LeaveRejected."""
    return await _decide(request_id, body, request, caller, False)


@router.post(
    "/requests/{request_id}/cancel",
    response_model=LeaveRequestView,
    tags=["requests"],
    responses={409: {"description": "The request is rejected or cancelled already."}},
)
async def cancel_request(request_id: uuid.UUID, request: Request, caller: RequestLeave) -> LeaveRequestView:
    """Withdraw one's pending request, or (an admin) cancel an approved one: its days
    come back through a reversing ledger entry. Publishes LeaveCancelled."""
    async with TenantData(request, caller).uow() as uow:
        scope = await scope_of(uow.session, caller)
        done = await requests.cancel(uow=uow, caller=caller, scope=scope, request_id=request_id)
    return await _view(request, caller, done.id)


# -- jobs ----------------------------------------------------------------------------------

JobFn = Callable[[UnitOfWork, date, uuid.UUID | None], Awaitable[int]]


async def _run_job(name: str, fn: JobFn, body: JobRun, request: Request, caller: Principal) -> JobResult:
    company = check_tenant(caller, body.company_id)
    async with TenantData(request, caller).uow() as uow:
        added = await fn(uow, body.day, company)
        await uow.commit()
    return JobResult(job=name, day=body.day, summary=f"{name} {body.day}: {added} entries added", entries=added)


@router.post("/jobs/accrue", response_model=JobResult, tags=["jobs"])
async def run_accrue(body: JobRun, request: Request, caller: ManageLeave) -> JobResult:
    """Run the monthly accrual for the month of ``day`` (again: adds nothing)."""
    return await _run_job("accrue", jobs.accrue, body, request, caller)


@router.post("/jobs/carry-forward", response_model=JobResult, tags=["jobs"])
async def run_carry_forward(body: JobRun, request: Request, caller: ManageLeave) -> JobResult:
    """Carry the balances of the year before ``day``'s into its year (capped; once)."""
    return await _run_job("carry_forward", jobs.carry_forward, body, request, caller)


@router.post("/jobs/expire", response_model=JobResult, tags=["jobs"])
async def run_expire(body: JobRun, request: Request, caller: ManageLeave) -> JobResult:
    """Expire the carried-forward days unused by their expiry, as of ``day``."""
    return await _run_job("expire", jobs.expire, body, request, caller)


@router.post("/jobs/rebuild-balances", response_model=JobResult, tags=["jobs"])
async def run_rebuild(body: JobRun, request: Request, caller: ManageLeave) -> JobResult:
    """Check ``leave_balances`` against the ledger and rebuild it (``entries``: the
    rows that disagreed)."""
    company = check_tenant(caller, body.company_id)
    async with TenantData(request, caller).uow() as uow:
        bad, written = await jobs.rebuild_balances(uow.session, company)
        await uow.commit()
    summary = f"rebuild_balances: {bad} rows disagreed with the ledger; {written} rebuilt"
    return JobResult(job="rebuild_balances", day=body.day, summary=summary, entries=bad)
