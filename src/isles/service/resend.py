"""Re-publishing an aggregate's current state (issue 20's repair): a service declares,
for a table others copy, how to turn a row into the event that carries its whole
state; :func:`resend` writes that event for the given rows to the service's outbox
*at the row's current version* (no version bump, a new event id). Copies are
version-guarded, so one already at that version ignores it and one behind — stale, or
missing the row — takes it: the repair goes the way of normal traffic, through the
relay, the bus and each consumer's idempotent inbox, and it shows there."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect, select

from isles.core.events import Event
from isles.storage.db import ServiceDatabase
from isles.storage.tenancy import ACROSS_TENANTS
from isles.storage.uow import UnitOfWork

CHUNK = 500


def _company(row: Any) -> str:
    company = getattr(row, "company_id", None)
    return "" if company is None else str(company)


@dataclass(frozen=True)
class Resend:
    """How ``model``'s rows are re-published: ``event(row)`` carries the row's whole
    state (what every copy of it needs), as ``aggregate_type``; ``tenant(row)`` is the
    event's tenant (the row's ``company_id`` by default)."""

    model: type[Any]
    aggregate_type: str
    event: Callable[[Any], Event]
    tenant: Callable[[Any], str] = _company
    version_attribute: str = "version"

    @property
    def table(self) -> str:
        return str(inspect(self.model).local_table.name)


async def resend(
    db: ServiceDatabase,
    source: str,
    declaration: Resend,
    ids: Sequence[Any],
    *,
    repair: bool = False,
    at_least: Mapping[Any, int] | None = None,
) -> int:
    """Write the current state of the rows ``ids`` of ``declaration.model`` to the
    outbox of ``db`` (events of ``source``); rows never published (version 0) or gone
    are skipped. Returns the number of events written. ``repair``: copies at the
    row's version apply it too (see :attr:`isles.Envelope.repair`). ``at_least``: a
    row whose version is below the one given for its id (a copy holds a newer
    version than the owner: the owner was restored to an earlier point) is brought
    up to it in the same transaction, so that every copy takes the event and the
    row's next changes."""
    (key,) = inspect(declaration.model).primary_key
    written = 0
    for i in range(0, len(ids), CHUNK):
        chunk = list(ids[i : i + CHUNK])
        async with UnitOfWork(db, source=source, tenant=ACROSS_TENANTS) as uow:
            rows = (await uow.session.scalars(select(declaration.model).where(key.in_(chunk)))).all()
            for row in rows:
                version = int(getattr(row, declaration.version_attribute) or 0)
                if version == 0:
                    continue
                floor = (at_least or {}).get(getattr(row, key.key))
                if floor is not None and floor > version:
                    version = floor
                    setattr(row, declaration.version_attribute, version)
                uow.republish(
                    declaration.event(row),
                    aggregate_type=declaration.aggregate_type,
                    aggregate_id=str(getattr(row, key.key)),
                    aggregate_version=version,
                    tenant_id=declaration.tenant(row),
                    repair=repair,
                )
                written += 1
            await uow.commit()
    return written
