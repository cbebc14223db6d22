"""The company service: companies, their settings and departments (seed 001), teams
and team memberships (seed 004), and the headcount, kept from employee events."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from isles import Resend, Service

if TYPE_CHECKING:
    from fastapi import APIRouter


def _api() -> APIRouter:
    from hrms.services.company.api import router

    return router


def build() -> Service:
    from hrms.services.company.events import PUBLISHES, department_updated
    from hrms.services.company.handlers import HANDLERS, REPLICAS
    from hrms.services.company.models import Department, metadata
    from hrms.services.company.service import DEPARTMENT

    return Service(
        name="company",
        metadata=metadata,
        router=_api,
        migrations=Path(__file__).parent / "migrations",
        publishes=PUBLISHES,
        handlers=HANDLERS,
        replicas=REPLICAS,
        # isles audit --repair: a department's whole state is a DepartmentUpdated.
        resend=(Resend(model=Department, aggregate_type=DEPARTMENT, event=lambda d: department_updated(d, [])),),
        # Checks of managers and team members with the employee service.
        permissions=("employees:read",),
        description="Companies, settings, departments, teams, headcount. Owns the company_service database.",
    )
