"""Employee use cases. Each takes what it needs by keyword; routes stay thin."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.contracts.employee import AGGREGATE
from hrms.services.employee import events
from hrms.services.employee.models import Employee
from hrms.services.employee.schemas import EmployeeCreate
from isles.events import Event
from isles.problems import Problem, conflict, not_found
from isles.uow import UnitOfWork

# Which request field a unique constraint protects, to name it in a 409.
_UNIQUE_FIELDS = {"uq_employees_email": "email", "uq_employees_employee_id": "employee_number"}


def _emit(uow: UnitOfWork, employee: Employee, event: Event) -> None:
    uow.emit(event, aggregate=employee, aggregate_type=AGGREGATE, tenant_id=str(employee.company_id))


async def _check_unique(
    session: AsyncSession, *, email: str | None, number: str | None, exclude: uuid.UUID | None
) -> None:
    if email is not None:
        q = select(Employee.id).where(Employee.email == email)
        if exclude is not None:
            q = q.where(Employee.id != exclude)
        if await session.scalar(q):
            raise conflict("email", f"an employee with email {email} already exists")
    if number is not None and await session.scalar(select(Employee.id).where(Employee.employee_id == number)):
        raise conflict("employee_number", f"employee number {number} is already taken")


async def _commit(uow: UnitOfWork) -> None:
    try:
        await uow.commit()
    except IntegrityError as exc:  # a concurrent writer won the race to a unique value
        text = str(exc.orig)
        field = next((f for c, f in _UNIQUE_FIELDS.items() if c in text), None)
        if field is None:
            field = "email" if "email" in text else "employee_number"
        raise conflict(field, f"{field} is already taken") from exc


async def create_employee(
    *,
    uow: UnitOfWork,
    data: EmployeeCreate,
    user_id: uuid.UUID,
    employee_id: uuid.UUID | None = None,
    pending: bool = False,
) -> Employee:
    """Add an employee. A ``pending`` one (a saga's step) stays invisible and publishes
    nothing until :func:`activate_employee`; otherwise EmployeeCreated goes out now."""
    session = uow.session
    await _check_unique(session, email=data.email, number=data.employee_number, exclude=None)
    employee = Employee(
        id=employee_id or uuid.uuid4(),
        employee_id=data.employee_number,
        company_id=data.company_id,
        user_id=user_id,
        first_name=data.first_name,
        last_name=data.last_name,
        email=data.email,
        phone=data.phone,
        position=data.position,
        department_id=data.department_id,
        hire_date=data.hire_date,
        salary=data.salary,
        is_active=True,
        pending=pending,
        version=0,
    )
    session.add(employee)
    if not pending:
        _emit(uow, employee, events.created(employee))
    await _commit(uow)
    return employee


async def activate_employee(*, uow: UnitOfWork, employee_id: uuid.UUID) -> Employee:
    """Make a pending employee visible and publish EmployeeCreated (once)."""
    employee = await uow.session.get(Employee, employee_id, with_for_update=True)
    if employee is None:
        raise not_found("employee", employee_id)
    if employee.pending:
        employee.pending = False
        _emit(uow, employee, events.created(employee))
        await uow.commit()
    return employee


async def remove_pending_employee(*, uow: UnitOfWork, employee_id: uuid.UUID) -> None:
    """Undo a pending employee (a compensation): it was never visible nor published."""
    employee = await uow.session.get(Employee, employee_id, with_for_update=True)
    if employee is not None and employee.pending:
        await uow.session.delete(employee)
        await uow.commit()


async def _load_for_update(session: AsyncSession, employee_id: uuid.UUID) -> Employee:
    employee = await session.get(Employee, employee_id, with_for_update=True)
    if employee is None or employee.pending:
        raise not_found("employee", employee_id)
    return employee


async def update_employee(*, uow: UnitOfWork, employee_id: uuid.UUID, changes: Mapping[str, object]) -> Employee:
    session = uow.session
    employee = await _load_for_update(session, employee_id)
    if not employee.is_active:
        raise Problem(409, f"employee {employee_id} is deactivated and cannot be changed", slug="employee-inactive")
    changed = [k for k, v in changes.items() if getattr(employee, k) != v]
    if not changed:
        return employee
    if "email" in changed:
        await _check_unique(session, email=str(changes["email"]), number=None, exclude=employee.id)
    for key in changed:
        setattr(employee, key, changes[key])
    _emit(uow, employee, events.updated(employee, changed))
    await _commit(uow)
    return employee


async def deactivate_employee(*, uow: UnitOfWork, employee_id: uuid.UUID) -> Employee:
    """Deactivate; deactivating an inactive employee changes nothing and emits nothing."""
    employee = await _load_for_update(uow.session, employee_id)
    if employee.is_active:
        employee.is_active = False
        _emit(uow, employee, events.deactivated(employee))
        await uow.commit()
    return employee


async def get_employee(*, session: AsyncSession, employee_id: uuid.UUID) -> Employee:
    employee = await session.get(Employee, employee_id)
    if employee is None or employee.pending:
        raise not_found("employee", employee_id)
    return employee


async def list_employees(
    *,
    session: AsyncSession,
    limit: int,
    offset: int,
    company_id: uuid.UUID | None = None,
    is_active: bool | None = None,
    user_id: uuid.UUID | None = None,
) -> tuple[list[Employee], int]:
    q = select(Employee).where(Employee.pending.is_(False))
    if user_id is not None:
        q = q.where(Employee.user_id == user_id)
    if company_id is not None:
        q = q.where(Employee.company_id == company_id)
    if is_active is not None:
        q = q.where(Employee.is_active == is_active)
    total = await session.scalar(select(func.count()).select_from(q.subquery()))
    rows = await session.scalars(
        q.order_by(Employee.last_name, Employee.first_name, Employee.id).limit(limit).offset(offset)
    )
    return list(rows), int(total or 0)
