"""Start ``isles`` processes from a process that has imported the platform once.

A test that kills a server at each of many points (the saga crash tests: over a
hundred starts of ``isles up``) spent most of each start importing: FastAPI, SQLAlchemy,
pydantic's models, the systems' declarations — 2 to 3 s of CPU apiece, and the suite is
CPU-bound. Here a *preloader* process (``python -m tests.preload``, one per test worker,
started at first use) imports all that once and forks a child for each start — what
the standard library's ``multiprocessing`` "forkserver" does. The child is a real
process of its own: it runs the command line's entry point (``isles.cli.entry.main``)
with the test's arguments, environment and working directory, its output goes to a
file, and it is killed and reaped like any process (its exit status comes back through
the preloader, whose child it is). When the test process ends, the preloader's stdin
closes and the children still running are killed with their process groups; a child
also dies with the preloader.

Only the imports are shared: the preloader starts no thread, no event loop, opens no
database; everything a process reads from its environment (settings, failpoints,
keys) is read after the fork, by the child. Tests about starting itself (the CLI's
tests, ``isles up --distributed``) start ``python -m isles.cli`` as before.

The protocol is a JSON line each way on the preloader's stdin and stdout:
``{"start": {"argv": [...], "env": {...}, "cwd": "...", "out": "..."}}`` -> ``{"pid": N}``;
``{"poll": N}`` -> ``{"status": code or null}`` (negative: killed by that signal).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

#: What the preloader imports before it forks anything: the command line, the runtime
#: and the HTTP stack a server runs, and the systems the tests start.
PRELOAD = (
    "isles.cli.entry",
    "isles.cli.main",
    "isles.cli.run",
    "isles.runtime.system",
    "isles.http.gateway",
    "isles.http.serving",
    "isles.sagas.runner",
    "isles.storage.migrations",
    "isles.messaging.nats_bus",
    "isles.clients.service",
    "nats",
    "uvicorn",
    "hrms.system",
    "shop.system",
    "tests.hrms.cluster",
)


def _status(status: int) -> int:
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _die_with_parent() -> None:
    """Be killed when the preloader dies, however it dies (Linux's parent-death signal)."""
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() == 1:  # it died before the signal was asked for
        os._exit(1)


def _child(request: dict[str, Any]) -> None:
    """In the forked child: become the command. Never returns."""
    code = 1
    try:
        out = os.open(request["out"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        os.close(null)
        os.setpgid(0, 0)  # its own group, as a shell would start it
        _die_with_parent()
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as Python starts a process
        for sig in (signal.SIGTERM, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["isles", *request["argv"]]
        from isles.cli.entry import main

        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # what a process would print before dying
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve() -> None:
    """The preloader's loop: import, then answer requests until stdin closes."""
    for name in PRELOAD:
        importlib.import_module(name)
    from tests.hrms.cluster import core

    core()  # the services' modules a system's build imports when it is called
    if threading.active_count() != 1:  # a fork copies one thread: the others' locks would stay held
        raise SystemExit(f"preload: an import started a thread: {threading.enumerate()}")
    gc.collect()
    gc.freeze()  # the children's collector skips what was imported (and their pages stay shared)
    replies = sys.stdout
    done: dict[int, int] = {}
    live: set[int] = set()
    replies.write(json.dumps({"ready": os.getpid()}) + "\n")
    replies.flush()
    for line in sys.stdin:
        request = json.loads(line)
        while True:  # reap whatever has ended, keeping its status for the poll
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            done[pid] = _status(status)
            live.discard(pid)
        if "start" in request:
            pid = os.fork()
            if pid == 0:
                _child(request["start"])
            live.add(pid)
            reply: dict[str, Any] = {"pid": pid}
        else:
            reply = {"status": done.pop(request["poll"], None)}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()
    # stdin closed: the test process has ended (or was killed). What it started and did
    # not stop goes with it, its group too, rather than run on beside the next run.
    for pid in live:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    for pid in live:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


class _Preloader:
    """The client: one preloader per test process, started at first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                root = Path(__file__).resolve().parent.parent
                path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "tests.preload"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    cwd=root,
                    env={**os.environ, "PYTHONPATH": path},
                )
                assert self._proc.stdout is not None
                ready = self._proc.stdout.readline()
                if not ready:
                    raise RuntimeError(f"the preloader ended at its start (exit {self._proc.wait()})")
                atexit.register(self._stop)
            assert self._proc.stdin is not None
            assert self._proc.stdout is not None
            self._proc.stdin.write(json.dumps(request) + "\n")
            self._proc.stdin.flush()
            answer = self._proc.stdout.readline()
            if not answer:
                raise RuntimeError(f"the preloader ended (exit {self._proc.wait()})")
            return dict(json.loads(answer))

    def _stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def start(self, argv: list[str], env: dict[str, str], out: Path | None = None) -> PreloadedProcess:
        if out is None:
            fd, name = tempfile.mkstemp(prefix="isles-preloaded-", suffix=".log")
            os.close(fd)
            out = Path(name)
        pid = self._ask({"start": {"argv": argv, "env": env, "cwd": os.getcwd(), "out": str(out)}})["pid"]
        return PreloadedProcess(self, int(pid), out)

    def poll(self, pid: int) -> int | None:
        status = self._ask({"poll": pid})["status"]
        return None if status is None else int(status)


_PRELOADER = _Preloader()


class PreloadedProcess:
    """A started child, with the part of :class:`subprocess.Popen` the tests use. Its
    output (stdout and stderr together) is in a file, read by :meth:`communicate`."""

    stdout = None  # no pipe: :meth:`output` reads the file

    def __init__(self, preloader: _Preloader, pid: int, out: Path) -> None:
        self._preloader = preloader
        self.pid = pid
        self.returncode: int | None = None
        self._out = out

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._preloader.poll(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(["isles", f"pid {self.pid}"], timeout or 0)
            time.sleep(0.02)
        return code

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # ended, not yet reaped
                os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def output(self) -> str:
        try:
            return self._out.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def communicate(self, timeout: float | None = None) -> tuple[str, None]:
        self.wait(timeout)
        text = self.output()
        self._out.unlink(missing_ok=True)
        return text, None


def start(argv: list[str], env: dict[str, str], out: Path | None = None) -> PreloadedProcess:
    """Start ``isles <argv>`` with ``env`` as a child of this test process's preloader;
    its output is appended to ``out`` (a new temporary file if none)."""
    return _PRELOADER.start(argv, env, out)


if __name__ == "__main__":
    serve()
