"""PostgreSQL row-level security, the second line of tenant isolation: SQL that goes
around the ORM's scoping, run as an ordinary role (superusers bypass row security),
still sees and writes only the company named in ``isles.tenant``."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from isles.runtime.system import SystemRuntime
from isles.storage.tenancy import POLICY, SETTING, tenant_tables
from tests.hrms.helpers import new_company, new_employee, ok
from tests.support import Backend, make_backend

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.services("all")]


@pytest.fixture
def backend(tmp_path: Path) -> Backend:  # PostgreSQL only: SQLite has no row security
    return make_backend("postgres", tmp_path)


async def test_every_tenant_table_forces_the_tenant_policy(hrms: SystemRuntime) -> None:
    checked = 0
    for name, rt in hrms.services.items():
        tables = tenant_tables(rt.service.metadata)
        assert tables, f"{name} has tenant tables"
        async with rt.db.engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
                        "EXISTS (SELECT 1 FROM pg_policies p WHERE p.tablename = c.relname AND p.policyname = :p) "
                        "FROM pg_class c WHERE c.relname = ANY(:t) AND c.relkind = 'r'"
                    ),
                    {"p": POLICY, "t": list(tables)},
                )
            ).all()
        state = {r[0]: tuple(r[1:]) for r in rows}
        assert state == dict.fromkeys(tables, (True, True, True)), f"{name}: {state}"
        checked += len(tables)
    assert checked >= 19


async def test_raw_sql_as_an_ordinary_role_sees_and_writes_only_its_company(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    mine, theirs = (await new_company(api, "Mine"))["id"], (await new_company(api, "Theirs"))["id"]
    me = await new_employee(api, "Row", "Mine", company_id=mine)
    await new_employee(api, "Row", "Theirs", company_id=theirs)
    role = f"isles_app_{uuid.uuid4().hex[:10]}"
    engine = hrms["employee"].db.engine
    async with engine.begin() as conn:
        await conn.execute(text(f"CREATE ROLE {role} NOLOGIN"))
        await conn.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"))
    try:

        async def as_app(tenant: str, sql: str, **params: object) -> list[object]:
            async with engine.begin() as conn:
                await conn.execute(text(f"SET LOCAL ROLE {role}"))
                await conn.execute(text("SELECT set_config(:k, :v, true)"), {"k": SETTING, "v": tenant})
                result = await conn.execute(text(sql), params)
                return list(result.scalars()) if result.returns_rows else [result.rowcount]

        assert [str(c) for c in await as_app(mine, "SELECT company_id FROM employees")] == [mine]
        assert await as_app(mine, "UPDATE employees SET position = 'Changed'") == [1], "only its own row"
        assert await as_app("", "SELECT company_id FROM employees") == [], "no tenant: nothing (fails closed)"
        assert len(await as_app("*", "SELECT company_id FROM employees")) == 2, "the service's own machinery"
        with pytest.raises(DBAPIError, match="row-level security"):
            await as_app(
                mine,
                "INSERT INTO employees (id, employee_id, company_id, user_id, first_name, last_name, email, "
                "hire_date, is_active, pending, created_at, updated_at, version) VALUES (:id, 'RLS-1', :c, :u, "
                "'A', 'B', 'rls@example.com', '2024-01-01', true, false, now(), now(), 0)",
                id=uuid.uuid4(),
                c=uuid.UUID(theirs),
                u=uuid.uuid4(),
            )
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP OWNED BY {role}"))
            await conn.execute(text(f"DROP ROLE {role}"))
    # The API (as the operator) saw the update go to the own company's row only.
    assert ok(await api.get(f"/api/employee/employees/{me['id']}"))["position"] == "Changed"


async def test_a_pooled_connection_that_names_no_tenant_sees_no_tenant_rows(
    hrms: SystemRuntime, api: httpx.AsyncClient
) -> None:
    """Issue 16, finding 2: the service's own connections used to start with
    ``isles.tenant = '*'``, so raw SQL outside a tenant session saw every company.
    Now a connection names no tenant until a session does; code that works across
    companies says so (``tenant=ACROSS_TENANTS``)."""
    from isles.storage.tenancy import ACROSS_TENANTS

    company = (await new_company(api, "Pooled"))["id"]
    await new_employee(api, "Pool", "Ed", company_id=company)
    role = f"isles_app_{uuid.uuid4().hex[:10]}"
    db = hrms["employee"].db
    async with db.engine.begin() as conn:
        await conn.execute(text(f"CREATE ROLE {role} NOLOGIN"))
        await conn.execute(text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"))
    try:
        async with db.engine.begin() as conn:  # raw SQL on a pooled connection
            await conn.execute(text(f"SET LOCAL ROLE {role}"))
            assert (await conn.execute(text("SELECT count(*) FROM employees"))).scalar() == 0
            # The kernel's tables are not tenant tables: the machinery reads them as ever.
            assert (await conn.execute(text("SELECT count(*) FROM isles_outbox_events"))).scalar() >= 1
        async with db.writing() as session, session.begin():  # a session that names none
            await session.execute(text(f"SET LOCAL ROLE {role}"))
            assert (await session.execute(text("SELECT count(*) FROM employees"))).scalar() == 0
        async with db.writing(tenant=ACROSS_TENANTS) as session, session.begin():  # says so
            await session.execute(text(f"SET LOCAL ROLE {role}"))
            assert (await session.execute(text("SELECT count(*) FROM employees"))).scalar() >= 1
    finally:
        async with db.engine.begin() as conn:
            await conn.execute(text(f"DROP OWNED BY {role}"))
            await conn.execute(text(f"DROP ROLE {role}"))
