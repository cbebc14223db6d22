"""A unit of work reports a lost race to a unique value as ``UniqueViolation`` with the
constraint, table and columns, on SQLite and PostgreSQL (also under row-level
security, where PostgreSQL leaves the key out of its message)."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from hrms.services.auth.models import Role
from hrms.services.employee.models import Employee
from isles.runtime.system import SystemRuntime
from isles.storage.errors import UniqueViolation

pytestmark = pytest.mark.integration


async def test_a_taken_unique_value_is_a_typed_violation(hrms: SystemRuntime) -> None:
    auth = hrms["auth"]
    async with auth.uow() as uow:
        uow.session.add(Role(name="auditor"))
        await uow.commit()
    async with auth.uow() as uow:
        uow.session.add(Role(name="auditor"))
        with pytest.raises(UniqueViolation) as caught:
            await uow.commit()
    assert (caught.value.constraint, caught.value.table, caught.value.columns) == ("uq_roles_name", "roles", ("name",))


async def test_a_violation_under_row_level_security_names_its_columns(hrms: SystemRuntime) -> None:
    employees = hrms["employee"]
    company = uuid.uuid4()

    def hire(number: str, email: str) -> Employee:
        return Employee(
            employee_id=number,
            company_id=company,
            user_id=uuid.uuid4(),
            first_name="U",
            last_name="V",
            email=email,
            hire_date=date(2026, 1, 1),
        )

    async with employees.uow(tenant=company) as uow:
        uow.session.add(hire("UV-1", "uv@example.com"))
        await uow.commit()
    async with employees.uow(tenant=company) as uow:
        uow.hold()  # the violation comes at the flush, before the commit
        uow.session.add(hire("UV-2", "uv@example.com"))
        with pytest.raises(UniqueViolation) as caught:
            await uow.commit()
    assert caught.value.constraint == "uq_employees_company_id_email"
    assert caught.value.columns == ("company_id", "email")
    assert caught.value.table == "employees"


async def test_a_sessions_own_flush_raises_it_too_and_it_is_an_integrity_error(hrms: SystemRuntime) -> None:
    from sqlalchemy.exc import IntegrityError

    from hrms.services.auth.models import Permission

    auth = hrms["auth"]
    async with auth.uow() as uow:
        uow.session.add(Permission(name="ledger:read"))
        await uow.commit()
    async with auth.uow() as uow:
        uow.session.add(Permission(name="ledger:read"))
        with pytest.raises(UniqueViolation) as caught:
            await uow.session.flush()
    assert isinstance(caught.value, IntegrityError), "code catching IntegrityError still does"
    assert caught.value.columns == ("name",)
