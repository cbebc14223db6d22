"""The employee service: employees and their profiles (seed 001), managers and
reports (seed 004), publishing EmployeeCreated/Updated/Deactivated; orchestrates the
CreateEmployee saga."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from isles import Resend, Service

if TYPE_CHECKING:
    from fastapi import APIRouter


def _api() -> APIRouter:
    from hrms.services.employee.api import router

    return router


def build() -> Service:
    from hrms.contracts.employee import AGGREGATE
    from hrms.services.employee.events import PUBLISHES, updated
    from hrms.services.employee.handlers import HANDLERS, REPLICAS
    from hrms.services.employee.models import Employee, metadata
    from hrms.services.employee.sagas import SAGAS

    return Service(
        name="employee",
        metadata=metadata,
        router=_api,
        migrations=Path(__file__).parent / "migrations",
        publishes=PUBLISHES,
        handlers=HANDLERS,
        replicas=REPLICAS,
        sagas=SAGAS,
        # isles audit --repair: an employee's whole state is an EmployeeUpdated.
        resend=(Resend(model=Employee, aggregate_type=AGGREGATE, event=lambda e: updated(e, [])),),
        # CreateEmployee's calls: check the company and department, create and activate the user.
        permissions=("companies:read", "users:read", "users:write"),
        description="Employees: who works here. Owns the employee_service database.",
    )
