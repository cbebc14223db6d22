"""HTTP routes of the presence service (mounted at ``/api/presence``).

Ids of this service's own records (places, tags, check-ins, shifts) travel in bodies
and query parameters; paths carry only company and employee ids."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from hrms.services.presence import compute, service
from hrms.services.presence.deps import CheckIn, ManagePresence, ReadPresence, check_employee, myself, scope
from hrms.services.presence.models import AttendanceDay, Checkin, CheckinUserInfo, NfcTag, Place, Shift, ShiftAssignment
from hrms.services.presence.schemas import (
    AttendanceDayView,
    CheckinCreate,
    CheckinView,
    ComputeRequest,
    ComputeView,
    CorrectionCreate,
    NfcScan,
    PlaceCreate,
    PlaceUpdate,
    PlaceView,
    SettingsUpdate,
    SettingsView,
    ShiftAssignmentCreate,
    ShiftAssignmentView,
    ShiftCreate,
    ShiftView,
    TagCreate,
    TagUpdate,
    TagView,
)
from isles import FieldError, Listing, Page, Principal, TenantData, check_tenant, invalid, not_found, utcnow

router = APIRouter()

_CONFLICT: dict[int | str, dict[str, Any]] = {409: {"description": "The company has one of that name already."}}
_NO_EMPLOYEE: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such employee, or not one the caller may read."}
}


def _company(caller: Principal, company_id: uuid.UUID) -> uuid.UUID:
    """A company in a path: the caller's own (any, for the operator); else 404."""
    if caller.tenant is not None and caller.tenant != company_id:
        raise not_found("company", company_id)
    return company_id


def _settings_view(s: Any) -> SettingsView:
    return SettingsView(
        company_id=s.company_id, enforce_geofence=s.enforce_geofence, timezone=s.timezone, version=s.version
    )


@router.get("/companies/{company_id}/settings", response_model=SettingsView, tags=["settings"])
async def get_settings(company_id: uuid.UUID, request: Request, caller: ReadPresence) -> SettingsView:
    """The company's presence rules (the defaults until an admin sets them)."""
    _company(caller, company_id)
    async with TenantData(request, caller).read() as session:
        return _settings_view(await service.get_settings(session=session, company_id=company_id))


@router.put("/companies/{company_id}/settings", response_model=SettingsView, tags=["settings"])
async def put_settings(
    company_id: uuid.UUID, body: SettingsUpdate, request: Request, caller: ManagePresence
) -> SettingsView:
    """Set the company's presence rules: geofence enforcement and its time zone."""
    _company(caller, company_id)
    async with TenantData(request, caller).uow() as uow:
        return _settings_view(await service.put_settings(uow=uow, company_id=company_id, data=body))


# -- places ----------------------------------------------------------------------------

PlaceList = Annotated[Listing, Depends(service.PLACES.dependency)]


@router.post("/places", status_code=201, response_model=PlaceView, tags=["places"], responses=_CONFLICT)
async def create_place(body: PlaceCreate, request: Request, caller: ManagePresence) -> PlaceView:
    """A place of the company, with an optional geofence (coordinates and radius)."""
    company_id = check_tenant(caller, body.company_id)
    async with TenantData(request, caller).uow() as uow:
        return PlaceView.model_validate(await service.create_place(uow=uow, company_id=company_id, data=body))


@router.patch("/places", response_model=PlaceView, tags=["places"], responses=_CONFLICT)
async def update_place(body: PlaceUpdate, request: Request, caller: ManagePresence) -> PlaceView:
    """Rename a place (``id`` in the body) or replace its geofence."""
    async with TenantData(request, caller).uow() as uow:
        return PlaceView.model_validate(await service.update_place(uow=uow, data=body))


@router.get("/places", response_model=Page[PlaceView], tags=["places"])
async def list_places(request: Request, caller: ReadPresence, listing: PlaceList) -> Page[PlaceView]:
    async with TenantData(request, caller).read() as session:
        rows, total, cursor = await listing.fetch(session, select(Place))
    return listing.page([PlaceView.model_validate(p) for p in rows], total, cursor)


# -- tags --------------------------------------------------------------------------------

TagList = Annotated[Listing, Depends(service.TAGS.dependency)]


@router.post("/tags", status_code=201, response_model=TagView, tags=["tags"], responses=_CONFLICT)
async def create_tag(body: TagCreate, request: Request, caller: ManagePresence) -> TagView:
    """Register an NFC tag at a place; its ``uid`` is unique in the company."""
    company_id = check_tenant(caller, body.company_id)
    async with TenantData(request, caller).uow() as uow:
        return TagView.model_validate(await service.create_tag(uow=uow, company_id=company_id, data=body))


@router.patch("/tags", response_model=TagView, tags=["tags"])
async def update_tag(body: TagUpdate, request: Request, caller: ManagePresence) -> TagView:
    """Deactivate or reactivate a tag (``id`` in the body), move it, relabel it."""
    async with TenantData(request, caller).uow() as uow:
        return TagView.model_validate(await service.update_tag(uow=uow, data=body))


