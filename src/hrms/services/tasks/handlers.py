"""What the tasks service keeps from other services' events.

* ``task_users``: its copy of every employee (seed 004's TaskUser), newest version wins;
  an event that leaves the company or the user out (an upcast seed-shaped
  EmployeeUpdated has neither) keeps the ones the copy knows.
* When an employee is deactivated, their open tasks (TODO, IN_PROGRESS) are marked
  ``needs_reassignment``, in the same transaction as the copy and the inbox row: a
  redelivered event changes nothing (the inbox, and only unmarked tasks are marked), and
  a deactivation that arrives after a newer event reactivating them marks nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from hrms.contracts.employee import EmployeeCreated, EmployeeDeactivated, EmployeeUpdated
from hrms.services.tasks.models import OPEN, Task, TaskUser
from isles import Envelope, Handler, HandlerContext, ReplicaTable, UnitOfWork, utcnow

EMPLOYEE_EVENTS = (EmployeeCreated, EmployeeUpdated, EmployeeDeactivated)
COLUMNS = ("user_id", "company_id", "email", "first_name", "last_name", "is_active")


def _copy(event: Any) -> dict[str, Any]:
    return {c: getattr(event, c) for c in COLUMNS}


@dataclass(frozen=True)
class KeepKnownReplica(ReplicaTable):
    """A :class:`ReplicaTable` whose ``keep`` columns keep the copy's value when a newer
    event says nothing of them (None): the contract makes ``company_id`` and
    ``user_id`` optional on EmployeeUpdated and EmployeeDeactivated. A copy is made
    only from an event that names the company (a copy of no company serves nobody);
    an event without one updates an existing copy only."""

    keep: tuple[str, ...] = ()

    def _merge(self, dialect: str, repair: bool = False) -> Any:
        """The upsert; a repair (``isles audit --repair``) applies at an equal version too."""
        t = self.table
        ins: Any = postgresql.insert(t) if dialect == "postgresql" else sqlite.insert(t)
        values = {c: ins.excluded[c] for c in (self.version_column, *self.columns)}
        values.update({c: func.coalesce(ins.excluded[c], t.c[c]) for c in self.keep})
        held, given = t.c[self.version_column], ins.excluded[self.version_column]
        return ins.on_conflict_do_update(
            index_elements=[t.c[self.key_column]],
            set_=values,
            where=held <= given if repair else held < given,
        )

    async def _write(self, session: AsyncSession, rows: Sequence[dict[str, Any]], repair: bool = False) -> int:
        t = self.table
        required = [c for c in self.keep if not t.c[c].nullable]
        complete = [r for r in rows if all(r[c] is not None for c in required)]
        partial = [r for r in rows if any(r[c] is None for c in required)]
        written = 0
        if complete:
            result = await session.execute(self._merge(session.get_bind().dialect.name, repair), complete)
            written += int(getattr(result, "rowcount", 0) or 0)
        for row in partial:
            key, version = row[self.key_column], row[self.version_column]
            known = {c: v for c, v in row.items() if v is not None or c not in self.keep}
            held = t.c[self.version_column]
            result = await session.execute(
                update(t)
                .where(t.c[self.key_column] == key, held <= version if repair else held < version)
                .values(known)
            )
            written += int(getattr(result, "rowcount", 0) or 0)
        return written

    def _row(self, key: Any, version: int, values: Mapping[str, Any]) -> dict[str, Any]:
        if set(values) != set(self.columns):
            raise ValueError(f"{self.label}: projection gave {sorted(values)}, needs {sorted(self.columns)}")
        return {self.key_column: uuid.UUID(str(key)), self.version_column: version, **values}

    async def apply(
        self, session: AsyncSession, key: Any, version: int, values: Mapping[str, Any], *, repair: bool = False
    ) -> bool:
        return bool(await self._write(session, [self._row(key, version, values)], repair))

    async def apply_many(self, session: AsyncSession, pairs: Sequence[tuple[Envelope, Any]]) -> None:
        newest: dict[str, tuple[int, Any, bool]] = {}
        for env, event in pairs:
            held = newest.get(env.aggregateid)
            if held is None or held[0] < env.aggregateversion or (env.repair and held[0] == env.aggregateversion):
                newest[env.aggregateid] = (env.aggregateversion, event, env.repair)
        for repair in (False, True):
            rows = [self._row(k, v, self.project(e)) for k, (v, e, r) in newest.items() if r is repair]
            if rows:
                await self._write(session, rows, repair)


task_users = KeepKnownReplica(
    table=TaskUser.__table__,  # type: ignore[arg-type]
    source="employee.employees",
    events=EMPLOYEE_EVENTS,
    project=_copy,
    columns=COLUMNS,
    keep=("company_id", "user_id"),
)


async def mark_for_reassignment(session: AsyncSession, employee_id: uuid.UUID) -> int:
    """Mark ``employee_id``'s open, unmarked tasks for reassignment, unless the copy says
    the employee is active (a newer event came first). Returns how many were marked."""
    active = await session.scalar(select(TaskUser.is_active).where(TaskUser.id == employee_id))
    if active:
        return 0
    result = await session.execute(
        update(Task)
        .where(Task.assignee_id == employee_id, Task.status.in_(OPEN), Task.needs_reassignment.is_(False))
        .values(needs_reassignment=True, version=Task.version + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def on_employee_deactivated(ctx: HandlerContext, event: EmployeeDeactivated) -> None:
    await mark_for_reassignment(ctx.uow.session, event.id)


async def on_employees_deactivated(uow: UnitOfWork, pairs: Sequence[tuple[Envelope, Any]]) -> None:
    for employee_id in dict.fromkeys(event.id for _, event in pairs):
        await mark_for_reassignment(uow.session, employee_id)


REPLICAS = (task_users,)
HANDLERS = (Handler(event=EmployeeDeactivated, fn=on_employee_deactivated, many=on_employees_deactivated),)
