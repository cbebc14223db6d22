"""The set-wise read models' one statement: ``INSERT ... ON CONFLICT DO UPDATE``, built
once per dialect (attendance, sagas, leave, allocation)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite


def upserts(
    table: Table,
    key: tuple[str, ...],
    *,
    kept: tuple[str, ...] = (),
    where: Callable[[Table, Any], Any] | None = None,
) -> dict[str, Any]:
    """Per dialect name: INSERT a row of ``table``, or UPDATE every column but ``key``
    and ``kept`` of the row there (only where ``where(table, excluded)`` holds)."""

    def build(dialect: Any) -> Any:
        ins = dialect.insert(table)
        return ins.on_conflict_do_update(
            index_elements=list(key),
            set_={c.name: ins.excluded[c.name] for c in table.c if c.name not in (*key, *kept)},
            where=where(table, ins.excluded) if where is not None else None,
        )

    return {"postgresql": build(postgresql), "sqlite": build(sqlite)}
