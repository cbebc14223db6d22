"""``isles sagas list|show|retry`` on the toy shop (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from isles.cli.main import app
from isles.core import failpoints
from isles.runtime.system import SystemRuntime
from isles.sagas import SagaStatus
from tests.isles import sagatoy
from tests.isles.test_sagas import ORDER, SAGA_FAST
from tests.support import Backend, make_backend

pytestmark = pytest.mark.integration

SYSTEM = "tests.isles.sagatoy:build"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def made(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Backend, list[str], dict[str, str]]]:
    """A completed saga and a failed (parked) one, written by a runtime now stopped."""
    backend = make_backend(request.param, tmp_path, **SAGA_FAST)

    async def make() -> dict[str, str]:
        runtime = SystemRuntime(sagatoy.build(), backend.settings, environ={})
        sagatoy.bind(runtime)
        await runtime.start()
        try:
            runner = runtime["shop"].sagas
            assert runner is not None
            done = await runner.wait(await runner.begin("shop.PlaceOrder", ORDER), 20)
            failpoints.configure({"saga.shop.PlaceOrder.credit.before": "refuse", "ledger.entries.delete": "raise"})
            parked = await runner.wait(await runner.begin("shop.PlaceOrder", ORDER), 20)
            failpoints.clear()
            assert (done.status, parked.status) == (SagaStatus.COMPLETED, SagaStatus.FAILED)
            return {"done": str(done.id), "parked": str(parked.id)}
        finally:
            await runtime.stop()

    ids = asyncio.run(make())
    where = ["--database-url", backend.settings.database_url] if backend.settings.database_url else []
    where += ["--data-dir", str(tmp_path), "--system", SYSTEM]
    yield backend, where, ids
    backend.drop_later(["ledger", "shop"])


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})
    # JSON on stdout alone: the logs (stderr) may say something meanwhile
    return result.exit_code, result.stdout if "--json" in args else result.output


def test_list_shows_every_saga_and_filters_by_status(made: tuple[Backend, list[str], dict[str, str]]) -> None:
    _backend, where, ids = made
    code, output = run("sagas", "list", *where)
    assert code == 0, output
    assert ids["done"] in output
    assert ids["parked"] in output
    assert "2 saga(s)" in output
    code, output = run("sagas", "list", "--status", "failed", "--json", *where)
    assert code == 0, output
    rows = [json.loads(line) for line in output.splitlines()]
    assert [(r["id"], r["status"], r["service"]) for r in rows] == [(ids["parked"], "failed", "shop")]
    assert rows[0]["steps"][0]["status"] == "parked"


def test_show_gives_each_step_and_the_operators_next_move(made: tuple[Backend, list[str], dict[str, str]]) -> None:
    _backend, where, ids = made
    code, output = run("sagas", "show", ids["parked"], *where)
    assert code == 0, output
    for expected in ("shop.PlaceOrder", "failed", "debit", "parked", "ServiceUnavailable", "isles sagas retry"):
        assert expected in output
    code, output = run("sagas", "show", ids["done"], "--json", *where)
    assert code == 0, output
    shown = json.loads(output)
    assert [s["status"] for s in shown["steps"]] == ["completed"] * 4


def test_retry_sends_a_failed_saga_back_to_compensating_and_a_restart_finishes_it(
    made: tuple[Backend, list[str], dict[str, str]],
) -> None:
    backend, where, ids = made
    code, output = run("sagas", "retry", ids["parked"], "--service", "shop", *where)
    assert code == 0, output
    assert "was failed; compensation resumes" in output
    code, output = run("sagas", "retry", ids["done"], "--service", "shop", *where)
    assert "nothing to retry" in output

    async def resume() -> SagaStatus:
        runtime = SystemRuntime(sagatoy.build(), backend.settings, environ={})
        sagatoy.bind(runtime)
        await runtime.start()
        try:
            runner = runtime["shop"].sagas
            assert runner is not None
            state = await runner.wait(uuid.UUID(ids["parked"]), 20)
            assert await sagatoy.entry_count(runtime["ledger"]) == 2, "the first order's entries only"
            return state.status
        finally:
            await runtime.stop()

    assert asyncio.run(resume()) is SagaStatus.COMPENSATED


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("sagas", "show", "not-a-uuid"), "is not a saga id"),
        (("sagas", "show", str(uuid.UUID(int=1))), "no saga"),
        (("sagas", "retry", str(uuid.UUID(int=1)), "--service", "shop"), "no saga"),
        (("sagas", "list", "--service", "ledger"), "ledger orchestrates no sagas"),
        (("sagas", "list", "--service", "nope"), "no service 'nope'"),
        (("sagas", "list", "--status", "sleeping"), "--status 'sleeping'"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    made: tuple[Backend, list[str], dict[str, str]], args: tuple[str, ...], message: str
) -> None:
    _backend, where, _ids = made
    code, output = run(*args, *where)
    assert code == 2, output
    assert message in output
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) == 1, output


def test_sagas_commands_open_only_databases_never_the_runtime(
    made: tuple[Backend, list[str], dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _backend, where, ids = made

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("a sagas command built the whole runtime")

    monkeypatch.setattr(SystemRuntime, "__init__", refuse)
    code, output = run("sagas", "list", *where)
    assert code == 0, output
    assert "2 saga(s)" in output
    code, output = run("sagas", "show", ids["parked"], *where)
    assert code == 0, output
    code, output = run("sagas", "retry", ids["parked"], "--service", "shop", *where)
    assert code == 0, output
    assert "was failed; compensation resumes" in output


def test_ids_are_whole_at_80_columns_and_their_first_digits_find_a_saga(
    made: tuple[Backend, list[str], dict[str, str]],
) -> None:
    """Issue 15, 4."""
    _backend, where, ids = made
    narrow = CliRunner().invoke(app, ["sagas", "list", *where], env={"COLUMNS": "80"})
    assert narrow.exit_code == 0, narrow.output
    assert ids["done"] in narrow.output
    assert ids["parked"] in narrow.output
    code, output = run("sagas", "show", ids["parked"][:8], *where)
    assert code == 0, output
    assert ids["parked"] in output
    code, output = run("sagas", "show", ids["parked"][:13].upper(), "--json", *where)
    assert code == 0, output
    assert json.loads(output)["id"] == ids["parked"]
    code, output = run("sagas", "retry", ids["parked"][:6], "-s", "shop", *where)
    assert code == 0, output
    assert "was failed" in output
    unknown = next(p for p in ("0000", "ffff", "abcd") if not any(i.startswith(p) for i in ids.values()))
    code, output = run("sagas", "show", unknown, *where)
    assert code == 2
    assert f"no saga id starts with '{unknown}'" in output
    code, output = run("sagas", "show", "ab", *where)
    assert code == 2
    assert "first 4 or more hex digits" in output
