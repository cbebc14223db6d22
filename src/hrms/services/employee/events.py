"""How the employee service turns its rows into the events it publishes."""

from __future__ import annotations

from collections.abc import Sequence

from hrms.contracts.employee import EmployeeCreated, EmployeeDeactivated, EmployeeUpdated
from hrms.services.employee.models import Employee
from isles import utcnow

PUBLISHES = (EmployeeCreated, EmployeeUpdated, EmployeeDeactivated)


def created(e: Employee) -> EmployeeCreated:
    return EmployeeCreated(
        id=e.id,
        employee_number=e.employee_id,
        company_id=e.company_id,
        user_id=e.user_id,
        first_name=e.first_name,
        last_name=e.last_name,
        email=e.email,
        position=e.position,
        department_id=e.department_id,
        manager_id=e.manager_id,
        hire_date=e.hire_date,
        is_active=e.is_active,
    )


def updated(e: Employee, changes: Sequence[str]) -> EmployeeUpdated:
    return EmployeeUpdated(
        id=e.id,
        first_name=e.first_name,
        last_name=e.last_name,
        email=e.email,
        is_active=e.is_active,
        employee_number=e.employee_id,
        company_id=e.company_id,
        position=e.position,
        department_id=e.department_id,
        user_id=e.user_id,
        manager_id=e.manager_id,
        changes=sorted(changes),
    )


def deactivated(e: Employee) -> EmployeeDeactivated:
    return EmployeeDeactivated(
        id=e.id,
        first_name=e.first_name,
        last_name=e.last_name,
        email=e.email,
        is_active=False,
        deactivated_at=utcnow(),
        company_id=e.company_id,
        user_id=e.user_id,
        department_id=e.department_id,
    )
