"""The preloader (tests/preload.py): a child forked from it is the command, with the
test's arguments, environment and working directory; its exit status and its output
come back; a kill is seen as a kill."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest

from tests import preload, support


def test_a_preloaded_command_runs_with_the_tests_arguments_and_environment(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    env = {**os.environ, "ISLES_KEYS_DIR": str(keys)}
    proc = preload.start(["--system", "shop", "keys", "generate"], env)
    assert proc.wait(timeout=60) == 0, proc.output()
    output, _ = proc.communicate()
    assert str(keys) in output, output
    made = {p.name for p in keys.iterdir()}  # where the child's environment said, not the preloader's
    assert {"order.key", "order.pub", "operator.key", "operator.pub"} <= made, made


def test_a_preloaded_command_exits_with_its_own_code() -> None:
    proc = preload.start(["--system", "no.such.module:build", "services"], dict(os.environ))
    assert proc.wait(timeout=60) == 2
    output, _ = proc.communicate()
    assert "no.such.module" in output, output


@pytest.mark.integration
def test_a_preloaded_server_answers_and_a_kill_is_seen_as_one(tmp_path: Path) -> None:
    args = ("--no-demo", "--system", "shop", "--data-dir", str(tmp_path / "data"))
    with support.isles_up(*args, preloaded=True) as (proc, base):
        assert isinstance(proc, preload.PreloadedProcess)
        assert httpx.get(f"{base}/health", timeout=10).status_code == 200
        assert proc.poll() is None
        proc.kill()
        assert proc.wait(timeout=30) == -signal.SIGKILL
