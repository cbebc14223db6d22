"""Employee use cases. Each takes what it needs by keyword; routes stay thin."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.contracts.contract import ContractActivated, ContractChanged, ContractEnded, ContractTerminated
from hrms.contracts.employee import AGGREGATE
from hrms.services.employee import events
from hrms.services.employee.models import Employee, EmployeeProfile
from hrms.services.employee.schemas import EmployeeCreate, ProfilePut
from isles import (
    ACROSS_TENANTS,
    HISTORY_RECORDED,
    Event,
    FieldError,
    HistoryVersion,
    ListSpec,
    Precondition,
    Problem,
    UniqueViolation,
    UnitOfWork,
    as_of,
    conflict,
    history_of,
    invalid,
    not_found,
    record_change,
    utcnow,
)

# Which request field a unique constraint protects, to name it in a 409.
_UNIQUE_FIELDS = {
    "uq_employees_company_id_email": "email",
    "uq_employees_employee_id_company_id": "employee_number",
}


def _emit(uow: UnitOfWork, employee: Employee, event: Event) -> None:
    uow.emit(event, aggregate=employee, aggregate_type=AGGREGATE, tenant_id=str(employee.company_id))


async def _check_unique(
    session: AsyncSession,
    *,
    company_id: uuid.UUID,
    email: str | None,
    number: str | None,
    exclude: uuid.UUID | None,
) -> None:
    """Refuse a number or an address already used in the company (other companies'
    are none of its business: the keys are unique per company)."""
    mine = select(Employee.id).where(Employee.company_id == company_id)
    if email is not None:
        q = mine.where(Employee.email == email)
        if exclude is not None:
            q = q.where(Employee.id != exclude)
        if await session.scalar(q):
            raise conflict("email", f"an employee with email {email} already exists")
    if number is not None and await session.scalar(mine.where(Employee.employee_id == number)):
        raise conflict("employee_number", f"employee number {number} is already taken")


async def _commit(uow: UnitOfWork) -> None:
    try:
        await uow.commit()
    except UniqueViolation as exc:  # a concurrent writer won the race to a unique value
        raise _taken(exc) from exc


def _taken(exc: UniqueViolation) -> Problem:
    field = _UNIQUE_FIELDS.get(exc.constraint, "email")
    return conflict(field, f"{field} is already taken")


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
    assert data.company_id is not None
    await _check_unique(
        session, company_id=data.company_id, email=data.email, number=data.employee_number, exclude=None
    )
    if data.manager_id is not None:
        assert data.company_id is not None
        await check_manager(session, company_id=data.company_id, employee_id=employee_id, manager_id=data.manager_id)
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
        manager_id=data.manager_id,
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


_employees: Table = Employee.__table__  # type: ignore[assignment]
# Built once: a statement made per call costs more to build and to key for the
# compiled cache than to run.
_LOCK = select(_employees).where(_employees.c.id == bindparam("b_id")).with_for_update()
_LOCK_IN_TENANT = _LOCK.where(_employees.c.company_id == bindparam("b_tenant"))
# The columns to set are the parameters' other keys.
_UPDATE = update(_employees).where(_employees.c.id == bindparam("b_id")).execution_options(**HISTORY_RECORDED)


async def _lock_row(uow: UnitOfWork, employee_id: uuid.UUID) -> tuple[Employee, Mapping[str, Any]]:
    """The employee's row, locked until the transaction ends, as an Employee outside
    the session (nothing is flushed from it); 404 if the unit of work's company has
    no such employee. Core, not the ORM: a rename is one SELECT and one UPDATE. The
    ORM's tenant criteria do not reach Core statements, so the tenant is named here
    (and row-level security checks it again on PostgreSQL)."""
    if uow.tenant is ACROSS_TENANTS:
        row = (await uow.session.execute(_LOCK, {"b_id": employee_id})).first()
    elif isinstance(uow.tenant, uuid.UUID):
        row = (await uow.session.execute(_LOCK_IN_TENANT, {"b_id": employee_id, "b_tenant": uow.tenant})).first()
    else:  # a unit of work of no company sees no company's rows
        row = None
    if row is None or row.pending:
        raise not_found("employee", employee_id)
    return Employee(**row._mapping), dict(row._mapping)


async def update_employee(
    *,
    uow: UnitOfWork,
    employee_id: uuid.UUID,
    changes: Mapping[str, object],
    expected: Precondition | None = None,
) -> Employee:
    """Change fields of an employee; publishes EmployeeUpdated if anything changed.
    ``expected``: the version the caller read (If-Match), checked under the row lock."""
    session = uow.session
    employee, previous = await _lock_row(uow, employee_id)
    if expected is not None:
        expected.check(employee.version, f"employee {employee_id}")
    if not employee.is_active:
        raise Problem(409, f"employee {employee_id} is deactivated and cannot be changed", slug="employee-inactive")
    changed = [k for k, v in changes.items() if getattr(employee, k) != v]
    if not changed:
        return employee
    for key in CONTRACT_TERMS:
        if key in changed and employee.contract_id is not None:
            raise conflict(key, f"{key} is set by the active contract {employee.contract_id}: change the contract")
    if "email" in changed:
        await _check_unique(
            session, company_id=employee.company_id, email=str(changes["email"]), number=None, exclude=employee.id
        )
    new_manager = changes.get("manager_id")
    if "manager_id" in changed and isinstance(new_manager, uuid.UUID):
        await check_manager(session, company_id=employee.company_id, employee_id=employee.id, manager_id=new_manager)
    for key in changed:
        setattr(employee, key, changes[key])
    employee.updated_at = utcnow()
    _emit(uow, employee, events.updated(employee, changed))  # bumps employee.version
    values = {key: changes[key] for key in changed}
    # The version this change ends goes to employees_history (who and why from the
    # request); the new one begins now.
    employee.valid_from = await record_change(session, Employee, previous)
    values["valid_from"] = employee.valid_from
    try:
        await session.execute(
            _UPDATE, {"b_id": employee.id, "updated_at": employee.updated_at, "version": employee.version, **values}
        )
        await uow.commit()
    except UniqueViolation as exc:  # a concurrent writer won the race to a unique value
        raise _taken(exc) from exc
    return employee


#: What the active contract sets on an employee (a PATCH of them is refused meanwhile).
CONTRACT_TERMS = ("position", "salary")


async def follow_contract(
    *, uow: UnitOfWork, event: ContractActivated | ContractChanged, version: int
) -> Employee | None:
    """Take the position and salary of a contract in force, unless what the employee
    has is newer: a later-starting contract's, or a later version of the same one.
    Through the ORM (the row keeps its history); publishes EmployeeUpdated."""
    employee = await uow.session.get(Employee, event.employee_id, with_for_update=True)
    if employee is None or employee.pending:
        return None
    if employee.contract_id == event.id or (
        employee.contract_id is None and employee.contract_start == event.start_date
    ):
        newer = employee.contract_start != event.start_date or version > (employee.contract_version or 0)
    else:
        newer = employee.contract_start is None or event.start_date > employee.contract_start
    if not newer:
        return employee
    changed = [k for k, v in (("position", event.position), ("salary", event.salary)) if getattr(employee, k) != v]
    employee.position, employee.salary = event.position, event.salary
    employee.contract_id, employee.contract_start, employee.contract_version = event.id, event.start_date, version
    if changed:
        employee.updated_at = utcnow()
        _emit(uow, employee, events.updated(employee, changed))
    return employee


async def release_contract(*, uow: UnitOfWork, event: ContractEnded | ContractTerminated, version: int) -> None:
    """The employee's contract is over: position and salary stay as they were and may
    be changed here again (until another contract comes into force)."""
    employee = await uow.session.get(Employee, event.employee_id, with_for_update=True)
    if employee is not None and employee.contract_id == event.id and version > (employee.contract_version or 0):
        employee.contract_id, employee.contract_version = None, version


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


async def employee_as_of(*, session: AsyncSession, employee_id: uuid.UUID, when: datetime) -> Employee:
    """The employee as they were at ``when`` (an object outside the session); 404 if
    they did not exist then."""
    values = await as_of(session, Employee, employee_id, when)
    if values is None or values["pending"]:
        raise not_found("employee", employee_id)
    return Employee(**values)


async def employee_history(*, session: AsyncSession, employee_id: uuid.UUID) -> list[tuple[Employee, HistoryVersion]]:
    """The employee's versions, oldest first (those while pending left out)."""
    versions = await history_of(session, Employee, employee_id)
    return [(Employee(**v.values), v) for v in versions if not v.values["pending"]]


