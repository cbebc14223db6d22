"""The project service: projects, assignments (seed 000) and its employee replicas;
orchestrates the CreateAssignment saga."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from isles import Service

if TYPE_CHECKING:
    from fastapi import APIRouter


def _api() -> APIRouter:
    from hrms.services.project.api import router

    return router


def build() -> Service:
    from hrms.services.project.events import PUBLISHES
    from hrms.services.project.handlers import HANDLERS, REPLICAS
    from hrms.services.project.models import metadata
    from hrms.services.project.sagas import SAGAS

    return Service(
        name="project",
        metadata=metadata,
        router=_api,
        migrations=Path(__file__).parent / "migrations",
        publishes=PUBLISHES,
        handlers=HANDLERS,
        replicas=REPLICAS,
        sagas=SAGAS,
        permissions=("employees:read",),  # CreateAssignment validates the employee
        description="Projects and assignments. Keeps employee names from employee events.",
    )
