"""The split run's fast path (``isles.tools.split.fast``): the clean rows converted by
SQLite and written as ``COPY`` text must give, in every table, exactly what the
mapper's way (``--no-fast``, every row converted in Python) gives — same rows, same
values, same rejects in the same order — on a monolith with the generator's dirt and
with values put there to catch a guess SQL could make wrongly: an impossible date, a
date with a time, a timestamp with a ``T`` or at 24:00, a real in an integer column,
reals with long expansions, strings of spaces, non-ASCII text, tabs, newlines and
backslashes (the COPY text escapes), emails that are duplicates only ignoring case
(ASCII and not), and a clean row a CHECK constraint refuses (its batch goes the
mapper's way, that row reported as refused)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from isles.storage.db import connect_waiting
from isles.tools.split.fast import escape, pg_text
from isles.tools.split.run import read_rejects
from tests.fixtures.monolith import Stats, make_monolith
from tests.isles.split_dirt import dirty, run_sql
from tests.isles.test_split_run import SERVICES, hr_plan, isles, prepare
from tests.support import Backend, Templates, make_backend

pytestmark = pytest.mark.integration


def _same(got: dict[str, list[tuple[Any, ...]]], wanted: dict[str, list[tuple[Any, ...]]], what: str) -> None:
    """Table by table, row by row (the first difference shown)."""
    assert got.keys() == wanted.keys(), what
    for table, rows in wanted.items():
        assert len(got[table]) == len(rows), f"{what}: {table}: {set(got[table]) ^ set(rows)}"
        for one, other in zip(got[table], rows, strict=True):
            assert one == other, f"{what}: {table}"


def _sealed(value: Any, since: datetime) -> Any:
    """A value as both ways must have written it: an encrypted one (its nonce differs
    each time it is sealed) and a time the clock gave during the run (a default) as
    marks."""
    if isinstance(value, str) and value.startswith("e1:"):
        return "<encrypted>"
    if isinstance(value, datetime) and value >= since:
        return "<the run's clock>"
    return value


def _contents(backend: Backend, since: datetime) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows (by primary key order), as :func:`_sealed` shows them."""

    async def read() -> dict[str, list[tuple[Any, ...]]]:
        found: dict[str, list[tuple[Any, ...]]] = {}
        for service in SERVICES:
            conn = await connect_waiting(backend.url(service).replace("+asyncpg", ""))
            try:
                tables = await conn.fetch(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
                    "AND table_name <> 'alembic_version'"
                )
                for (table,) in tables:
                    rows = [tuple(r) for r in await conn.fetch(f'SELECT * FROM "{table}" ORDER BY 1')]
                    found[f"{service}.{table}"] = [tuple(_sealed(v, since) for v in r) for r in rows]
            finally:
                await conn.close()
        return found

    return asyncio.run(read())


@pytest.mark.postgres
def test_the_fast_path_writes_what_the_mappers_way_writes(templates: Templates, tmp_path: Path) -> None:
    stats: Stats = make_monolith(tmp_path / "monolith.sqlite", employees=50, seed=7)
    dirty(stats.path)
    outputs = {}
    contents = {}
    rejects = {}
    for way in ("--fast", "--no-fast"):
        folder = tmp_path / way.strip("-")
        folder.mkdir()
        backend = make_backend("postgres", folder / "db")
        prepare(backend, templates)
        try:
            plan_file = folder / "plan.toml"
            hr_plan(stats, plan_file, threshold=1.0)
            since = datetime.now(UTC) - timedelta(seconds=1)
            ran = isles(backend, "split", "run", "--plan", str(plan_file), str(stats.path), way)
            assert ran.exit_code == 0, ran.output
            outputs[way] = ran.output
            rejects[way] = read_rejects(folder / "rejects.csv")
            contents[way] = _contents(backend, since)
            if way == "--fast":
                verified = isles(backend, "split", "verify", "--plan", str(plan_file), str(stats.path))
                assert verified.exit_code == 0, verified.output
                again = isles(backend, "split", "run", "--plan", str(plan_file), str(stats.path), way)
                assert again.exit_code == 0, again.output
                _same(_contents(backend, since), contents[way], "a rerun")  # adds nothing
                # rows deleted since: the batch partly there goes by the staging table
                asyncio.run(
                    run_sql(
                        backend,
                        "leave",
                        "DELETE FROM leave_balances WHERE ctid IN (SELECT ctid FROM leave_balances LIMIT 7)",
                    )
                )
                assert (
                    len(_contents(backend, since)["leave.leave_balances"])
                    == len(contents[way]["leave.leave_balances"]) - 7
                )
                again = isles(backend, "split", "run", "--plan", str(plan_file), str(stats.path), way)
                assert again.exit_code == 0, again.output
                _same(_contents(backend, since), contents[way], "rows deleted, then a rerun")
                assert " rows loaded, 7 of them written by this run;" in again.output  # the seven, no more
        finally:
            backend.drop_later(SERVICES)
    # the fast path was taken (the "by SQL" column), and the mapper's way took none
    fast_table = next(line for line in outputs["--fast"].splitlines() if "leave_requests" in line)
    slow_table = next(line for line in outputs["--no-fast"].splitlines() if "leave_requests" in line)
    assert fast_table.split("│")[6].strip() not in ("", "0"), outputs["--fast"]
    assert slow_table.split("│")[6].strip() == "0", outputs["--no-fast"]
    assert rejects["--fast"] == rejects["--no-fast"]  # the same, in the same order
    assert any("ck_assignments_allocation_percent" in r.reason for r in rejects["--fast"])
    assert any(r.column == "users.email" or "email" in r.column for r in rejects["--fast"])
    assert outputs["--fast"].splitlines()[-1].split(" in ")[0] == outputs["--no-fast"].splitlines()[-1].split(" in ")[0]
    _same(contents["--fast"], contents["--no-fast"], "fast vs the mapper's way")


def test_copy_text_of_constants_and_escapes() -> None:
    assert escape("a\tb\\c\nd\re") == "a\\tb\\\\c\\nd\\re"
    assert pg_text(None) == "\\N"
    assert pg_text(True) == "t"
    assert pg_text(False) == "f"
    assert pg_text(0) == "0"
    assert pg_text(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2024-01-02T03:04:05+00:00"
    assert pg_text(datetime(2024, 1, 2)) is None  # naive: not written by the fast path
    assert pg_text([]) == "{}"
    assert pg_text(["a"]) is None
    assert pg_text(object()) is None