def employees_where(
    *,
    company_id: uuid.UUID | None = None,
    is_active: bool | None = None,
    scope: ColumnElement[bool] | None = None,
    department_id: uuid.UUID | None = None,
    manager_id: uuid.UUID | None = None,
) -> Select[Any]:
    """The employees (not pending) matching the filters, unordered."""
    q = select(Employee).where(Employee.pending.is_(False))
    if scope is not None:
        q = q.where(scope)
    if department_id is not None:
        q = q.where(Employee.department_id == department_id)
    if manager_id is not None:
        q = q.where(Employee.manager_id == manager_id)
    if company_id is not None:
        q = q.where(Employee.company_id == company_id)
    if is_active is not None:
        q = q.where(Employee.is_active == is_active)
    return q


#: How the employee list sorts and searches (sort=, q=, cursor=).
EMPLOYEES = ListSpec(
    sort={
        "last_name": Employee.last_name,
        "first_name": Employee.first_name,
        "hire_date": Employee.hire_date,
        "employee_number": Employee.employee_id,
        "email": Employee.email,
    },
    default=("last_name", "first_name"),
    key=Employee.id,
    search=(Employee.first_name, Employee.last_name, Employee.email, Employee.employee_id),
)


async def list_employees(
    *,
    session: AsyncSession,
    limit: int,
    offset: int,
    company_id: uuid.UUID | None = None,
    is_active: bool | None = None,
    scope: ColumnElement[bool] | None = None,
    department_id: uuid.UUID | None = None,
    manager_id: uuid.UUID | None = None,
) -> tuple[list[Employee], int]:
    q = employees_where(
        company_id=company_id, is_active=is_active, scope=scope, department_id=department_id, manager_id=manager_id
    )
    total = await session.scalar(select(func.count()).select_from(q.subquery()))
    rows = await session.scalars(
        q.order_by(Employee.last_name, Employee.first_name, Employee.id).limit(limit).offset(offset)
    )
    return list(rows), int(total or 0)


