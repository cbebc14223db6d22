"""The split tests' shared dirt: values the monolith generator does not make, each
where the fast path's SQL could guess wrong (``isles.tools.split.fast``), and SQL run
on a service's database behind the run's back."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from isles.storage.db import connect_waiting
from tests.support import Backend


def dirty(path: Path) -> None:
    """Values the generator does not make, each where SQL could guess wrong."""
    with sqlite3.connect(path) as db:
        ids = [r[0] for r in db.execute("SELECT id FROM assignments WHERE employee_id <= 50 ORDER BY id LIMIT 12")]
        changes: list[tuple[str, Any]] = [
            ("start_date", "2023-02-30"),  # not a date: the plan's decision
            ("start_date", "2023-01-05 10:00:00"),  # a date with a time: Python reads the date
            ("created_at", "2021-01-01T10:00:00"),  # ISO with a T: clean
            ("created_at", "2021-01-01 24:00:00"),  # not a time
            ("allocation", 500),  # clean, but the CHECK constraint refuses it
            ("allocation", 12.0),  # a real in an integer column
            ("role", "   "),  # only spaces, NOT NULL: kept as it is
            ("role", "Ünïcödé lead"),  # not ASCII
            ("role", "a\tb\\c\nd\re"),  # the COPY text escapes
            ("created_at", "0000-01-01 00:00:00"),  # year 0: Python refuses it
            ("start_date", 20230105),  # an integer date: Python reads it
            ("role", "x'); DROP TABLE t; --"),
        ]
        for row_id, (column, value) in zip(ids, changes, strict=True):
            db.execute(f"UPDATE assignments SET {column} = ? WHERE id = ?", (value, row_id))
        balances = [r[0] for r in db.execute("SELECT id FROM leave_balances ORDER BY id LIMIT 4")]
        for row_id, value in zip(balances, [0.1, 2.25, 123456789.123456789, "7.5"], strict=True):
            db.execute("UPDATE leave_balances SET entitled = ? WHERE id = ?", (value, row_id))
        users = [r[0] for r in db.execute("SELECT id FROM users WHERE company_id = 1 ORDER BY id LIMIT 4")]
        for row_id, email in zip(users, ["Straße@x.test", "STRASSE@x.test", "Foo@x.test", "foo@X.TEST"], strict=True):
            db.execute("UPDATE users SET email = ? WHERE id = ?", (email, row_id))
        db.execute("UPDATE companies SET active = 2 WHERE id = 2")


async def run_sql(backend: Backend, service: str, sql: str) -> None:
    conn = await connect_waiting(backend.url(service).replace("+asyncpg", ""), wait=120)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()
