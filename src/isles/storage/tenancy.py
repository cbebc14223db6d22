"""Tenant isolation: a session opened for a company sees and writes only its rows.

A mapped class that mixes in :class:`TenantOwned` has a ``company_id`` (its tenant).
Every ORM ``SELECT``, ``UPDATE`` and ``DELETE`` a tenant's session runs gets the
criterion ``company_id = <tenant>`` added, however the query was written (including
``session.get``), and a flush refuses a row of another company. On PostgreSQL the
session also sets ``isles.tenant`` for the transaction, which the row-level security
policies (the second line, for SQL that bypasses the ORM) compare against.

A session names its tenant with ``tenant=``:

* a company id: that company's rows only (a request's session, ``isles.TenantData``);
* :data:`ACROSS_TENANTS`: every company's rows — code that truly works across
  companies says so (event handlers, which apply batches of many companies' events;
  the operator's requests; logins, which look an address up in every company);
* nothing (``None``): **no company's rows**. The ORM adds a false criterion to every
  statement on a tenant class and refuses to flush one; on PostgreSQL the connection
  names no tenant, so row-level security shows no tenant row to raw SQL either. The
  kernel's own tables (outbox, inbox, sagas, ...) are not tenant tables: sessions of
  the machinery that touch only them need no tenant.
"""

from __future__ import annotations

import functools
import uuid
from typing import Any, Final

from sqlalchemy import MetaData, event, false, inspect, literal_column
from sqlalchemy.orm import ORMExecuteState, Session, SynonymProperty, with_loader_criteria
from sqlalchemy.orm.interfaces import ORMOption

INFO_KEY = "isles_tenant"
#: Where a session notes the classes of the objects it flushed as added or changed,
#: when its unit of work asked (see UnitOfWork.after_commit_if_touched).
TOUCHED_KEY = "isles_touched"
#: The PostgreSQL setting row-level security policies read; ``*`` means every company.
SETTING = "isles.tenant"
ANY = "*"


class AcrossTenants:
    """The type of :data:`ACROSS_TENANTS` (one value)."""

    _instance: AcrossTenants | None = None

    def __new__(cls) -> AcrossTenants:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ACROSS_TENANTS"

    def __reduce__(self) -> str:
        return "ACROSS_TENANTS"


#: ``tenant=ACROSS_TENANTS``: a session that sees and writes every company's rows, said
#: explicitly by the code that needs it (see the module doc).
ACROSS_TENANTS: Final = AcrossTenants()

#: What a session may name as its tenant.
Tenant = uuid.UUID | AcrossTenants | None


class TenantViolation(Exception):
    """A session tried to write a row of a company it does not act for (another
    company's, or any company's in a session that names none)."""


class _Placeholder:
    """What ``TenantOwned.company_id`` is until a mapped class declares its own: an
    expression (SQLAlchemy analyses the criterion's lambda once, on the mixin), kept
    out of the class ``__dict__``'s SQL objects so declarative mapping ignores it."""

    def __get__(self, obj: object, owner: type) -> Any:
        return literal_column("company_id")


class TenantOwned:
    """Mixin for mapped classes whose rows belong to one company (``company_id``).

    Each class declares its own ``company_id`` (a column, or a synonym of its id for
    the company itself); this placeholder lets SQLAlchemy analyse the criterion once."""

    company_id: Any = _Placeholder()


def tenant_of(session: Session) -> Tenant:
    tenant: Tenant = session.info.get(INFO_KEY)
    return tenant


class TenantSession(Session):
    """The session class of every service database (see module doc)."""


@functools.lru_cache(maxsize=1024)
def _criteria(tenant: uuid.UUID | None) -> ORMOption:
    # One option per company, made once: building it (and analysing its lambda) per
    # statement was a good part of a statement's cost. ``None``: no company's rows.
    if tenant is None:
        return with_loader_criteria(TenantOwned, lambda cls: false(), include_aliases=True)
    return with_loader_criteria(TenantOwned, lambda cls: cls.company_id == tenant, include_aliases=True)


