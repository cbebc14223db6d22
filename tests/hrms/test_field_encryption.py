"""Field encryption (issue 16, finding 5): salary, date of birth, address and emergency
contacts are AES-GCM ciphertext in the database and plain values in the API; they
cannot be sorted or compared in SQL; ``isles keys rotate-data`` re-encrypts them under
a new key while the system runs."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from hrms.services.employee.models import Employee
from isles import ACROSS_TENANTS, EncryptedColumnError, ListSpec
from isles.cli.main import app
from isles.runtime.keys import keys_dir
from isles.runtime.system import SystemRuntime
from isles.security.events import read
from isles.storage import crypto
from tests.hrms.helpers import new_employee, ok
from tests.support import Backend

pytestmark = pytest.mark.integration

PROFILE = {
    "date_of_birth": "1990-12-10",
    "address": "12 Analytical Row, London",
    "emergency_contact_name": "Mary Somerville",
    "emergency_contact_phone": "+44 20 7946 0321",
}
SENSITIVE = {
    "employees": ["salary"],
    "employee_profiles": ["date_of_birth", "address", "emergency_contact_name", "emergency_contact_phone"],
}


async def raw(hrms: SystemRuntime, table: str, column: str, key: str, value: Any) -> Any:
    """What the database itself holds (as its owner: no ORM, no decryption)."""
    async with hrms["employee"].db.engine.connect() as conn:
        sql = text(f"SELECT {column} FROM {table} WHERE {key} = :v")
        return (await conn.execute(sql, {"v": value})).scalar_one()


async def hire_with_profile(api: httpx.AsyncClient) -> Any:
    ada = await new_employee(api, "Ada", "Lovelace", salary="85000.50")
    ok(await api.put(f"/api/employee/employees/{ada['id']}/profile", json=PROFILE))
    return ada


async def test_sensitive_fields_are_ciphertext_in_the_database_and_values_in_the_api(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    ada = await hire_with_profile(api)
    assert Decimal(str(ok(await api.get(f"/api/employee/employees/{ada['id']}"))["salary"])) == Decimal("85000.50")
    profile = ok(await api.get(f"/api/employee/employees/{ada['id']}/profile"))
    assert {k: profile[k] for k in PROFILE} == PROFILE

    key = uuid.UUID(ada["id"]) if hrms["employee"].db.is_sqlite is False else uuid.UUID(ada["id"]).hex
    stored_salary = await raw(hrms, "employees", "salary", "id", key)
    assert stored_salary.startswith("e1:")
    assert "85000" not in stored_salary
    for column, plain in PROFILE.items():
        stored = await raw(hrms, "employee_profiles", column, "employee_id", key)
        assert stored.startswith("e1:"), column
        assert plain not in stored, column
        assert "Analytical" not in stored, column
        assert "Somerville" not in stored, column
    # The same value twice is two different ciphertexts (a fresh nonce each time).
    other = await new_employee(api, "Grace", "Hopper", salary="85000.50")
    other_key = uuid.UUID(other["id"]) if not hrms["employee"].db.is_sqlite else uuid.UUID(other["id"]).hex
    assert await raw(hrms, "employees", "salary", "id", other_key) != stored_salary


async def test_an_encrypted_field_is_never_sorted_or_compared(hrms: SystemRuntime, api: httpx.AsyncClient) -> None:
    r = await api.get("/api/employee/employees", params={"sort": "-salary"})
    assert r.status_code == 422
    (error,) = r.json()["errors"]
    assert error["field"] == "sort"
    assert "encrypted" in error["message"]
    with pytest.raises(EncryptedColumnError, match="salary is encrypted"):
        select(Employee).where(Employee.salary > Decimal(1))
    with pytest.raises(EncryptedColumnError):
        select(Employee).order_by(Employee.salary.desc())
    assert str(select(Employee.id).where(Employee.salary.is_(None))), "IS NULL needs no plaintext"
    with pytest.raises(ValueError, match="salary is encrypted"):
        ListSpec(sort={"salary": Employee.salary}, default=("salary",), key=Employee.id)
    with pytest.raises(ValueError, match="salary is encrypted"):
        ListSpec(
            sort={"last_name": Employee.last_name}, default=("last_name",), key=Employee.id, search=(Employee.salary,)
        )


async def test_rotate_data_reencrypts_every_value_while_the_system_runs(
    hrms: SystemRuntime, api: httpx.AsyncClient, backend: Backend, tmp_path: Path
) -> None:
    ada = await hire_with_profile(api)
    grace = await new_employee(api, "Grace", "Hopper", salary="91000.00")
    db = hrms["employee"].db
    grace_key: Any = uuid.UUID(grace["id"]) if not db.is_sqlite else uuid.UUID(grace["id"]).hex
    # A value written before its column was encrypted (the migration keeps them).
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE employees SET salary = '91000.00' WHERE id = :v"), {"v": grace_key})
    old_key = crypto.ring("employee").current
    assert old_key is not None

    args = ["--system", "hrms.system:build", "--data-dir", str(backend.settings.data_dir)]
    if backend.settings.database_url:
        args += ["--database-url", backend.settings.database_url]
    security_log = tmp_path / "security-cli.jsonl"
    result = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        [*args, "keys", "rotate-data", "--service", "employee", "--batch", "1", "--dir", str(keys_dir(hrms.settings))],
        env={"COLUMNS": "200", "ISLES_SECURITY_LOG": str(security_log)},
    )
    assert result.exit_code == 0, result.output
    new_key = crypto.ring("employee").current
    assert new_key is not None
    assert new_key > old_key

    async with db.engine.connect() as conn:
        for table, columns in SENSITIVE.items():
            for column in columns:
                values = (
                    await conn.execute(text(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL"))
                ).scalars()
                for stored in values:
                    assert crypto.key_of(stored) == new_key, (table, column, stored[:40])
    # The running system reads the re-encrypted values (it found the new key by itself).
    assert Decimal(str(ok(await api.get(f"/api/employee/employees/{grace['id']}"))["salary"])) == Decimal("91000")
    profile = ok(await api.get(f"/api/employee/employees/{ada['id']}/profile"))
    assert {k: profile[k] for k in PROFILE} == PROFILE
    async with db.read_session(tenant=ACROSS_TENANTS) as session:
        assert (await session.get(Employee, uuid.UUID(ada["id"]))) is not None
    (event,) = read(security_log)
    assert event["event"] == "keys.data_rotated"
    assert event["new_keys"] == [new_key]
    # Run again with no new key: nothing is left to do.
    again = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        [*args, "keys", "rotate-data", "-s", "employee", "--no-new-key", "--dir", str(keys_dir(hrms.settings))],
        env={"COLUMNS": "200", "ISLES_SECURITY_LOG": str(security_log)},
    )
    assert again.exit_code == 0, again.output
    assert crypto.ring("employee").current == new_key
