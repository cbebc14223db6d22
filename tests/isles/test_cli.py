"""The isles command, run as a real process."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from hrms import demo
from hrms.system import build as build_hrms
from tests.support import AUTH, isles_up

ISLES = [sys.executable, "-m", "isles.cli"]


def _tree() -> tuple[list[list[str]], list[list[str]]]:
    """Every command of the ``isles`` app (walked from the app itself, so a new command
    is covered the day it is added), and which of them are groups."""
    import typer

    from isles.cli.main import app

    commands: list[list[str]] = []
    groups: list[list[str]] = []

    def walk(cmd: Any, path: list[str]) -> None:
        commands.append(path)
        subs = getattr(cmd, "commands", None)  # a group (typer's own click: no isinstance)
        if subs is not None:
            if path:
                groups.append(path)
            for name, sub in sorted(subs.items()):
                if not sub.hidden:
                    walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return commands, groups


COMMANDS, GROUPS = _tree()


def test_the_walk_finds_every_command_group_and_the_newest_commands() -> None:
    names = {" ".join(c) for c in COMMANDS}
    assert {"up", "serve", "migrate upgrade", "audit", "map", "split plan", "split check", "backup", "restore"} <= names
    assert ["split"] in GROUPS


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "isles")
def test_every_command_has_help_with_an_example(command: list[str]) -> None:
    from typer.testing import CliRunner

    from isles.cli.main import app

    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    if command:  # every command and every group of them (a newcomer's trial: no group had one)
        assert "Example: " in result.output, " ".join(command)


def test_the_help_of_the_real_process() -> None:
    result = subprocess.run([*ISLES, "audit", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
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


@pytest.mark.parametrize("command", [["migrate", "status"], ["services"], ["audit"]])
def test_a_database_isles_does_not_run_on_is_one_line_exit_2(tmp_path: Path, command: list[str]) -> None:
    """A newcomer's trial: `--database-url 'mysql://x@y/{service}'` ended in a traceback
    (DatabaseConfigError) where the docs promise one line on stderr."""
    result = subprocess.run(
        [*ISLES, *command, "--database-url", "mysql://x@y/{service}"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == ["error: auth: unsupported database 'mysql'"]


@pytest.mark.parametrize(
    ("command", "said"),
    [
        (["migrate", "upgrade"], "cannot make the folder of auth's database"),
        (["up"], "cannot make the keys folder"),
        (["backup", "--to", "{tmp}/backups"], "auth: no SQLite database at /proc/isles-x/auth.db"),
    ],
)
def test_a_data_folder_that_cannot_be_made_is_one_line_exit_2(tmp_path: Path, command: list[str], said: str) -> None:
    """A trial: ``--data-dir /proc/x`` ended in ``database error`` with exit 1 (migrate),
    a traceback (up), exit 1 (backup). A folder that cannot be made is bad input."""
    argv = [part.replace("{tmp}", str(tmp_path)) for part in command]
    result = subprocess.run(
        [*ISLES, *argv, "--data-dir", "/proc/isles-x"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "ISLES_STATE_FILE": str(tmp_path / "state.json")},
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines
    assert said in lines[0], lines
    assert not (tmp_path / "backups").exists() or not any((tmp_path / "backups").iterdir())


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


@pytest.mark.e2e
def test_after_up_elsewhere_the_other_commands_find_the_system(tmp_path: Path) -> None:
    """Issue 15, 1 and 3: `isles up --data-dir X`, then `isles token` and `isles sagas list`
    with no flag and no ISLES_DATA_DIR work on X; a second start says where the logins are."""
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k not in ("ISLES_DATA_DIR", "ISLES_KEYS_DIR")}
    env["ISLES_KEYS_DIR"] = str(data / "keys")  # what `make up` leaves: the keys beside the data
    with isles_up("--data-dir", str(data), env=env) as (proc, base):
        bare = {k: v for k, v in env.items() if k != "ISLES_KEYS_DIR"}
        token = subprocess.run([*ISLES, "token"], capture_output=True, text=True, timeout=60, env=bare)
        assert token.returncode == 0, token.stderr
        headers = {"Authorization": f"Bearer {token.stdout.strip()}"}
        assert httpx.get(f"{base}/api/company/companies", headers=headers).status_code == 200
        sagas = subprocess.run([*ISLES, "sagas", "list", "-w"], capture_output=True, text=True, timeout=60, env=bare)
        assert sagas.returncode == 0, sagas.stderr
        assert "employee.CreateEmployee" in sagas.stdout, "the demo's sagas, from the data folder up used"
        url = subprocess.run([*ISLES, "status", "--url"], capture_output=True, text=True, timeout=60, env=bare)
        assert url.stdout.strip() == base
        running = subprocess.run([*ISLES, "status"], capture_output=True, text=True, timeout=60, env=bare)
        assert "running" in running.stdout
        assert str(data.resolve()) in running.stdout
        proc.send_signal(signal.SIGTERM)
        first, _ = proc.communicate(timeout=30)
    assert f"export ISLES_DATA_DIR={data.resolve()}" in first
    stopped = subprocess.run([*ISLES, "status"], capture_output=True, text=True, timeout=60, env=env)
    assert "stopped" in stopped.stdout
    with isles_up("--data-dir", str(data), env=env) as (proc, base):
        proc.send_signal(signal.SIGTERM)
        again, _ = proc.communicate(timeout=30)
    assert f"logins    in {data.resolve() / 'demo-credentials.txt'}" in again
    assert f"keys      {(data / 'keys').resolve()}" in again
    assert f"mail      {(data / 'mail').resolve()}" in again


@pytest.mark.parametrize(
    "command", [["sagas", "list"], ["dlq", "list"], ["dlq", "show", "-s", "project", str(uuid.uuid4())]]
)
def test_a_read_only_command_creates_no_database_and_names_the_missing_one(tmp_path: Path, command: list[str]) -> None:
    """Issue 15, 2."""
    empty = tmp_path / "nothing-here"
    result = subprocess.run([*ISLES, *command, "--data-dir", str(empty)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"no database at sqlite+aiosqlite:///{empty.resolve()}/" in lines[0]
    assert "--data-dir" in lines[0]
    assert not empty.exists() or not list(empty.iterdir()), "nothing was created"


def test_migrate_status_on_no_databases_says_so_and_creates_none(tmp_path: Path) -> None:
    empty = tmp_path / "nothing-here"
    result = subprocess.run(
        [*ISLES, "migrate", "status", "--data-dir", str(empty)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("no database at") == len(build_hrms().services)
    assert "pending" not in result.stdout
    assert "is the system elsewhere" in result.stderr
    assert not empty.exists() or not list(empty.iterdir())


def test_a_migrated_but_foreign_database_is_named(tmp_path: Path) -> None:
    (tmp_path / "project.db").write_bytes(b"")
    result = subprocess.run(
        [*ISLES, "dlq", "list", "-s", "project", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "holds no Isles tables; run isles migrate upgrade" in result.stderr


def test_help_starts_without_loading_the_platform() -> None:
    """Issue 15, 5: `--help` is quick because it imports no web, database or settings
    library (commands import what they use when they run)."""
    code = (
        "import sys\n"
        "sys.argv = ['isles', 'sagas', 'list', '--help']\n"
        "from isles.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = ('fastapi', 'sqlalchemy', 'pydantic_settings', 'alembic', 'nats')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Usage: isles sagas list" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_a_commands_log_lines_go_to_stderr_never_into_its_output(tmp_path: Path) -> None:
    """A warning logged while a command runs (here the database layer's 'database.full',
    logged by hand) goes to stderr: the command's stdout stays what it prints (JSON a
    script parses). structlog's default would print it to stdout."""
    script = (
        "import sys, structlog\n"
        "from isles.cli.main import app\n"
        "from isles.cli import common\n"
        "@common.app.command('logtest', hidden=True)\n"
        "def logtest() -> None:\n"
        "    structlog.get_logger('isles.db').warning('database.full', error='too many clients')\n"
        "    print('{\"ok\": true}')\n"
        "app(['--data-dir', sys.argv[1], 'logtest'], prog_name='isles')\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == '{"ok": true}\n'
    assert "database.full" in done.stderr


def test_after_a_command_run_in_process_the_loggers_write_to_the_current_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """CliRunner swaps the streams for a command and closes its own after: the logging
    a command configures must follow sys.stderr, not keep the closed one (a warning
    logged later in the same process raised 'I/O operation on closed file')."""
    import structlog
    from typer.testing import CliRunner

    from isles.cli.main import app

    result = CliRunner().invoke(app, ["--data-dir", str(tmp_path), "keys", "--help"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, ["--system", "shop", "--data-dir", str(tmp_path), "services"])
    assert result.exit_code == 0, result.output
    structlog.get_logger("isles.test").warning("after.the.command")
    assert "after.the.command" in capsys.readouterr().err


def test_a_data_dir_other_than_the_recorded_one_ignores_what_up_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A newcomer's trial: after `isles up --database-url <PostgreSQL>` had recorded its
    system, `isles --data-dir B split run ...` wrote into that system's databases, not B's
    — the recorded URL filled the setting the flag's data folder implies. Another data
    folder is another system: nothing recorded for the first one applies to it."""
    from typer.testing import CliRunner

    from isles.cli.main import app
    from isles.cli.state import State, write

    state = tmp_path / "current.json"
    pg = "postgresql+asyncpg://postgres@127.0.0.1:5432/recorded_{service}"
    a = tmp_path / "a"
    write(state, State("hrms.system:build", "http://127.0.0.1:1", 1, str(a), str(a / "keys"), pg))
    monkeypatch.setenv("ISLES_STATE_FILE", str(state))
    monkeypatch.delenv("ISLES_DATA_DIR", raising=False)
    monkeypatch.delenv("ISLES_DATABASE_URL", raising=False)
    env = {"COLUMNS": "400"}
    elsewhere = CliRunner().invoke(app, ["--data-dir", str(tmp_path / "b"), "services"], env=env)
    assert elsewhere.exit_code == 0, elsewhere.output
    assert "recorded_" not in elsewhere.stdout
    assert "sqlite+aiosqlite:///" in elsewhere.stdout  # b's own files (the table may cut the path)
    same = CliRunner().invoke(app, ["--data-dir", str(tmp_path / "a"), "services"], env=env)
    assert "recorded_auth" in same.stdout, "the recorded folder itself still finds its databases"
    bare = CliRunner().invoke(app, ["services"], env=env)
    assert "recorded_auth" in bare.stdout, "no flag: what up recorded"


def test_the_announcement_says_how_to_find_a_postgresql_system_from_elsewhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A newcomer's trial: ``isles up`` on PostgreSQL said only ``export ISLES_DATA_DIR=...``
    for the other commands elsewhere; with that alone they look for SQLite files."""
    from types import SimpleNamespace

    from sqlalchemy.engine import make_url

    from isles.cli import run as run_cli
    from isles.cli.state import read as read_state
    from isles.core.settings import IslesSettings

    settings = IslesSettings(
        data_dir=tmp_path / "d",
        database_url="postgresql+asyncpg://hr:secret@db.internal:5433/hr_{service}",
        state_file=tmp_path / "state.json",
    )
    employee = "postgresql+asyncpg://hr:secret@db.internal:5433/hr_employee"
    services = {"employee": SimpleNamespace(db=SimpleNamespace(url=make_url(employee)))}
    runtime = SimpleNamespace(settings=settings, system=SimpleNamespace(name="toy"), services=services)
    run_cli._announce(runtime, "http://127.0.0.1:1", [])  # type: ignore[arg-type]
    said = capsys.readouterr().out
    # each service's database as resolved, for a restore to know what it runs on (0600)
    recorded = read_state(tmp_path / "state.json")
    assert recorded is not None
    assert recorded.databases == {"employee": employee}
    assert f"export ISLES_DATA_DIR={(tmp_path / 'd').resolve()}" in said, said
    # pasted as shown it must work: no "***" for a password, which would be taken as one
    assert "ISLES_DATABASE_URL='postgresql+asyncpg://hr@db.internal:5433/hr_{service}'" in said, said
    assert "(with the URL's password, left out here)" in said
    assert "secret" not in said
