"""The presence service (issue 17): places and NFC tags, check-ins and check-outs
(web, mobile with a location, NFC), shifts, and the daily attendance computed from
them; keeps its employees (CheckinUserInfo) from employee events and approved leave
from leave events."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from isles import Service

if TYPE_CHECKING:
    from fastapi import APIRouter


def _api() -> APIRouter:
    from hrms.services.presence.api import router

    return router


def build() -> Service:
    from hrms.contracts.presence import AttendanceMarked
    from hrms.services.presence.compute import JOBS
    from hrms.services.presence.handlers import HANDLERS, REPLICAS
    from hrms.services.presence.models import metadata

    return Service(
        name="presence",
        metadata=metadata,
        router=_api,
        migrations=Path(__file__).parent / "migrations",
        publishes=(AttendanceMarked,),
        handlers=HANDLERS,
        replicas=REPLICAS,
        jobs=JOBS,
        description="Check-ins (web, mobile, NFC), shifts and daily attendance. Keeps employees and approved leave.",
    )
