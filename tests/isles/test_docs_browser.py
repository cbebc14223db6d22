"""The docs pages render in a real browser (headless Chromium), without internet."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import IN_CI, isles_up

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def rendered(url: str, profile: Path) -> str:
    if CHROMIUM is None:
        if IN_CI:
            pytest.fail("chromium is required under CI (.ci/run installs it)")
        pytest.skip("chromium is not installed here")
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.parametrize(
    ("service", "paths"),
    [
        ("employee", {"/employees", "/employees/{employee_id}", "/employees/{employee_id}/deactivate"}),
        ("project", {"/projects", "/projects/{project_id}/complete", "/assignments", "/assignments/{assignment_id}"}),
    ],
)
def test_service_docs_render_every_operation(tmp_path: Path, service: str, paths: set[str]) -> None:
    with isles_up("--data-dir", str(tmp_path / "data"), "--no-demo") as (_proc, base):
        dom = rendered(f"{base}/api/{service}/docs", tmp_path / "profile")
    assert "Unable to render this definition" not in dom
    shown = set(re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', dom))
    assert paths <= shown, f"missing operations: {paths - shown}"
