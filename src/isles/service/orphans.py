"""Orphaned references mended by their declared policy (``isles audit --repair``).

A reference (:func:`isles.reference`) declares what a repair does with the rows that
hold an id its owner no longer has (or has deleted or deactivated, where the
reference declares ``live``): nothing but report them (the default), set the
reference to NULL, or mark the rows (a date-time set to the time of the repair, or a
boolean set to true). The referring service's rows change in its own database, a
chunk per transaction, as a change by the operator ``isles-audit``:

* a row with a ``version`` gets the next one, and where the service declares a
  :class:`isles.Resend` for the table, its new state goes to the outbox in the same
  transaction — copies of it elsewhere follow by the normal, version-guarded path;
* a table that keeps a history (:func:`isles.add_history`) gets its ended version
  written, as any change does;
* only rows still holding an orphaned id (and, to mark, not yet marked) change, so a
  second repair changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Boolean, Table, and_, select, true, update
from sqlalchemy import inspect as sa_inspect

from isles.core.clock import utcnow
from isles.core.references import Reference
from isles.service.declaration import Service
from isles.storage.db import ServiceDatabase
from isles.storage.history import HISTORY_RECORDED, changes_by, history, record_change
from isles.storage.tenancy import ACROSS_TENANTS
from isles.storage.uow import UnitOfWork

CHUNK = 1_000
#: Who a repair's changes are recorded as (a history's ``changed_by``).
OPERATOR = "operator:isles-audit"


def _id(value: str) -> Any:
    try:
        return uuid.UUID(value)
    except ValueError:
        return value


def _historied(table: Table) -> bool:
    try:
        history(table)
    except KeyError:
        return False
    return True


async def fix_orphans(
    db: ServiceDatabase, service: Service, ref: Reference, ids: Sequence[str], *, dry_run: bool = False
) -> tuple[int, int]:
    """Apply ``ref``'s orphan policy to the rows of ``service`` holding one of ``ids``.
    Returns (rows changed — or, dry, that would change —, events re-published)."""
    policy = ref.on_orphan
    if policy.policy == "report" or not ids:
        return 0, 0
    table = service.metadata.tables[ref.table]
    column = table.c[ref.column]
    if policy.policy == "nullify":
        target, value, pending = column, None, column.is_not(None)
    else:
        assert policy.column is not None
        target = table.c[policy.column]
        boolean = isinstance(target.type, Boolean)
        value = True if boolean else utcnow()
        pending = target.is_not(true()) if boolean else target.is_(None)
    keys = list(table.primary_key.columns)
    versioned = "version" in table.c
    historied = _historied(table)
    declaration = next((r for r in service.resend if r.table == ref.table), None)
    changed = resent = 0
    ids = sorted(set(ids))
    with changes_by(OPERATOR, "isles audit --repair: " + (str(policy) + f" {ref}")):
        for i in range(0, len(ids), CHUNK):
            chunk = [_id(v) for v in ids[i : i + CHUNK]]
            async with UnitOfWork(db, source=service.source, tenant=ACROSS_TENANTS) as uow:
                session = uow.session
                rows = (
                    (
                        await session.execute(
                            select(table).where(and_(column.in_(chunk), pending)).order_by(*keys).with_for_update()
                        )
                    )
                    .mappings()
                    .all()
                )
                if dry_run:
                    changed += len(rows)
                    continue
                for row in rows:
                    values: dict[str, Any] = {target.name: value}
                    if versioned:
                        values["version"] = int(row["version"] or 0) + 1
                    options: dict[str, Any] = {}
                    if historied:
                        values["valid_from"] = await record_change(session, table, dict(row))
                        options = HISTORY_RECORDED
                    where = and_(*(k == row[k.name] for k in keys))
                    await session.execute(update(table).where(where).values(values), execution_options=options)
                    changed += 1
                if declaration is not None and rows and versioned:
                    resent += await _republish(uow, declaration, [row[k.name] for row in rows for k in keys[:1]])
                await uow.commit()
    return changed, resent


async def _republish(uow: UnitOfWork, declaration: Any, ids: list[Any]) -> int:
    """The rows' new state to the outbox, in the repair's transaction."""
    (key,) = sa_inspect(declaration.model).primary_key
    q = select(declaration.model).where(key.in_(ids)).execution_options(populate_existing=True)
    written = 0
    for obj in (await uow.session.scalars(q)).all():
        uow.republish(
            declaration.event(obj),
            aggregate_type=declaration.aggregate_type,
            aggregate_id=str(getattr(obj, key.key)),
            aggregate_version=int(getattr(obj, declaration.version_attribute)),
            tenant_id=declaration.tenant(obj),
        )
        written += 1
    return written
