"""Presence use cases: settings, places, tags, check-ins (append-only), corrections,
shifts and their assignments."""

from __future__ import annotations

import math
import uuid
from datetime import datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.services.presence.attendance import day_bounds
from hrms.services.presence.compute import zone_of
from hrms.services.presence.models import (
    AttendanceDay,
    Checkin,
    CheckinUserInfo,
    NfcTag,
    Place,
    PresenceSettings,
    Shift,
    ShiftAssignment,
)
from hrms.services.presence.schemas import (
    CheckinCreate,
    CorrectionCreate,
    PlaceCreate,
    PlaceUpdate,
    SettingsUpdate,
    ShiftAssignmentCreate,
    ShiftCreate,
    TagCreate,
    TagUpdate,
)
from isles import FieldError, ListSpec, Principal, Problem, UniqueViolation, UnitOfWork, conflict, invalid, utcnow

EARTH_RADIUS_M = 6_371_008.8
#: At most this much of a device's reported inaccuracy is given the benefit of the doubt.
MAX_ACCURACY_ALLOWANCE_M = 100


def _bad(field: str, message: str, code: str = "invalid") -> Problem:
    return invalid([FieldError(field, message, code)])


# -- settings -------------------------------------------------------------------------


async def get_settings(*, session: AsyncSession, company_id: uuid.UUID) -> PresenceSettings:
    found = await session.get(PresenceSettings, company_id)
    return found or PresenceSettings(company_id=company_id, enforce_geofence=False, timezone="UTC", version=0)


async def put_settings(*, uow: UnitOfWork, company_id: uuid.UUID, data: SettingsUpdate) -> PresenceSettings:
    row = await uow.session.get(PresenceSettings, company_id, with_for_update=True)
    if row is None:
        row = PresenceSettings(company_id=company_id, version=0)
        uow.session.add(row)
    row.enforce_geofence = data.enforce_geofence
    row.timezone = data.timezone
    row.version = (row.version or 0) + 1
    await uow.commit()
    return row


# -- places and tags --------------------------------------------------------------------


async def _commit_unique(uow: UnitOfWork, field: str, value: object) -> None:
    try:
        await uow.commit()
    except UniqueViolation as exc:
        raise conflict(field, f"the company has one with {field} {value!r} already") from exc


async def create_place(*, uow: UnitOfWork, company_id: uuid.UUID, data: PlaceCreate) -> Place:
    if await uow.session.scalar(select(Place.id).where(Place.company_id == company_id, Place.name == data.name)):
        raise conflict("name", f"the company has a place named {data.name!r} already")
    place = Place(
        id=uuid.uuid4(),
        company_id=company_id,
        name=data.name,
        latitude=data.latitude,
        longitude=data.longitude,
        radius_m=data.radius_m,
        version=0,
    )
    uow.session.add(place)
    await _commit_unique(uow, "name", data.name)
    return place


async def _place(session: AsyncSession, place_id: uuid.UUID, company_id: uuid.UUID | None) -> Place:
    """The company's place ``place_id``, else 422 naming ``place_id`` (the operator's
    session sees every company: the company is checked too)."""
    place = await session.get(Place, place_id)
    if place is None or place.company_id != company_id:
        raise _bad("place_id", f"place {place_id} does not exist", "not_found")
    return place


async def update_place(*, uow: UnitOfWork, data: PlaceUpdate) -> Place:
    """Change a place's name or geofence (the coordinates and radius are replaced together)."""
    place = await uow.session.get(Place, data.id, with_for_update=True)
    if place is None:
        raise _bad("id", f"place {data.id} does not exist", "not_found")
    if data.name is not None and data.name != place.name:
        taken = select(Place.id).where(Place.company_id == place.company_id, Place.name == data.name)
        if await uow.session.scalar(taken):
            raise conflict("name", f"the company has a place named {data.name!r} already")
        place.name = data.name
    fence = data.model_fields_set & {"latitude", "longitude", "radius_m"}
    if fence:
        place.latitude, place.longitude, place.radius_m = data.latitude, data.longitude, data.radius_m
    place.version += 1
    await _commit_unique(uow, "name", place.name)
    return place


async def create_tag(*, uow: UnitOfWork, company_id: uuid.UUID, data: TagCreate) -> NfcTag:
    await _place(uow.session, data.place_id, company_id)
    if await uow.session.scalar(select(NfcTag.id).where(NfcTag.company_id == company_id, NfcTag.uid == data.uid)):
        raise conflict("uid", f"the company has a tag {data.uid!r} already")
    tag = NfcTag(
        id=uuid.uuid4(),
        company_id=company_id,
        uid=data.uid,
        place_id=data.place_id,
        label=data.label,
        is_active=True,
        version=0,
    )
    uow.session.add(tag)
    await _commit_unique(uow, "uid", data.uid)
    return tag


