"""The employee service: employees (seed 001), publishing EmployeeCreated/Updated/Deactivated."""

from __future__ import annotations

from pathlib import Path

from isles.service import Service


def build() -> Service:
    from hrms.services.employee.api import router
    from hrms.services.employee.events import PUBLISHES
    from hrms.services.employee.handlers import HANDLERS
    from hrms.services.employee.models import metadata

    return Service(
        name="employee",
        metadata=metadata,
        router=router,
        migrations=Path(__file__).parent / "migrations",
        publishes=PUBLISHES,
        handlers=HANDLERS,
        description="Employees: who works here. Owns the employee_service database.",
    )