#: How deep a management chain may go (a guard against cycles in old data, too).
MAX_DEPTH = 50


async def check_manager(
    session: AsyncSession, *, company_id: uuid.UUID, employee_id: uuid.UUID | None, manager_id: uuid.UUID
) -> None:
    """A manager is an active employee of the same company, not the employee, and not
    one of the employee's own reports (no cycles). 422 naming ``manager_id``."""

    def refuse(message: str, code: str) -> Problem:
        return invalid([FieldError("manager_id", message, code)])

    manager = await session.get(Employee, manager_id)
    if manager is None or manager.pending or manager.company_id != company_id:
        raise refuse(f"employee {manager_id} does not exist", "not_found")
    if not manager.is_active:
        raise refuse(f"employee {manager_id} is not active", "inactive")
    if employee_id is None:
        return
    current: uuid.UUID | None = manager_id
    for _ in range(MAX_DEPTH):
        if current is None:
            return
        if current == employee_id:
            raise refuse("an employee cannot report to themself or to one of their reports", "cycle")
        current = await session.scalar(select(Employee.manager_id).where(Employee.id == current))
    raise refuse(f"the management chain is deeper than {MAX_DEPTH}", "too_deep")


async def reports_of(session: AsyncSession, manager_id: uuid.UUID, *, all_levels: bool) -> list[uuid.UUID]:
    """The employees reporting to ``manager_id``: directly, or at any level."""
    found: list[uuid.UUID] = []
    seen = {manager_id}
    frontier = [manager_id]
    for _ in range(MAX_DEPTH if all_levels else 1):
        if not frontier:
            break
        q = select(Employee.id).where(Employee.manager_id.in_(frontier), Employee.pending.is_(False))
        frontier = [i for i in await session.scalars(q) if i not in seen]
        seen.update(frontier)
        found.extend(frontier)
    return found


async def clear_department(*, uow: UnitOfWork, department_id: uuid.UUID) -> int:
    """The company service deleted a department: its employees are in none now.
    Publishes EmployeeUpdated for each. Idempotent (a second time finds no one)."""
    q = select(Employee).where(Employee.department_id == department_id).with_for_update()
    changed = 0
    for employee in (await uow.session.scalars(q)).all():
        employee.department_id = None
        if not employee.pending:
            _emit(uow, employee, events.updated(employee, ["department_id"]))
        changed += 1
    return changed


async def get_profile(*, session: AsyncSession, employee: Employee) -> EmployeeProfile:
    """The employee's profile (an empty one, as of the employee's creation, if none
    was written yet)."""
    profile = await session.get(EmployeeProfile, employee.id)
    if profile is None:
        now = employee.created_at
        profile = EmployeeProfile(
            employee_id=employee.id,
            company_id=employee.company_id,
            skills=[],
            certifications=[],
            created_at=now,
            updated_at=now,
        )
    return profile


async def put_profile(*, uow: UnitOfWork, employee_id: uuid.UUID, data: ProfilePut) -> EmployeeProfile:
    session = uow.session
    employee = await _load_for_update(session, employee_id)
    profile = await session.get(EmployeeProfile, employee.id)
    if profile is None:
        profile = EmployeeProfile(employee_id=employee.id, company_id=employee.company_id)
        session.add(profile)
    for key, value in data.model_dump().items():
        setattr(profile, key, value)
    await uow.commit()
    return profile
