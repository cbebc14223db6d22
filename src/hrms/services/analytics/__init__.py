"""The analytics service (issue 23, seed 001's Analytics Service): an archive of every
event of every HR service, read models kept from it (CQRS: headcount over time,
turnover), rebuildable from the archive while the system runs; saved reports, their
runs (CSV, SVG chart) and a monthly schedule mailed by the notification service."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from isles import Service

if TYPE_CHECKING:
    from fastapi import APIRouter


def _api() -> APIRouter:
    from hrms.services.analytics.routes import router

    return router


def build() -> Service:
    from hrms.contracts.analytics import ReportReady
    from hrms.services.analytics.archive import ARCHIVE
    from hrms.services.analytics.models import metadata
    from hrms.services.analytics.reports import JOBS

    return Service(
        name="analytics",
        metadata=metadata,
        router=_api,
        migrations=Path(__file__).parent / "migrations",
        archive=ARCHIVE,
        publishes=(ReportReady,),
        jobs=JOBS,
        description="An archive of every event; headcount and turnover over time, rebuilt from it.",
    )
