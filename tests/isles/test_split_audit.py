"""Issue 21: "``isles audit`` passes on the result" of a split. The example monolith
loaded into the HR system (SQLite and PostgreSQL), then ``isles audit`` over every
service's database: every reference resolves (the orphans were skipped, as the plan
decided) and every copy the run filled is at its owner's version: no finding."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.fixtures.monolith import Stats, change_rows, make_monolith, track_updates
from tests.isles.test_split_run import SERVICES, hr_plan, isles, prepare
from tests.support import Templates, make_backend

pytestmark = pytest.mark.integration


@pytest.fixture
def monolith(tmp_path: Path) -> Stats:
    stats = make_monolith(tmp_path / "monolith.sqlite", employees=30, seed=11)
    track_updates(stats.path)
    return stats


@pytest.mark.parametrize("backend_name", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_audit_passes_on_a_split_result(
    backend_name: str, monolith: Stats, templates: Templates, tmp_path: Path
) -> None:
    backend = make_backend(backend_name, tmp_path / "db")
    prepare(backend, templates)
    try:
        plan_file = tmp_path / "plan.toml"
        hr_plan(monolith, plan_file, threshold=0.5)  # a small monolith: its dirt is a bigger share
        ran = isles(backend, "split", "run", "--plan", str(plan_file), str(monolith.path))
        assert ran.exit_code == 0, ran.output
        audited = isles(backend, "audit", "--settle", "0", "--format", "json", "--only", "->", "--only", "<-")
        body = json.loads(audited.stdout)
        findings = {(c["name"], k): n for c in body["checks"] for k, n in c["counts"].items()}
        assert sum(c["checked"] for c in body["checks"]) > 1000
        references = [c for c in body["checks"] if c["kind"] == "reference"]
        assert references
        assert all(c["counts"] == {} for c in references), [c for c in references if c["counts"]]
        assert findings == {}

        # and after the cut-over's --changed (a newcomer's trial: the copies' version
        # stayed the plan's constant while the renamed owner's moved: "stale")
        change_rows(monolith.path, renamed=(3,))
        changed = isles(backend, "split", "run", "--plan", str(plan_file), str(monolith.path), "--changed")
        assert changed.exit_code == 0, changed.output
        updated = re.search(r"(\d+) updated", changed.output)
        assert updated is not None, changed.output
        assert int(updated.group(1)) >= 1, changed.output
        again = isles(backend, "audit", "--settle", "0", "--format", "json")
        body = json.loads(again.stdout)
        assert {(c["name"], k): n for c in body["checks"] for k, n in c["counts"].items()} == {}
    finally:
        backend.drop_later(SERVICES)
