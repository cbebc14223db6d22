"""Request and response bodies of the presence API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from hrms.contracts import examples as ex
from isles import field_error

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Latitude = Annotated[Decimal, Field(ge=-90, le=90, max_digits=9, decimal_places=6, examples=["52.520008"])]
Longitude = Annotated[Decimal, Field(ge=-180, le=180, max_digits=9, decimal_places=6, examples=["13.404954"])]
Radius = Annotated[int, Field(ge=1, le=100_000, description="Geofence radius in metres.", examples=[150])]
Minutes = Annotated[int, Field(ge=0, le=720)]
Kind = Literal["in", "out"]
#: A local time of day, HH:MM (no zone: the company's).
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
CompanyId = Field(default=None, description="Default: the caller's company.", examples=[ex.COMPANY_ID])
PLACE_ID = "3f6d2c1a-1b7e-4a35-9c61-0d7f8a2b4c10"
TAG_ID = "8a1e5b2c-4d3f-4e6a-9b7c-1f2e3d4c5b6a"
SHIFT_ID = "5c7e9a1b-3d5f-4b7d-8f1a-2c4e6a8b0d13"
SHIFT_ASSIGNMENT_ID = "a6b8c0d2-e4f6-4a8b-9c0d-1e2f3a4b5c6d"
CHECKIN_ID = "1f3a5c7e-9b2d-4f6a-8c0e-2d4f6b8a0c25"
ATTENDANCE_DAY_ID = "7d9f1b3d-5f7a-4c9e-b1d3-5f7a9c1e3b48"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SettingsUpdate(_Body):
    enforce_geofence: bool = Field(
        default=False, description="Refuse web and mobile check-ins outside the place's geofence."
    )
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        default="UTC", description="IANA time zone of the company's days and shift times.", examples=["Europe/Berlin"]
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class SettingsView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"company_id": ex.COMPANY_ID, "enforce_geofence": True, "timezone": "Europe/London", "version": 2}
            ]
        }
    )

    company_id: uuid.UUID
    enforce_geofence: bool
    timezone: str
    version: int


class _Geofence(_Body):
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    radius_m: Radius | None = None

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if (self.latitude is None) != (self.longitude is None):
            raise field_error(
                "longitude" if self.longitude is None else "latitude", "give latitude and longitude together"
            )
        if self.radius_m is not None and self.latitude is None:
            raise field_error("radius_m", "a radius needs latitude and longitude")
        return self


class PlaceCreate(_Geofence):
    company_id: uuid.UUID | None = CompanyId
    name: Name = Field(examples=["Head office"])


class PlaceUpdate(_Geofence):
    id: uuid.UUID = Field(description="The place to change.", examples=[PLACE_ID])
    name: Name | None = Field(default=None, examples=["Head office"])


class PlaceView(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": PLACE_ID,
                    "company_id": ex.COMPANY_ID,
                    "name": "Head office",
                    "latitude": "51.520800",
                    "longitude": "-0.099400",
                    "radius_m": 150,
                    "version": 1,
                    "created_at": ex.CREATED_AT,
                }
            ]
        },
    )

    id: uuid.UUID
    company_id: uuid.UUID
    name: str
    latitude: Decimal | None
    longitude: Decimal | None
    radius_m: int | None
    version: int
    created_at: datetime


TagUid = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class TagCreate(_Body):
    company_id: uuid.UUID | None = CompanyId
    uid: TagUid = Field(description="What a reader sees (unique in the company).", examples=["04:A2:3B:1C:5D:80"])
    place_id: uuid.UUID = Field(examples=[PLACE_ID])
    label: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = Field(
        default=None, examples=["Front door"]
    )


class TagUpdate(_Body):
    id: uuid.UUID = Field(description="The tag to change.", examples=[TAG_ID])
    is_active: bool | None = Field(default=None, description="False: scans of it are refused.")
    place_id: uuid.UUID | None = Field(default=None, examples=[PLACE_ID])
    label: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = Field(
        default=None, examples=["Side entrance"]
    )


class TagView(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": TAG_ID,
                    "uid": "04:A2:3B:1C:5D:80",
                    "place_id": PLACE_ID,
                    "label": "Front door",
                    "is_active": True,
                    "version": 1,
                    "created_at": ex.CREATED_AT,
                }
            ]
        },
    )

    id: uuid.UUID
    uid: str
    place_id: uuid.UUID
    label: str | None
    is_active: bool
    version: int
    created_at: datetime


class Location(_Body):
    latitude: Latitude
    longitude: Longitude
    accuracy_m: Annotated[Decimal, Field(ge=0, le=100_000, max_digits=8, decimal_places=2)] | None = Field(
        default=None, description="The device's accuracy, in metres.", examples=["12.5"]
    )


class CheckinCreate(_Body):
    kind: Kind = Field(description="in: check in; out: check out.")
    source: Literal["web", "mobile"] = "web"
    place_id: uuid.UUID | None = Field(default=None, examples=[PLACE_ID])
    location: Location | None = Field(
        default=None, examples=[{"latitude": "51.520800", "longitude": "-0.099400", "accuracy_m": "12.5"}]
    )


class NfcScan(_Body):
    tag_uid: TagUid = Field(examples=["04:A2:3B:1C:5D:80"])
    kind: Kind | None = Field(
        default=None, description="Default: out if the caller's last record today is an in, else in."
    )


class CorrectionCreate(_Body):
    employee_id: uuid.UUID = Field(examples=[ex.EMPLOYEE_ID])
    corrects_id: uuid.UUID | None = Field(
        default=None, description="The record corrected; none: a missing record is added.", examples=[CHECKIN_ID]
    )
    kind: Kind | None = Field(default=None, description="What the record should be (not for a void).")
    at: datetime | None = Field(default=None, description="When (not for a void).", examples=["2026-11-27T17:00:00Z"])
    void: bool = Field(default=False, description="The corrected record did not happen.")
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)] = Field(
        examples=["Forgot to check out"]
    )

    @model_validator(mode="after")
    def _says_what(self) -> Self:
        if self.void:
            if self.corrects_id is None:
                raise field_error("corrects_id", "a void needs the record it voids")
            return self
        if self.kind is None:
            raise field_error("kind", "say what the record should be (in or out), or void it")
        if self.at is None:
            raise field_error("at", "say when")
        if self.at.tzinfo is None:
            raise field_error("at", "give a time zone (e.g. Z)")
        return self


class CheckinView(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "4b6d8f0a-2c4e-4a6c-9e0b-3d5f7a9c1e62",
                    "employee_id": ex.EMPLOYEE_ID,
                    "kind": "correction",
                    "at": "2026-11-27T17:00:00Z",
                    "source": "web",
                    "place_id": PLACE_ID,
                    "tag_id": TAG_ID,
                    "latitude": "51.520800",
                    "longitude": "-0.099400",
                    "accuracy_m": "12.50",
                    "corrects_id": CHECKIN_ID,
                    "corrected_kind": "out",
                    "is_void": False,
                    "reason": "Forgot to check out",
                    "made_by": ex.USER_ID,
                    "created_at": "2026-11-28T08:45:00Z",
                }
            ]
        },
    )

    id: uuid.UUID
    employee_id: uuid.UUID
    kind: str
    at: datetime
    source: str
    place_id: uuid.UUID | None
    tag_id: uuid.UUID | None
    latitude: Decimal | None
    longitude: Decimal | None
    accuracy_m: Decimal | None
    corrects_id: uuid.UUID | None
    corrected_kind: str | None
    is_void: bool
    reason: str | None
    made_by: str | None
    created_at: datetime


class ShiftCreate(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Day",
                    "start_time": "09:00",
                    "end_time": "17:30",
                    "weekdays": [1, 2, 3, 4, 5],
                    "late_grace_minutes": 10,
                    "early_grace_minutes": 5,
                    "half_day_minutes": 240,
                }
            ]
        },
    )

    company_id: uuid.UUID | None = CompanyId
    name: Name = Field(examples=["Day"])
    start_time: ClockTime = Field(default="09:00", description="The company's local time (HH:MM).", examples=["09:00"])
    end_time: ClockTime = Field(
        default="17:00", description="Local time (HH:MM), after start_time.", examples=["17:30"]
    )
    weekdays: list[Annotated[int, Field(ge=1, le=7)]] = Field(
        default=[1, 2, 3, 4, 5], min_length=1, max_length=7, description="ISO weekdays: 1 Monday .. 7 Sunday."
    )
    late_grace_minutes: Minutes = 0
    early_grace_minutes: Minutes = 0
    half_day_minutes: Annotated[int, Field(ge=1, le=1440)] = Field(
        description="Minutes worked below which a day counts as a half day.", examples=[240]
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end_time <= self.start_time:  # HH:MM strings order as the times do
            raise field_error("end_time", "must be after start_time (shifts end the day they start)")
        return self


class ShiftView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": SHIFT_ID,
                    "name": "Day",
                    "start_time": "09:00",
                    "end_time": "17:30",
                    "weekdays": [1, 2, 3, 4, 5],
                    "late_grace_minutes": 10,
                    "early_grace_minutes": 5,
                    "half_day_minutes": 240,
                    "version": 1,
                }
            ]
        }
    )

    id: uuid.UUID
    name: str
    start_time: ClockTime
    end_time: ClockTime
    weekdays: list[int]
    late_grace_minutes: int
    early_grace_minutes: int
    half_day_minutes: int
    version: int


class ShiftAssignmentCreate(_Body):
    company_id: uuid.UUID | None = CompanyId
    employee_id: uuid.UUID = Field(examples=[ex.EMPLOYEE_ID])
    shift_id: uuid.UUID = Field(examples=[SHIFT_ID])
    start_date: date = Field(examples=["2026-12-01"])
    end_date: date | None = Field(default=None, examples=["2027-05-31"])

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end_date is not None and self.end_date < self.start_date:
            raise field_error("end_date", "must not be before start_date")
        return self


class ShiftAssignmentView(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": SHIFT_ASSIGNMENT_ID,
                    "employee_id": ex.EMPLOYEE_ID,
                    "shift_id": SHIFT_ID,
                    "start_date": "2026-12-01",
                    "end_date": "2027-05-31",
                    "created_at": "2026-11-20T10:15:00Z",
                }
            ]
        },
    )

    id: uuid.UUID
    employee_id: uuid.UUID
    shift_id: uuid.UUID
    start_date: date
    end_date: date | None
    created_at: datetime


class ComputeRequest(_Body):
    company_id: uuid.UUID | None = CompanyId
    day: date = Field(description="The day to compute (the company's local day).", examples=["2026-11-27"])


class ComputeView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "company_id": ex.COMPANY_ID,
                    "day": "2026-11-27",
                    "rows": 42,
                    "by_status": {"present": 36, "half_day": 1, "absent": 2, "on_leave": 3},
                }
            ]
        }
    )

    company_id: uuid.UUID
    day: date
    rows: int
    by_status: dict[str, int]


class AttendanceDayView(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": ATTENDANCE_DAY_ID,
                    "employee_id": ex.EMPLOYEE_ID,
                    "day": "2026-11-27",
                    "status": "half_day",
                    "late": False,
                    "left_early": False,
                    "missing_checkout": False,
                    "leave_part": "afternoon",
                    "shift_id": SHIFT_ID,
                    "first_in": "2026-11-27T08:58:00Z",
                    "last_out": "2026-11-27T13:02:00Z",
                    "worked_minutes": 244,
                    "computed_at": "2026-11-28T02:00:00Z",
                }
            ]
        },
    )

    id: uuid.UUID
    employee_id: uuid.UUID
    day: date
    status: Literal["present", "half_day", "absent", "on_leave"]
    late: bool
    left_early: bool
    missing_checkout: bool
    leave_part: str | None
    shift_id: uuid.UUID | None
    first_in: datetime | None
    last_out: datetime | None
    worked_minutes: int
    computed_at: datetime