@router.get("/tags", response_model=Page[TagView], tags=["tags"])
async def list_tags(request: Request, caller: ManagePresence, listing: TagList) -> Page[TagView]:
    async with TenantData(request, caller).read() as session:
        rows, total, cursor = await listing.fetch(session, select(NfcTag))
    return listing.page([TagView.model_validate(t) for t in rows], total, cursor)


# -- check-ins -------------------------------------------------------------------------------

CheckinList = Annotated[Listing, Depends(service.CHECKINS.dependency)]


@router.post("/checkins", status_code=201, response_model=CheckinView, tags=["checkins"])
async def check_in(body: CheckinCreate, request: Request, caller: CheckIn) -> CheckinView:
    """Check oneself in or out, from the web or a mobile client (with a location).
    With geofences enforced, a check-in names a place and, at a geofenced place, a
    location inside it (else 422 naming ``place_id`` or ``location``)."""
    async with TenantData(request, caller).uow() as uow:
        employee = await myself(uow.session, caller)
        return CheckinView.model_validate(await service.check_in(uow=uow, employee=employee, data=body))


@router.post(
    "/checkins/nfc",
    status_code=201,
    response_model=CheckinView,
    tags=["checkins"],
    responses={404: {"description": "No such tag in the caller's company (errors name tag_uid)."}},
)
async def nfc_scan(body: NfcScan, request: Request, caller: CheckIn) -> CheckinView:
    """Check oneself in or out by scanning a tag: an unknown tag is 404, a deactivated
    one 422, both naming ``tag_uid``. Without ``kind``, a scan toggles (in, then out)."""
    async with TenantData(request, caller).uow() as uow:
        employee = await myself(uow.session, caller)
        row = await service.nfc_scan(uow=uow, employee=employee, tag_uid=body.tag_uid, kind=body.kind)
        return CheckinView.model_validate(row)


@router.post("/checkins/corrections", status_code=201, response_model=CheckinView, tags=["checkins"])
async def correct(body: CorrectionCreate, request: Request, caller: ManagePresence) -> CheckinView:
    """Correct a record (a new record pointing at it: its right kind and time, or
    void), or add a missing one (no ``corrects_id``). Records are never changed."""
    async with TenantData(request, caller).uow() as uow:
        company_id = caller.tenant
        if company_id is None:  # the operator: the employee's company
            employee = await uow.session.get(CheckinUserInfo, body.employee_id)
            company_id = employee.company_id if employee is not None else None
        if company_id is None:
            raise invalid([FieldError("employee_id", f"employee {body.employee_id} does not exist", "not_found")])
        row = await service.correct(uow=uow, company_id=company_id, caller=caller, data=body)
        return CheckinView.model_validate(row)


@router.get("/checkins", response_model=Page[CheckinView], tags=["checkins"], responses=_NO_EMPLOYEE)
async def list_checkins(
    request: Request,
    caller: ReadPresence,
    listing: CheckinList,
    employee_id: Annotated[uuid.UUID | None, Query()] = None,
    since: Annotated[datetime | None, Query(alias="from", description="From this instant on.")] = None,
    until: Annotated[datetime | None, Query(alias="to", description="Before this instant.")] = None,
) -> Page[CheckinView]:
    """Check-ins and corrections the caller may read (oneself; a manager's reports;
    an admin: the company's), in time order."""
    async with TenantData(request, caller).read() as session:
        if employee_id is not None:
            await check_employee(session, caller, employee_id)
        where = service.checkins_where(employee_id=employee_id, start=since, end=until)
        condition = await scope(session, caller, Checkin.employee_id)
        if condition is not None:
            where = where.where(condition)
        rows, total, cursor = await listing.fetch(session, where)
    return listing.page([CheckinView.model_validate(c) for c in rows], total, cursor)


# -- shifts ------------------------------------------------------------------------------------

ShiftList = Annotated[Listing, Depends(service.SHIFTS.dependency)]
AssignmentList = Annotated[Listing, Depends(service.SHIFT_ASSIGNMENTS.dependency)]


@router.post("/shifts", status_code=201, response_model=ShiftView, tags=["shifts"], responses=_CONFLICT)
async def create_shift(body: ShiftCreate, request: Request, caller: ManagePresence) -> ShiftView:
    """A shift type: its hours (the company's local time), weekdays, graces and the
    half-day threshold."""
    company_id = check_tenant(caller, body.company_id)
    async with TenantData(request, caller).uow() as uow:
        shift = await service.create_shift(uow=uow, company_id=company_id, data=body)
        return ShiftView(**service.shift_view_data(shift))


@router.get("/shifts", response_model=Page[ShiftView], tags=["shifts"])
async def list_shifts(request: Request, caller: ReadPresence, listing: ShiftList) -> Page[ShiftView]:
    async with TenantData(request, caller).read() as session:
        rows, total, cursor = await listing.fetch(session, select(Shift))
    return listing.page([ShiftView(**service.shift_view_data(s)) for s in rows], total, cursor)


