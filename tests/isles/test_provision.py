"""``isles db provision``: a role per service that reaches only its own database."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from hrms.system import build as build_hrms
from isles.cli.main import app
from isles.core.settings import IslesSettings
from isles.runtime.system import SystemRuntime
from isles.storage.db import drop_postgres_database
from isles.storage.provision import drop_role, read_secret
from tests.hrms.cluster import SERVICES
from tests.support import PG_SERVER, make_backend

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def provisioned(tmp_path: Path) -> dict[str, str]:
    backend = make_backend("postgres", tmp_path)
    template = backend.settings.database_url
    assert template is not None
    secrets = tmp_path / "secrets"
    result = CliRunner().invoke(
        app, ["db", "provision", "--database-url", template, "--secrets-dir", str(secrets)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    urls = {s: read_secret(secrets, s) for s in SERVICES}
    yield {"template": template, "secrets": str(secrets), **{k: v for k, v in urls.items() if v}}  # type: ignore[misc]

    async def teardown() -> None:
        for service in SERVICES:
            await drop_postgres_database(make_url(template.replace("{service}", service)))
            await drop_role(make_url(PG_SERVER), f"{backend.prefix}_{service}")

    asyncio.run(teardown())


def test_each_role_reaches_its_own_database_and_no_other(provisioned: dict[str, str]) -> None:
    employee, project = provisioned["employee"], provisioned["project"]
    assert make_url(employee).username != "postgres"
    assert make_url(employee).password, "the URL carries the generated password"

    async def go() -> None:
        conn = await asyncpg.connect(dsn(employee))
        try:
            await conn.execute("CREATE TABLE probe (id int)")  # owns its schema: migrations can run
            assert (
                await conn.fetchval(
                    "SELECT rolsuper OR rolcreatedb OR rolcreaterole FROM pg_roles WHERE rolname = current_user"
                )
                is False
            )
        finally:
            await conn.close()
        other_db = make_url(project).database
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied for database"):
            await asyncpg.connect(dsn(make_url(employee).set(database=other_db).render_as_string(hide_password=False)))
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied for database"):
            await asyncpg.connect(
                dsn(make_url(project).set(database=make_url(employee).database).render_as_string(hide_password=False))
            )

    asyncio.run(go())


def test_services_run_and_migrate_as_their_roles(provisioned: dict[str, str], tmp_path: Path) -> None:
    env = {f"ISLES_{s.upper()}_DATABASE_URL": provisioned[s] for s in SERVICES}

    async def go() -> None:
        rt = SystemRuntime(build_hrms(), IslesSettings(data_dir=tmp_path, generate_keys=True), environ=env)
        await rt.start()
        try:
            async with rt.client() as client:
                r = await client.get("/api/employee/employees")
                assert r.status_code == 200
                # A saga across three services, each on its own role.
                company = await client.post("/api/company/companies", json={"name": "Roles"})
                assert company.status_code == 201, company.text
                hire = {
                    "employee_number": "R-1",
                    "company_id": company.json()["id"],
                    "first_name": "Rho",
                    "last_name": "Role",
                    "email": "rho@example.com",
                    "hire_date": "2024-01-01",
                }
                r = await client.post("/api/employee/employees", json=hire)
                assert r.status_code == 201, r.text
            for srt in rt.services.values():
                async with srt.db.engine.connect() as conn:
                    who = (await conn.exec_driver_sql("SELECT current_user")).scalar()
                    assert who == make_url(env[f"ISLES_{srt.name.upper()}_DATABASE_URL"]).username
        finally:
            await rt.stop()

    asyncio.run(go())


def test_provision_again_keeps_passwords_unless_rotated(provisioned: dict[str, str]) -> None:
    secrets = Path(provisioned["secrets"])
    assert stat.S_IMODE((secrets / "employee.env").stat().st_mode) == 0o600
    runner = CliRunner()
    args = ["db", "provision", "--database-url", provisioned["template"], "--secrets-dir", str(secrets)]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert read_secret(secrets, "employee") == provisioned["employee"]
    assert "kept" in result.output
    result = runner.invoke(app, [*args, "--rotate", "--service", "employee"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    rotated = read_secret(secrets, "employee")
    assert rotated != provisioned["employee"]
    assert read_secret(secrets, "project") == provisioned["project"]


def test_provision_without_a_postgres_template_is_a_one_line_error() -> None:
    result = CliRunner().invoke(app, ["db", "provision", "--database-url", "sqlite+aiosqlite:///x.db"], env={})
    assert result.exit_code == 2
    assert "give --database-url postgresql" in result.output
