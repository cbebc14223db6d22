"""`isles migrate revision` writes column types the ``isles`` facade names as
``isles.<Type>()`` (with ``import isles``), so a service's history never names the
platform's internal modules, and the revision it wrote runs."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from fastapi import APIRouter

import isles
from isles.core.settings import IslesSettings
from isles.storage import migrations

pytestmark = pytest.mark.integration
TEMPLATE = Path(__file__).resolve().parents[2] / "src/hrms/services/project/migrations/script.py.mako"

MODELS = """
import sqlalchemy as sa
import isles

metadata = isles.new_metadata()
sa.Table(
    "notes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("written_at", isles.UTCDateTime(), nullable=False),
    sa.Column("tags", isles.StringList(), nullable=False),
)
"""


async def test_a_new_revision_names_platform_types_through_the_facade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "notes_models.py"
    package.write_text(textwrap.dedent(MODELS))
    monkeypatch.syspath_prepend(str(tmp_path))
    history = tmp_path / "migrations"
    (history / "versions").mkdir(parents=True)
    (history / "env.py").write_text(
        "from notes_models import metadata\nfrom isles import run_env\n\nrun_env(metadata)\n"
    )
    (history / "script.py.mako").write_text(TEMPLATE.read_text())
    import notes_models

    service = isles.Service(name="notes", metadata=notes_models.metadata, router=APIRouter(), migrations=history)
    db = isles.ServiceDatabase("notes", f"sqlite+aiosqlite:///{tmp_path}/notes.db", IslesSettings(data_dir=tmp_path))
    try:
        await migrations.revision(db, service, "first", "0001")
        (written,) = (history / "versions").glob("0001_*.py")
        text = written.read_text()
        assert "isles.UTCDateTime(timezone=True)" in text
        assert "isles.StringList()" in text
        assert "isles.storage.schema" not in text, "no internal module named"
        assert text.count("\nimport isles\n") == 1
        await migrations.upgrade(db, service)
        assert (await migrations.status(db, service)).current == "0001"
    finally:
        await db.dispose()
        sys.modules.pop("notes_models", None)
