"""The isles command, run as a real process."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from hrms import demo
from tests.support import AUTH, isles_up

ISLES = [sys.executable, "-m", "isles.cli"]
COMMANDS = [
    [],
    ["up"],
    ["services"],
    ["migrate"],
    ["migrate", "status"],
    ["migrate", "upgrade"],
    ["migrate", "downgrade"],
    ["migrate", "revision"],
    ["serve"],
    ["db"],
    ["db", "provision"],
    ["dlq"],
    ["dlq", "list"],
    ["dlq", "show"],
    ["dlq", "retry"],
    ["dlq", "drop"],
    ["sagas"],
    ["sagas", "list"],
    ["sagas", "show"],
    ["sagas", "retry"],
    ["keys"],
    ["keys", "generate"],
    ["token"],
    ["lint"],
]
GROUPS = (["migrate"], ["db"], ["dlq"], ["sagas"], ["keys"])


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "isles")
def test_every_command_has_help_with_an_example(command: list[str]) -> None:
    result = subprocess.run([*ISLES, *command, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout
    if command and command not in GROUPS:
        assert "Example" in result.stdout


@pytest.mark.e2e
def test_up_serves_the_system_with_demo_data_and_stops_cleanly(tmp_path: Path) -> None:
    with isles_up("--data-dir", str(tmp_path / "data")) as (proc, base):
        employees = httpx.get(f"{base}/api/employee/employees", headers=AUTH[base]).json()
        assert employees["total"] == demo.EMPLOYEES, "the operator sees both companies"
        assignments = httpx.get(f"{base}/api/project/assignments", headers=AUTH[base]).json()
        assert assignments["total"] == 10
        assert httpx.get(f"{base}/api/employee/openapi.json").json()["info"]["title"] == "employee service"
        assert httpx.get(f"{base}/api/project/docs").status_code == 200
        assert httpx.get(f"{base}/api/employee/employees").status_code == 401, "no token, no data"
        # The demo's admin logs in with the password kept for them, and sees their company only.
        notes = (tmp_path / "data" / "demo-credentials.txt").read_text()
        password = re.search(r"with password (\S+)", notes)
        assert password is not None, notes
        login = {"email": "ada.lovelace@acme.example.com", "password": password.group(1)}
        tokens = httpx.post(f"{base}/api/auth/login", json=login).json()
        admin = {"Authorization": f"Bearer {tokens['access_token']}"}
        mine = httpx.get(f"{base}/api/employee/employees", headers=admin).json()
        assert mine["total"] == 6
        assert {e["company_id"] for e in mine["items"]} == {mine["items"][0]["company_id"]}
        assert (tmp_path / "data" / "employee.db").exists()
        assert (tmp_path / "data" / "project.db").exists()
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert f"{base}/api/employee/docs" in output
    assert "2 companies, 4 teams, 9 employees (and their users), 4 projects" in output
    assert "ada.lovelace@acme.example.com" in output


@pytest.mark.e2e
def test_up_on_a_taken_port_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = subprocess.run(
            [*ISLES, "up", "--port", str(port), "--data-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: port {port} on 127.0.0.1 is in use; choose another with --port"
    ]


def test_bad_database_url_is_one_line_exit_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [*ISLES, "migrate", "status", "--database-url", "postgresql+asyncpg://h/shared"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "{service} placeholder" in result.stderr


def test_make_up_passes_args_through() -> None:
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        ["make", "-n", "-W", ".venv/.installed-stamp", "up", "ARGS=--port 8010 --data-dir /tmp/x"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MAKEFLAGS": ""},
    )
    assert result.returncode == 0, result.stderr
    assert ".venv/bin/isles up --port 8010 --data-dir /tmp/x" in result.stdout


def test_shared_options_are_declared_once_and_taken_before_or_after_the_command(tmp_path: Path) -> None:
    """--system, --data-dir and --database-url belong to the app, not to each command:
    given before or after the command (either form), they mean the same."""
    from isles.cli.common import COMMON_OPTIONS, hoist

    assert hoist(["migrate", "status", "--data-dir", "/x", "-s", "auth"]) == [
        "--data-dir",
        "/x",
        "migrate",
        "status",
        "-s",
        "auth",
    ]
    assert hoist(["sagas", "list", "--database-url=pg://h/{service}", "--", "--system", "y"]) == [
        "--database-url=pg://h/{service}",
        "sagas",
        "list",
        "--",
        "--system",
        "y",
    ]
    source = "".join(p.read_text() for p in (Path(__file__).resolve().parents[2] / "src/isles/cli").glob("*.py"))
    for option in COMMON_OPTIONS:
        assert len(re.findall(rf'typer\.Option\(\s*"{option}"', source)) == 1, f"{option} is declared once"
    outputs = []
    for args in (
        ["--data-dir", str(tmp_path / "d"), "migrate", "upgrade", "-s", "company"],
        ["migrate", "status", "-s", "company", f"--data-dir={tmp_path / 'd'}"],
        [f"--data-dir={tmp_path / 'd'}", "migrate", "status", "-s", "company"],
    ):
        result = subprocess.run([*ISLES, *args], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert "up to date" in outputs[1]
    assert outputs[1] == outputs[2]
    assert (tmp_path / "d" / "company.db").is_file()


def test_a_command_s_help_names_the_shared_options() -> None:
    result = subprocess.run([*ISLES, "dlq", "list", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for option in ("--system", "--data-dir", "--database-url"):
        assert option in result.stdout
