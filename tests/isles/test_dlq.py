"""``isles dlq``: list, show, retry and drop dead letters, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from isles.cli.main import app
from isles.runtime.system import SystemRuntime
from isles.storage.schema import dead_letters_table, inbox_table
from tests.isles import toy
from tests.support import Backend

pytestmark = pytest.mark.integration
runner = CliRunner()


def cli(backend: Backend, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    where = (
        ["--database-url", backend.settings.database_url]
        if backend.settings.database_url
        else ["--data-dir", str(backend.settings.data_dir)]
    )
    result = runner.invoke(
        app, [*args, "--system", "tests.isles.toy:build", *where], env={"COLUMNS": "250", **(env or {})}
    )
    # JSON on stdout alone: the logs (stderr) may say something meanwhile
    return result.exit_code, result.stdout if "--json" in args else result.output


def park(backend: Backend, *numbers: int) -> None:
    async def go() -> None:
        rt = SystemRuntime(toy.build(), backend.settings, environ={})
        await rt.start()
        try:
            await toy.ping(rt["source"], uuid.uuid4(), 0)
            for n in numbers:
                await toy.ping(rt["source"], uuid.uuid4(), n, mode="fail")
            await rt.settle()
        finally:
            await rt.stop()

    asyncio.run(go())


def sink_state(backend: Backend) -> tuple[list[int], list[tuple[str, int]], dict[str, str]]:
    async def go() -> tuple[list[int], list[tuple[str, int]], dict[str, str]]:
        rt = SystemRuntime(toy.build(), backend.settings, environ={})
        try:
            applied = sorted(r.n for r in await toy.applied(rt["sink"]))
            async with rt["sink"].db.read_session() as s:
                letters = [(r.error, r.attempts) for r in (await s.execute(select(dead_letters_table))).all()]
                inbox = {str(r.event_id): r.status for r in (await s.execute(select(inbox_table))).all()}
            return applied, letters, inbox
        finally:
            for srt in rt.services.values():
                await srt.db.dispose()

    return asyncio.run(go())


@pytest.fixture
def parked(backend: Backend) -> Backend:
    park(backend, 1)
    yield backend  # type: ignore[misc]
    backend.drop_later(["source", "sink"])


def test_list_shows_the_dead_letter_and_its_error(parked: Backend) -> None:
    code, output = cli(parked, "dlq", "list")
    assert code == 0, output
    assert "toy.Pinged" in output
    assert "boom on n=1" in output
    assert "1 dead letter(s)" in output
    code, output = cli(parked, "dlq", "list", "--json", "--service", "sink")
    rows = [json.loads(line) for line in output.splitlines()]
    assert [(r["event_type"], r["attempts"]) for r in rows] == [("toy.Pinged", 3)]


def test_retry_that_fails_again_keeps_it_parked_then_a_healed_retry_applies_it_once(parked: Backend) -> None:
    code, output = cli(parked, "dlq", "retry", "--service", "sink", "--all")
    assert code == 1, output
    assert "failed again" in output
    applied, letters, _ = sink_state(parked)
    assert applied == [0]
    assert letters == [("RuntimeError: boom on n=1", 4)], "the attempt is counted, the letter stays"

    code, output = cli(parked, "dlq", "list", "--json", "--service", "sink")
    event_id = json.loads(output)["event_id"]
    code, output = cli(parked, "dlq", "show", event_id, "--service", "sink")
    assert code == 0, output
    assert "Traceback" in output
    code, output = cli(parked, "dlq", "retry", event_id, "--service", "sink", env={"TOY_HEALED": "1"})
    assert code == 0, output
    applied, letters, inbox = sink_state(parked)
    assert applied == [0, 1]
    assert letters == []
    assert inbox[event_id] == "processed"
    code, output = cli(parked, "dlq", "retry", event_id, "--service", "sink", env={"TOY_HEALED": "1"})
    assert code == 2, "nothing left to retry"
    assert sink_state(parked)[0] == [0, 1], "applied once"


def test_drop_deletes_it_for_good(parked: Backend) -> None:
    code, output = cli(parked, "dlq", "drop", "--service", "sink", "--all", "--yes")
    assert code == 0, output
    assert "1 dead letter(s) dropped" in output
    applied, letters, inbox = sink_state(parked)
    assert letters == []
    assert sorted(inbox.values()) == ["dropped", "processed"]
    assert applied == [0]


def test_bad_ids_and_missing_options_are_one_line_errors(parked: Backend) -> None:
    code, output = cli(parked, "dlq", "show", "not-a-uuid", "--service", "sink")
    assert code == 2
    assert "is not a dead-letter id" in output
    code, output = cli(parked, "dlq", "retry", "--service", "sink")
    assert code == 2
    assert "give one dead-letter id, or --all" in output
    code, output = cli(parked, "dlq", "list", "--service", "nope")
    assert code == 2
    assert "no service 'nope'" in output


def test_tooling_commands_open_only_databases_never_the_runtime(
    parked: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listing, showing and dropping dead letters, migration status and the services
    table build no gateway, bus, key ring, relay or consumer."""

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("a tooling command built the whole runtime")

    monkeypatch.setattr(SystemRuntime, "__init__", refuse)
    code, output = cli(parked, "dlq", "list", "--json", "--service", "sink")
    assert code == 0, output
    (row,) = [json.loads(line) for line in output.splitlines()]
    code, output = cli(parked, "dlq", "show", "--service", "sink", row["id"])
    assert code == 0, output
    assert "boom on n=1" in output
    code, output = cli(parked, "migrate", "status")
    assert code == 0, output
    assert "no migration history" in output, "the toy's tables are made from its models"
    code, output = cli(parked, "services")
    assert code == 0, output
    assert "toy.Pinged" in output
    code, output = cli(parked, "dlq", "drop", "--service", "sink", row["id"], "--yes")
    assert code == 0, output
    assert "1 dead letter(s) dropped" in output
