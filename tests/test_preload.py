"""The preloader (tests/preload.py): a child forked from it is the command, with the
test's arguments, environment and working directory; its exit status and its output
come back; a kill is seen as a kill."""

from __future__ import annotations

import contextlib
import os
import signal
import time
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


def _gone(pid: int) -> bool:
    """True once ``pid`` is no process (or an unreaped zombie: it runs nothing)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.integration
def test_the_children_go_with_the_preloader_when_its_test_process_does(tmp_path: Path) -> None:
    """A test process killed (a run stopped by a timeout) closes its preloader's stdin;
    the servers forked for it must not run on, polling the databases of a run that is
    over (fifteen of them were found running beside the next run)."""
    preloader = preload._Preloader()
    port = support.free_port()
    args = ["up", "--no-demo", "--system", "shop", "--port", str(port), "--data-dir", str(tmp_path / "data")]
    proc = preloader.start(args, dict(os.environ))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # up and serving: a server that would run on
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            assert proc.poll() is None, proc.output()
            time.sleep(0.1)
        assert proc.poll() is None, proc.output()
        preloader._stop()  # what the test process's death does: the preloader's stdin closes
        deadline = time.monotonic() + 30
        while not _gone(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _gone(proc.pid), f"the preloaded server {proc.pid} outlived its preloader"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
