"""The contract service (issue 19): employees' employment contracts, their change
history, their life (draft, scheduled, active, ended, terminated) and the daily job
that starts, supersedes and ends them. Keeps the employees it needs
(``contract_employees``) from employee events."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from isles import Service

if TYPE_CHECKING:
    from fastapi import APIRouter


def _api() -> APIRouter:
    from hrms.services.contract.api import router

    return router


def build() -> Service:
    from hrms.services.contract.events import PUBLISHES
    from hrms.services.contract.handlers import HANDLERS, REPLICAS
    from hrms.services.contract.jobs import JOBS
    from hrms.services.contract.models import metadata

    return Service(
        name="contract",
        metadata=metadata,
        router=_api,
        migrations=Path(__file__).parent / "migrations",
        publishes=PUBLISHES,
        handlers=HANDLERS,
        replicas=REPLICAS,
        jobs=JOBS,
        description="Employment contracts: terms, history, activation, supersession and endings.",
    )
