"""A command that only reads a system's declarations (``isles split``, ``isles migrate``,
``isles services``, ``isles keys``) loads neither the web stack nor the HTTP client:
every process pays its imports, and these two were a third of the start (about 1 s
of CPU per process on this machine). The declarations name their routers, demo data,
saga runner and service clients lazily; this keeps it so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

HEAVY = ["fastapi", "starlette", "httpx", "isles.sagas.runner", "isles.clients.service", "isles.http.paging"]


@pytest.mark.parametrize("system", ["hrms.system:build", "shop.system:build"])
def test_loading_a_system_imports_neither_the_web_stack_nor_the_http_client(system: str) -> None:
    module, function = system.split(":")
    code = (
        "import importlib, json, sys\n"
        f"built = getattr(importlib.import_module({module!r}), {function!r})()\n"
        "tables = sum(len(s.metadata.tables) for s in built.services)\n"
        f"print(json.dumps({{'tables': tables, 'loaded': [m for m in {HEAVY!r} if m in sys.modules]}}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["tables"] > 10, "the system's services and their tables were loaded"
    assert found["loaded"] == [], f"loading {system} imported {found['loaded']}"
