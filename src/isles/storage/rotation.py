"""``isles keys rotate-data``: every encrypted value of a service under its current data
key, in short batches, while the system runs.

Each batch is one transaction on the service's own database (across companies, said
so): it reads up to ``batch`` rows whose encrypted columns hold a value under another
key (or written before the column was encrypted), re-encrypts them, and writes each
back only if it has not changed meanwhile. It goes on until a pass finds nothing: a
value written under an older key by a process that has not yet seen the new one (it
looks every 30 s) is picked up by a later batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import MetaData, Table, text

from isles.storage import crypto
from isles.storage.db import ServiceDatabase
from isles.storage.tenancy import ACROSS_TENANTS


@dataclass
class Rotated:
    table: str
    values: int = 0
    rows: int = 0


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _stale(table: Table, columns: list[str]) -> str:
    return " OR ".join(f"({_quote(c)} IS NOT NULL AND {_quote(c)} NOT LIKE :current)" for c in columns)


async def pending(db: ServiceDatabase, metadata: MetaData, service: str) -> int:
    """How many rows hold a value not under the current key."""
    current = crypto.ring(service).current
    total = 0
    async with db.read_session(tenant=ACROSS_TENANTS) as session:
        for table, columns in _tables(metadata).items():
            sql = f"SELECT count(*) FROM {_quote(table.name)} WHERE {_stale(table, columns)}"
            total += int((await session.execute(text(sql), {"current": f"{crypto.PREFIX}{current}:%"})).scalar_one())
    return total


def _tables(metadata: MetaData) -> dict[Table, list[str]]:
    found: dict[Table, list[str]] = {}
    for table, column in crypto.encrypted_columns(metadata):
        found.setdefault(table, []).append(column.name)
    return found


async def reencrypt(
    db: ServiceDatabase,
    metadata: MetaData,
    service: str,
    *,
    batch: int = 500,
    progress: Callable[[int], None] = lambda _n: None,
) -> list[Rotated]:
    """Bring every encrypted value of ``service`` under its current key; per table, how
    many values and rows were rewritten. ``progress(rows)`` after each batch."""
    keys = crypto.ring(service)
    key_id, _ = keys.current_cipher()
    current = f"{crypto.PREFIX}{key_id}:%"
    done = []
    for table, columns in _tables(metadata).items():
        labels = {c: table.columns[c].type.label for c in columns}  # type: ignore[attr-defined]
        pk = [c.name for c in table.primary_key.columns]
        select_sql = (
            f"SELECT {', '.join(_quote(c) for c in [*pk, *columns])} FROM {_quote(table.name)} "
            f"WHERE {_stale(table, columns)} ORDER BY {', '.join(_quote(c) for c in pk)} LIMIT :n"
        )
        if not db.is_sqlite:
            select_sql += " FOR UPDATE SKIP LOCKED"
        where_pk = " AND ".join(f"{_quote(c)} = :pk_{i}" for i, c in enumerate(pk))
        tally = Rotated(table.name)
        while True:
            before = tally.values
            async with db.writing(tenant=ACROSS_TENANTS) as session, session.begin():
                rows = (await session.execute(text(select_sql), {"current": current, "n": batch})).all()
                for row in rows:
                    keys_of_row = {f"pk_{i}": row[i] for i in range(len(pk))}
                    for j, column in enumerate(columns):
                        stored = row[len(pk) + j]
                        if stored is None or crypto.key_of(stored) == key_id:
                            continue
                        plain = crypto.decrypt(service, labels[column], stored)
                        fresh = crypto.encrypt(service, labels[column], plain)
                        result = await session.execute(
                            text(
                                f"UPDATE {_quote(table.name)} SET {_quote(column)} = :fresh "
                                f"WHERE {where_pk} AND {_quote(column)} = :stored"
                            ),
                            {**keys_of_row, "fresh": fresh, "stored": stored},
                        )
                        tally.values += result.rowcount  # type: ignore[attr-defined]
                tally.rows += len(rows)
            progress(len(rows))
            if not rows or tally.values == before:
                break  # nothing left, or only rows that changed under us (their writers chose the key)
        done.append(tally)
    return done
