"""``isles audit`` on a folder that holds only part of a system: one line naming the
first service whose database is not there, exit 2, and nothing made (a newcomer's trial:
the audit failed on a missing table and left an empty SQLite file for the service, which
a later restore then refused as a target holding data)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from isles.cli.main import app
from tests.support import PG_SERVER, require_postgres


def test_an_audit_of_a_folder_without_a_services_database_makes_none(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "source.db").close()  # one of the toy system's two services
    before = sorted(p.name for p in tmp_path.iterdir())
    result = CliRunner().invoke(
        app, ["--system", "tests.isles.toy:build", "--data-dir", str(tmp_path), "audit"], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: sink: no database at "), result.output
    assert "makes none" in result.output.replace("\n", "")
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.postgres
def test_an_audit_refused_by_the_server_is_one_line() -> None:
    """A role the server refuses (a review found a traceback: asyncpg's own error, from
    the check that the databases are there)."""
    require_postgres()
    url = PG_SERVER.replace("postgres@", "isles_no_such_role@") + "/isles_none_{service}"
    result = CliRunner().invoke(
        app, ["--system", "tests.isles.toy:build", "--database-url", url, "audit"], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: database error: source: "), result.output
    assert "isles_no_such_role" in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
