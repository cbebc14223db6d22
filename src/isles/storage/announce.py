"""Data migrations that speak: re-announcing existing state to replicas that came later.

A replica (another service's copy of this service's data, kept from its events) only
knows what was announced after it began. When a service adds a replica of data that
already exists, the *source* service's next migration announces that data once more:
it writes a state event per row into its own outbox, in the migration's transaction;
the relay publishes them once the service runs, and the replica applies each as it
applies any event (a version it has already seen changes nothing). Nothing is
called, nothing is read across databases.

In an Alembic revision of the source service::

    def upgrade() -> None:
        isles.all_tenants()
        rows = op.get_bind().execute(sa.text("SELECT id, company_id, name, version FROM departments"))
        isles.announce(
            service="company",
            event_type="company.DepartmentUpdated",
            aggregate_type="department",
            records=[(r.id, r.version, r.company_id, {"id": str(r.id), ...}) for r in rows],
        )
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import insert, text

from isles.core.events import Envelope
from isles.storage.schema import outbox_table
from isles.storage.tenancy import ANY, SETTING
from isles.storage.uow import outbox_row

#: (aggregate id, its current version, tenant id, the event's data as JSON values)
Record = tuple[Any, int, Any, Mapping[str, Any]]


def all_tenants() -> None:
    """In a data migration: let its statements see every tenant's rows (PostgreSQL's
    row-level security hides them from a connection that names no tenant), until the
    migration's transaction ends. Nothing on SQLite."""
    from alembic import op

    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.execute(text("SELECT set_config(:name, :value, true)"), {"name": SETTING, "value": ANY})


def announce(
    *,
    service: str,
    event_type: str,
    aggregate_type: str,
    records: Iterable[Record],
    schema_version: int = 1,
) -> int:
    """In a data migration: write one ``event_type`` event per record to ``service``'s
    outbox, at the aggregate's current version (no bump: a replica that has it ignores
    it, one that lacks it takes it). Returns how many were written."""
    from alembic import op

    rows = []
    for aggregate_id, version, tenant, data in records:
        envelope = Envelope(
            id=str(uuid.uuid4()),
            source=f"/isles/{service}",
            type=event_type,
            aggregatetype=aggregate_type,
            aggregateid=str(aggregate_id),
            aggregateversion=int(version),
            schemaversion=schema_version,
            data=dict(data),
            tenantid="" if tenant is None else str(tenant),
        )
        rows.append(outbox_row(envelope))
    if rows:
        op.get_bind().execute(insert(outbox_table), rows)
    return len(rows)


__all__ = ["all_tenants", "announce"]