async def update_tag(*, uow: UnitOfWork, data: TagUpdate) -> NfcTag:
    tag = await uow.session.get(NfcTag, data.id, with_for_update=True)
    if tag is None:
        raise _bad("id", f"tag {data.id} does not exist", "not_found")
    if data.place_id is not None:
        tag.place_id = (await _place(uow.session, data.place_id, tag.company_id)).id
    if data.is_active is not None:
        tag.is_active = data.is_active
    if "label" in data.model_fields_set:
        tag.label = data.label
    tag.version += 1
    await uow.commit()
    return tag


# -- check-ins --------------------------------------------------------------------------


def distance_m(lat1: Decimal, lon1: Decimal, lat2: Decimal, lon2: Decimal) -> float:
    """Great-circle distance (haversine) in metres."""
    p1, p2 = math.radians(float(lat1)), math.radians(float(lat2))
    dp, dl = p2 - p1, math.radians(float(lon2) - float(lon1))
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def check_geofence(place: Place, data: CheckinCreate) -> None:
    """422 naming ``location`` when a geofenced place's check-in has none or is outside."""
    if not place.geofenced:
        return
    assert place.latitude is not None
    assert place.longitude is not None
    assert place.radius_m is not None
    if data.location is None:
        raise _bad("location", f"a check-in at {place.name} needs a location (geofences are enforced)", "missing")
    loc = data.location
    distance = distance_m(place.latitude, place.longitude, loc.latitude, loc.longitude)
    allowance = min(float(loc.accuracy_m or 0), MAX_ACCURACY_ALLOWANCE_M)
    if distance - allowance > place.radius_m:
        raise _bad(
            "location",
            f"{distance:.0f} m from {place.name}, outside its {place.radius_m} m geofence",
            "outside_geofence",
        )


async def check_in(
    *, uow: UnitOfWork, employee: CheckinUserInfo, data: CheckinCreate, at: datetime | None = None
) -> Checkin:
    """Record the caller's check-in or check-out by web or mobile."""
    session = uow.session
    assert employee.company_id is not None
    place = await _place(session, data.place_id, employee.company_id) if data.place_id is not None else None
    settings = await get_settings(session=session, company_id=employee.company_id)
    if settings.enforce_geofence and data.kind == "in":
        if place is None:
            raise _bad("place_id", "say where you check in (geofences are enforced)", "missing")
        check_geofence(place, data)
    loc = data.location
    row = Checkin(
        id=uuid.uuid4(),
        company_id=employee.company_id,
        employee_id=employee.id,
        kind=data.kind,
        at=at or utcnow(),
        source=data.source,
        place_id=place.id if place else None,
        latitude=loc.latitude if loc else None,
        longitude=loc.longitude if loc else None,
        accuracy_m=loc.accuracy_m if loc else None,
        is_void=False,
    )
    session.add(row)
    await uow.commit()
    return row


async def _next_kind(session: AsyncSession, employee: CheckinUserInfo, now: datetime) -> str:
    """out if the employee's last in/out of their local day is an in, else in."""
    assert employee.company_id is not None
    settings = await get_settings(session=session, company_id=employee.company_id)
    start, _ = day_bounds(now.astimezone(zone_of(settings.timezone)).date(), zone_of(settings.timezone))
    last = await session.scalar(
        select(Checkin.kind)
        .where(Checkin.employee_id == employee.id, Checkin.kind != "correction", Checkin.at >= start)
        .order_by(Checkin.at.desc(), Checkin.created_at.desc())
        .limit(1)
    )
    return "out" if last == "in" else "in"


async def nfc_scan(
    *, uow: UnitOfWork, employee: CheckinUserInfo, tag_uid: str, kind: str | None, at: datetime | None = None
) -> Checkin:
    """Record a scan of the tag ``tag_uid`` (of the caller's company) by the caller."""
    session = uow.session
    tag = await session.scalar(select(NfcTag).where(NfcTag.uid == tag_uid, NfcTag.company_id == employee.company_id))
    if tag is None:
        error = FieldError("tag_uid", f"no tag {tag_uid!r} is registered", "not_found")
        raise Problem(404, f"tag {tag_uid!r} does not exist", slug="not-found", errors=[error])
    if not tag.is_active:
        raise _bad("tag_uid", f"tag {tag_uid!r} is deactivated", "inactive")
    now = at or utcnow()
    assert employee.company_id is not None
    row = Checkin(
        id=uuid.uuid4(),
        company_id=employee.company_id,
        employee_id=employee.id,
        kind=kind or await _next_kind(session, employee, now),
        at=now,
        source="nfc",
        place_id=tag.place_id,
        tag_id=tag.id,
        is_void=False,
    )
    session.add(row)
    await uow.commit()
    return row


