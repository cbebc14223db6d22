"""The leave service (issue 17): leave types, a company's work week and holidays,
balances kept as an append-only ledger, requests and their approval, and the jobs
that accrue, carry forward and expire days. Keeps the employees it needs
(``leave_request_users``) from employee events."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from isles import Service

if TYPE_CHECKING:
    from fastapi import APIRouter


def _api() -> APIRouter:
    from hrms.services.leave.api import router

    return router


def build() -> Service:
    from hrms.services.leave.events import PUBLISHES
    from hrms.services.leave.handlers import HANDLERS, REPLICAS
    from hrms.services.leave.jobs import JOBS
    from hrms.services.leave.models import metadata

    return Service(
        name="leave",
        metadata=metadata,
        router=_api,
        migrations=Path(__file__).parent / "migrations",
        publishes=PUBLISHES,
        handlers=HANDLERS,
        replicas=REPLICAS,
        jobs=JOBS,
        description="Leave types, calendars, balances (a ledger), requests and approvals.",
    )