@event.listens_for(TenantSession, "do_orm_execute")
def _scope_statement(state: ORMExecuteState) -> None:
    tenant = tenant_of(state.session)
    if (
        tenant is ACROSS_TENANTS
        or not state.is_orm_statement
        or not (state.is_select or state.is_update or state.is_delete)
    ):
        # A Core statement on a table (the kernel's tables, hand-written SQL) is not
        # touched by loader criteria: it filters its tenant itself, and row-level
        # security backs it on PostgreSQL.
        return
    assert not isinstance(tenant, AcrossTenants)
    state.statement = state.statement.options(_criteria(tenant))


@event.listens_for(TenantSession, "before_flush")
def _guard_writes(session: Session, _context: Any, _instances: Any) -> None:
    touched: set[type] | None = session.info.get(TOUCHED_KEY)
    if touched is not None:
        touched.update(type(obj) for obj in (*session.new, *session.dirty))
    tenant = tenant_of(session)
    if tenant is ACROSS_TENANTS:
        return
    for obj in (*session.new, *session.dirty):
        if not isinstance(obj, TenantOwned):
            continue
        if tenant is None:
            raise TenantViolation(
                f"{type(obj).__name__} of company {obj.company_id} written in a session that names no company "
                "(pass tenant=<company id>, or tenant=ACROSS_TENANTS for code that works across companies)"
            )
        if obj.company_id != tenant:
            raise TenantViolation(
                f"{type(obj).__name__} of company {obj.company_id} written in a session of company {tenant}"
            )


@event.listens_for(TenantSession, "after_begin")
def _set_database_tenant(session: Session, _transaction: Any, connection: Any) -> None:
    tenant = tenant_of(session)
    if tenant is None or connection.dialect.name != "postgresql":
        # No tenant: the connection names none (it never does by itself), and row
        # security shows no tenant row.
        return
    # Transaction-local: gone when the transaction ends; a pooled connection carries
    # nothing over.
    connection.exec_driver_sql(_SET_TENANT, (ANY if tenant is ACROSS_TENANTS else str(tenant),))


_SET_TENANT = f"SELECT set_config('{SETTING}', $1, true)"


#: The name of the row-level security policy on every tenant table (PostgreSQL).
POLICY = "isles_tenant_isolation"


def policy_condition(column: str) -> str:
    """Rows a transaction may see and write: its tenant's (``isles.tenant`` = a company
    id; the column stays comparable, so its index serves) or every row when the setting
    is ``*`` (a session opened with ``ACROSS_TENANTS``). Unset — any connection until a
    session names a tenant — sees nothing: the policy fails closed."""
    setting = f"current_setting('{SETTING}', true)"
    return f"({column} = NULLIF(NULLIF({setting}, '{ANY}'), '')::uuid OR {setting} = '{ANY}')"


def enable_row_security(table: str, column: str = "company_id") -> None:
    """In an Alembic migration: on PostgreSQL, turn on row-level security for a tenant
    table (forced for its owner too) with the tenant policy. Nothing on SQLite.

    Superusers bypass row-level security whatever the table says: run services as an
    ordinary role for this second line to hold (see docs/security.md)."""
    from alembic import op

    if op.get_bind().dialect.name != "postgresql":
        return
    condition = policy_condition(column)
    op.execute(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
    op.execute(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY')
    op.execute(f'CREATE POLICY {POLICY} ON "{table}" USING {condition} WITH CHECK {condition}')


def disable_row_security(table: str) -> None:
    from alembic import op

    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f'DROP POLICY IF EXISTS {POLICY} ON "{table}"')
    op.execute(f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY')
    op.execute(f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY')


def tenant_tables(metadata: MetaData) -> dict[str, str]:
    """The tables of ``metadata`` mapped by :class:`TenantOwned` classes, each with the
    column that holds its company (``id`` for the company itself)."""
    found: dict[str, str] = {}
    pending = list(TenantOwned.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        table = getattr(cls, "__table__", None)
        if table is None or table.name not in metadata.tables or metadata.tables[table.name] is not table:
            continue
        prop = inspect(cls).get_property("company_id")
        found[table.name] = prop.name if isinstance(prop, SynonymProperty) else prop.columns[0].name
    return found


__all__ = [
    "ACROSS_TENANTS",
    "ANY",
    "POLICY",
    "SETTING",
    "Tenant",
    "TenantOwned",
    "TenantSession",
    "TenantViolation",
    "disable_row_security",
    "enable_row_security",
    "tenant_of",
    "tenant_tables",
]