async def correct(*, uow: UnitOfWork, company_id: uuid.UUID, caller: Principal, data: CorrectionCreate) -> Checkin:
    """A correction: a new record; the corrected one stays as it was."""
    session = uow.session
    employee = await session.get(CheckinUserInfo, data.employee_id)
    if employee is None or employee.company_id != company_id:
        raise _bad("employee_id", f"employee {data.employee_id} does not exist", "not_found")
    at, kind = data.at, data.kind
    if data.corrects_id is not None:
        target = await session.get(Checkin, data.corrects_id)
        if target is None or target.employee_id != employee.id:
            raise _bad("corrects_id", f"{data.employee_id} has no record {data.corrects_id}", "not_found")
        if target.kind == "correction":
            raise _bad("corrects_id", "correct the original record, not a correction", "is_correction")
        if data.void:
            at, kind = target.at, None
        else:
            assert at is not None
            settings = await get_settings(session=session, company_id=company_id)
            zone = zone_of(settings.timezone)
            if at.astimezone(zone).date() != target.at.astimezone(zone).date():
                raise _bad("at", "a correction stays on its record's day (add a record for another day)")
    assert at is not None
    row = Checkin(
        id=uuid.uuid4(),
        company_id=company_id,
        employee_id=employee.id,
        kind="correction",
        at=at,
        source="admin",
        corrects_id=data.corrects_id,
        corrected_kind=kind,
        is_void=data.void,
        reason=data.reason,
        made_by=caller.identity,
    )
    session.add(row)
    await uow.commit()
    return row


CHECKINS = ListSpec(
    sort={"at": Checkin.at, "created_at": Checkin.created_at},
    default=("at",),
    key=Checkin.id,
)


def checkins_where(*, employee_id: uuid.UUID | None, start: datetime | None, end: datetime | None) -> Select[Any]:
    q = select(Checkin)
    if employee_id is not None:
        q = q.where(Checkin.employee_id == employee_id)
    if start is not None:
        q = q.where(Checkin.at >= start)
    if end is not None:
        q = q.where(Checkin.at < end)
    return q


# -- shifts -------------------------------------------------------------------------------


async def create_shift(*, uow: UnitOfWork, company_id: uuid.UUID, data: ShiftCreate) -> Shift:
    if await uow.session.scalar(select(Shift.id).where(Shift.company_id == company_id, Shift.name == data.name)):
        raise conflict("name", f"the company has a shift named {data.name!r} already")
    shift = Shift(
        id=uuid.uuid4(),
        company_id=company_id,
        name=data.name,
        start_time=time.fromisoformat(data.start_time),
        end_time=time.fromisoformat(data.end_time),
        weekdays="".join(str(d) for d in sorted(set(data.weekdays))),
        late_grace_minutes=data.late_grace_minutes,
        early_grace_minutes=data.early_grace_minutes,
        half_day_minutes=data.half_day_minutes,
        version=0,
    )
    uow.session.add(shift)
    await _commit_unique(uow, "name", data.name)
    return shift


async def assign_shift(*, uow: UnitOfWork, company_id: uuid.UUID, data: ShiftAssignmentCreate) -> ShiftAssignment:
    session = uow.session
    errors = []
    employee = await session.get(CheckinUserInfo, data.employee_id)
    if employee is None or employee.company_id != company_id:
        errors.append(FieldError("employee_id", f"employee {data.employee_id} does not exist", "not_found"))
    shift = await session.get(Shift, data.shift_id)
    if shift is None or shift.company_id != company_id:
        errors.append(FieldError("shift_id", f"shift {data.shift_id} does not exist", "not_found"))
    if errors:
        raise invalid(errors)
    row = ShiftAssignment(
        id=uuid.uuid4(),
        company_id=company_id,
        employee_id=data.employee_id,
        shift_id=data.shift_id,
        start_date=data.start_date,
        end_date=data.end_date,
    )
    session.add(row)
    await uow.commit()
    return row


PLACES = ListSpec(
    sort={"name": Place.name, "created_at": Place.created_at}, default=("name",), key=Place.id, search=(Place.name,)
)
TAGS = ListSpec(
    sort={"uid": NfcTag.uid, "created_at": NfcTag.created_at}, default=("uid",), key=NfcTag.id, search=(NfcTag.uid,)
)
SHIFTS = ListSpec(
    sort={"name": Shift.name, "created_at": Shift.created_at}, default=("name",), key=Shift.id, search=(Shift.name,)
)
SHIFT_ASSIGNMENTS = ListSpec(
    sort={"start_date": ShiftAssignment.start_date, "created_at": ShiftAssignment.created_at},
    default=("start_date",),
    key=ShiftAssignment.id,
)
DAYS = ListSpec(
    sort={"day": AttendanceDay.day, "employee_id": AttendanceDay.employee_id, "status": AttendanceDay.status},
    default=("day", "employee_id"),
    key=AttendanceDay.id,
)


def shift_view_data(shift: Shift) -> dict[str, Any]:
    return {
        "id": shift.id,
        "name": shift.name,
        "start_time": shift.start_time.strftime("%H:%M"),
        "end_time": shift.end_time.strftime("%H:%M"),
        "weekdays": [int(d) for d in shift.weekdays],
        "late_grace_minutes": shift.late_grace_minutes,
        "early_grace_minutes": shift.early_grace_minutes,
        "half_day_minutes": shift.half_day_minutes,
        "version": shift.version,
    }