@router.post("/shift-assignments", status_code=201, response_model=ShiftAssignmentView, tags=["shifts"])
async def assign_shift(body: ShiftAssignmentCreate, request: Request, caller: ManagePresence) -> ShiftAssignmentView:
    """Give an employee a shift from ``start_date`` (to ``end_date``). Where two
    overlap, the one that starts latest decides."""
    company_id = check_tenant(caller, body.company_id)
    async with TenantData(request, caller).uow() as uow:
        row = await service.assign_shift(uow=uow, company_id=company_id, data=body)
        return ShiftAssignmentView.model_validate(row)


@router.get("/shift-assignments", response_model=Page[ShiftAssignmentView], tags=["shifts"], responses=_NO_EMPLOYEE)
async def list_shift_assignments(
    request: Request,
    caller: ReadPresence,
    listing: AssignmentList,
    employee_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Page[ShiftAssignmentView]:
    async with TenantData(request, caller).read() as session:
        where = select(ShiftAssignment)
        if employee_id is not None:
            await check_employee(session, caller, employee_id)
            where = where.where(ShiftAssignment.employee_id == employee_id)
        condition = await scope(session, caller, ShiftAssignment.employee_id)
        if condition is not None:
            where = where.where(condition)
        rows, total, cursor = await listing.fetch(session, where)
    return listing.page([ShiftAssignmentView.model_validate(a) for a in rows], total, cursor)


# -- attendance days ----------------------------------------------------------------------------

DayList = Annotated[Listing, Depends(service.DAYS.dependency)]


@router.post("/days/compute", response_model=ComputeView, tags=["attendance"])
async def compute_day(body: ComputeRequest, request: Request, caller: ManagePresence) -> ComputeView:
    """Compute (again) the company's attendance of ``day``: its rows for that day are
    replaced as a whole; computing twice gives the same rows."""
    company_id = check_tenant(caller, body.company_id)
    async with TenantData(request, caller).uow() as uow:
        done = await compute.compute_company_day(uow=uow, company_id=company_id, day=body.day)
    return ComputeView(company_id=company_id, day=body.day, rows=done.rows, by_status=done.by_status)


@router.get("/days", response_model=Page[AttendanceDayView], tags=["attendance"])
async def company_day(
    request: Request,
    caller: ReadPresence,
    listing: DayList,
    day: Annotated[date | None, Query(description="Default: yesterday (UTC).")] = None,
    status_: Annotated[str | None, Query(alias="status", pattern="^(present|half_day|absent|on_leave)$")] = None,
) -> Page[AttendanceDayView]:
    """The company's attendance of a day, as far as the caller may read it."""
    wanted = day or (utcnow() - timedelta(days=1)).date()
    async with TenantData(request, caller).read() as session:
        where = select(AttendanceDay).where(AttendanceDay.day == wanted)
        if status_ is not None:
            where = where.where(AttendanceDay.status == status_)
        condition = await scope(session, caller, AttendanceDay.employee_id)
        if condition is not None:
            where = where.where(condition)
        rows, total, cursor = await listing.fetch(session, where)
    return listing.page([AttendanceDayView.model_validate(d) for d in rows], total, cursor)


@router.get("/employees/{employee_id}/days", response_model=Page[AttendanceDayView], tags=["attendance"])
async def employee_days(
    employee_id: uuid.UUID,
    request: Request,
    caller: ReadPresence,
    listing: DayList,
    since: Annotated[date | None, Query(alias="from")] = None,
    until: Annotated[date | None, Query(alias="to", description="Inclusive.")] = None,
) -> Page[AttendanceDayView]:
    """An employee's attendance days (oneself; a manager: their reports'; an admin: anyone's)."""
    async with TenantData(request, caller).read() as session:
        await check_employee(session, caller, employee_id)
        where = select(AttendanceDay).where(AttendanceDay.employee_id == employee_id)
        if since is not None:
            where = where.where(AttendanceDay.day >= since)
        if until is not None:
            where = where.where(AttendanceDay.day <= until)
        rows, total, cursor = await listing.fetch(session, where)
    return listing.page([AttendanceDayView.model_validate(d) for d in rows], total, cursor)


@router.get("/employees/{employee_id}/checkins", response_model=Page[CheckinView], tags=["checkins"])
async def employee_checkins(
    employee_id: uuid.UUID, request: Request, caller: ReadPresence, listing: CheckinList
) -> Page[CheckinView]:
    """An employee's check-ins and corrections (the same scope as their days)."""
    async with TenantData(request, caller).read() as session:
        await check_employee(session, caller, employee_id)
        rows, total, cursor = await listing.fetch(session, select(Checkin).where(Checkin.employee_id == employee_id))
    return listing.page([CheckinView.model_validate(c) for c in rows], total, cursor)
