"""The tasks service (issue 17, seed 004): tasks of a company, made by and given to its
employees, with statuses and priorities; keeps its own copy of the employees
(``task_users``) from employee events, and marks a deactivated employee's open tasks
for reassignment."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from isles import Service

if TYPE_CHECKING:
    from fastapi import APIRouter


def _api() -> APIRouter:
    from hrms.services.tasks.api import router

    return router


def build() -> Service:
    from hrms.services.tasks.events import PUBLISHES
    from hrms.services.tasks.handlers import HANDLERS, REPLICAS
    from hrms.services.tasks.models import metadata

    return Service(
        name="tasks",
        metadata=metadata,
        router=_api,
        migrations=Path(__file__).parent / "migrations",
        publishes=PUBLISHES,
        handlers=HANDLERS,
        replicas=REPLICAS,
        description="Tasks: made by and given to a company's employees. Keeps its copy of the employees "
        "from employee events; a deactivated employee's open tasks wait for a new assignee.",
    )
