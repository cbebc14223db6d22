"""``isles audit`` on a folder that holds only part of a system: one line naming the
first service whose database is not there, exit 2, and nothing made (a newcomer's trial:
the audit failed on a missing table and left an empty SQLite file for the service, which
a later restore then refused as a target holding data)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from isles.cli.main import app


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
