"""``isles db provision``: per service a migrator, a runtime and a read-only role that
reach only its own database (issue 16, finding 1)."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from hrms.system import build as build_hrms
from isles.cli.main import app
from isles.core.settings import IslesSettings
from isles.runtime.system import SystemRuntime
from isles.security.events import read as read_events
from isles.storage.db import DatabaseConfigError, connect_waiting
from isles.storage.provision import KINDS, provision, read_secret, role_name, secrets_path, variable
from tests.hrms.cluster import ALL_SERVICES as SERVICES
from tests.support import PG_SERVER, drop_in_background, make_backend

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def provisioned(tmp_path: Path) -> Iterator[dict[str, str]]:
    backend = make_backend("postgres", tmp_path)
    template = backend.settings.database_url
    assert template is not None
    secrets = tmp_path / "secrets"
    result = CliRunner().invoke(
        app, ["db", "provision", "--database-url", template, "--secrets-dir", str(secrets)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    urls: dict[str, str] = {"template": template, "secrets": str(secrets)}
    for s in SERVICES:
        for kind in KINDS:
            url = read_secret(secrets, s, kind)
            assert url is not None, (s, kind)
            urls[s if kind == "runtime" else f"{s}.{kind}"] = url
    yield urls
    for service in SERVICES:  # in the background (a drop waits for a checkpoint), roles after
        drop_in_background(template.replace("{service}", service), roles=True)


async def _refused(dsn_: str, sql: str) -> str:
    conn = await connect_waiting(dsn_)
    try:
        with pytest.raises(asyncpg.PostgresError) as caught:
            await conn.execute(sql)
        return str(caught.value)
    finally:
        await conn.close()


def test_three_roles_each_with_the_seeds_grants_and_no_more(provisioned: dict[str, str]) -> None:
    """Issue 16, finding 1: the runtime role owned its schema; now it holds CONNECT,
    USAGE and SELECT/INSERT/UPDATE/DELETE (seed 001) and cannot change the schema."""
    runtime, migrator, reader = (provisioned[k] for k in ("employee", "employee.migrator", "employee.reader"))
    names = {make_url(u).username for u in (runtime, migrator, reader)}
    assert len(names) == 3
    assert "postgres" not in names

    async def go() -> None:
        # The migrator owns the schema: migrations run as it.
        conn = await connect_waiting(dsn(migrator))
        try:
            await conn.execute("CREATE TABLE probe (id int PRIMARY KEY, company_id uuid)")
            await conn.execute("ALTER TABLE probe ENABLE ROW LEVEL SECURITY")
            await conn.execute("INSERT INTO probe VALUES (1, NULL)")
        finally:
            await conn.close()
        # The runtime role reads and writes the new table (default privileges) ...
        conn = await connect_waiting(dsn(runtime))
        try:
            await conn.execute("UPDATE probe SET id = 2 WHERE id = 1")
            assert await conn.fetchval("SELECT count(*) FROM probe") == 0, "row security applies to it"
            attributes = await conn.fetchrow(
                "SELECT rolsuper, rolcreatedb, rolcreaterole, rolbypassrls FROM pg_roles WHERE rolname = current_user"
            )
            assert tuple(attributes) == (False, False, False, False)
        finally:
            await conn.close()
        # ... and may change nothing else.
        for sql in (
            "ALTER TABLE probe ADD COLUMN x int",
            "ALTER TABLE probe DISABLE ROW LEVEL SECURITY",
            "DROP TABLE probe",
            "CREATE TABLE mine (id int)",
            "TRUNCATE probe",
        ):
            error = await _refused(dsn(runtime), sql)
            assert "must be owner" in error or "permission denied" in error, (sql, error)
        # A GRANT by the runtime role grants nothing (PostgreSQL only warns).
        conn = await connect_waiting(dsn(runtime))
        try:
            await conn.execute(f"GRANT INSERT ON probe TO {make_url(reader).username}")
            assert not await conn.fetchval(
                "SELECT has_table_privilege($1, 'probe', 'INSERT')", make_url(reader).username
            )
        finally:
            await conn.close()
        # The reader reads, and only reads.
        conn = await connect_waiting(dsn(reader))
        try:
            assert await conn.fetchval("SELECT count(*) FROM probe") == 0
        finally:
            await conn.close()
        assert "permission denied" in await _refused(dsn(reader), "INSERT INTO probe VALUES (3, NULL)")

        # No role reaches another service's database.
        other_db = make_url(provisioned["project"]).database
        for url in (runtime, migrator, reader):
            elsewhere = make_url(url).set(database=other_db).render_as_string(hide_password=False)
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied for database"):
                await connect_waiting(dsn(elsewhere))

    asyncio.run(go())


def test_services_migrate_as_the_owner_and_run_as_the_runtime_role(provisioned: dict[str, str], tmp_path: Path) -> None:
    runtime_env = {variable(s): provisioned[s] for s in SERVICES}

    async def go() -> None:
        settings = IslesSettings(data_dir=tmp_path, generate_keys=True)
        # The runtime role alone cannot apply the pending migrations: one clear error.
        alone = SystemRuntime(build_hrms(), settings, environ=runtime_env)
        with pytest.raises(DatabaseConfigError, match="isles migrate upgrade --service auth"):
            await alone.start()
        await alone.stop()

        env = {**runtime_env, **{variable(s, "migrator"): provisioned[f"{s}.migrator"] for s in SERVICES}}
        rt = SystemRuntime(build_hrms(), settings, environ=env)
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
                    assert who == make_url(runtime_env[variable(srt.name)]).username
        finally:
            await rt.stop()

        # Migrated: the runtime roles alone now start (nothing to apply).
        again = SystemRuntime(build_hrms(), settings, environ=runtime_env)
        await again.start()
        await again.stop()

    asyncio.run(go())

    # isles audit reads as the read-only roles: with the runtime roles' passwords wrong,
    # it still runs, and says whom it read as.
    readers = {variable(s, "reader"): provisioned[f"{s}.reader"] for s in SERVICES}
    wrong = {
        variable(s): make_url(provisioned[s]).set(password="wrong").render_as_string(hide_password=False)
        for s in SERVICES
    }
    env = {**wrong, **readers, "COLUMNS": "200", "ISLES_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(app, ["audit", "--settle", "0", "--format", "json"], env=env)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)  # the logs go to stderr
    assert body["read_as"] == {s: make_url(provisioned[f"{s}.reader"]).username for s in SERVICES}
    assert all(name.endswith("_reader") for name in body["read_as"].values())
    assert any(c["checked"] for c in body["checks"]), "it read the data"


def test_provision_again_keeps_passwords_unless_rotated(provisioned: dict[str, str]) -> None:
    secrets = Path(provisioned["secrets"])
    for kind in KINDS:
        assert stat.S_IMODE(secrets_path(secrets, "employee", kind).stat().st_mode) == 0o600
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    runner = CliRunner()
    args = ["db", "provision", "--database-url", provisioned["template"], "--secrets-dir", str(secrets)]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert read_secret(secrets, "employee") == provisioned["employee"]
    assert read_secret(secrets, "employee", "migrator") == provisioned["employee.migrator"]
    assert "kept" in result.output
    assert "new" not in result.output
    security_log = secrets.parent / "security.jsonl"
    result = runner.invoke(
        app,
        [*args, "--rotate", "--service", "employee"],
        env={"COLUMNS": "200", "ISLES_SECURITY_LOG": str(security_log)},
    )
    assert result.exit_code == 0, result.output
    (event,) = read_events(security_log)
    assert event["event"] == "database.passwords_rotated"
    assert len(event["roles"]) == 3
    for kind in KINDS:
        password = make_url(read_secret(secrets, "employee", kind) or "").password
        assert password
        assert password not in security_log.read_text()
    for kind in KINDS:
        key = "employee" if kind == "runtime" else f"employee.{kind}"
        assert read_secret(secrets, "employee", kind) != provisioned[key], kind
    assert read_secret(secrets, "project") == provisioned["project"]


def test_a_database_an_earlier_provision_gave_the_runtime_role_is_handed_to_the_owner(tmp_path: Path) -> None:
    """Before issue 16 the runtime role owned its database and tables: provisioning
    again moves everything to the migrator and leaves the runtime role its grants."""
    backend = make_backend("postgres", tmp_path)
    template = backend.settings.database_url
    assert template is not None
    target = make_url(template.replace("{service}", "employee"))
    old_role = target.database
    assert old_role is not None
    admin = make_url(PG_SERVER)

    async def go() -> None:
        conn = await connect_waiting(dsn(admin.set(database="postgres").render_as_string(hide_password=False)))
        try:
            await conn.execute(f'CREATE ROLE "{old_role}" LOGIN')
            await conn.execute(f'CREATE DATABASE "{old_role}" OWNER "{old_role}"')
        finally:
            await conn.close()
        conn = await connect_waiting(dsn(admin.set(database=old_role).render_as_string(hide_password=False)))
        try:
            await conn.execute(f'SET ROLE "{old_role}"')
            await conn.execute("CREATE TABLE legacy (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, x int)")
        finally:
            await conn.close()
        done = await provision(admin, "employee", target, secrets_dir=tmp_path / "secrets")
        try:
            conn = await connect_waiting(dsn(admin.set(database=old_role).render_as_string(hide_password=False)))
            try:
                owners = await conn.fetch(
                    "SELECT pg_get_userbyid(relowner) AS owner FROM pg_class "
                    "WHERE relname IN ('legacy', 'legacy_id_seq')"
                )
                assert {r["owner"] for r in owners} == {role_name(old_role, "migrator")}
                assert await conn.fetchval(
                    "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", old_role
                ) == role_name(old_role, "migrator")
            finally:
                await conn.close()
            conn = await connect_waiting(dsn(done.runtime.url.render_as_string(hide_password=False)))
            try:
                await conn.execute("INSERT INTO legacy (x) VALUES (1)")  # the sequence too
                assert await conn.fetchval("SELECT count(*) FROM legacy") == 1
            finally:
                await conn.close()
            assert "must be owner" in await _refused(
                dsn(done.runtime.url.render_as_string(hide_password=False)), "DROP TABLE legacy"
            )
        finally:
            drop_in_background(target.render_as_string(hide_password=False), roles=True)  # a checkpoint, not the test

    asyncio.run(go())


def test_provision_without_a_postgres_template_is_a_one_line_error() -> None:
    result = CliRunner().invoke(app, ["db", "provision", "--database-url", "sqlite+aiosqlite:///x.db"], env={})
    assert result.exit_code == 2
    assert "give --database-url postgresql" in result.output
