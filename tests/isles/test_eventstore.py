"""Event sourcing (``isles.EventStore``, issue 18's generic parts), on SQLite and
PostgreSQL: an aggregate saved as its events with its projection and its published
events in one transaction; a concurrent write refused by its version, not lost; the
projection rebuilt from the events equal to the live one; a drifted projection found
by the check and made right by the rebuild, by command too."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import MetaData, func, select, text, update
from typer.testing import CliRunner

from isles.cli.main import app
from isles.core.problems import Problem
from isles.runtime.system import SystemRuntime
from isles.storage.eventstore import EventStore
from isles.storage.schema import outbox_table
from isles.storage.tenancy import ACROSS_TENANTS
from tests.isles import estoy
from tests.isles.estoy import STORE, Account, BankAccount, Deposited, Opened
from tests.support import Backend, make_backend

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def bank(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[SystemRuntime, Backend]]:
    backend = make_backend(request.param, tmp_path)
    runtime = SystemRuntime(estoy.build(), backend.settings, environ={})
    await runtime.prepare()
    try:
        yield runtime, backend
    finally:
        for rt in runtime.services.values():
            await rt.db.dispose()
        backend.drop_later(["bank"])


async def open_account(runtime: SystemRuntime, owner: str, deposits: list[int]) -> uuid.UUID:
    account = BankAccount(uuid.uuid4())
    account.record(Opened(owner=owner))
    for amount in deposits:
        account.record(Deposited(amount=amount))
    async with runtime["bank"].uow() as uow:
        await STORE.save(uow, account)
        await uow.commit()
    return account.id


async def balance(runtime: SystemRuntime, account_id: uuid.UUID) -> tuple[int, int, int] | None:
    async with runtime["bank"].db.read_session(tenant=ACROSS_TENANTS) as session:
        row = await session.get(Account, account_id)
        return None if row is None else (row.balance, row.movements, row.version)


async def test_an_aggregate_is_its_events_and_its_projection_and_outbox_follow(
    bank: tuple[SystemRuntime, Backend],
) -> None:
    runtime, _ = bank
    account_id = await open_account(runtime, "Ada", [50, 25])
    async with runtime["bank"].db.read_session(tenant=ACROSS_TENANTS) as session:
        stored = await STORE.events_of(session, "account", account_id)
        loaded = await STORE.load(session, BankAccount, account_id)
        published = await session.scalar(select(func.count()).select_from(outbox_table))
    assert [(e.version, e.event_type) for e in stored] == [
        (1, "bank.Opened"),
        (2, "bank.Deposited"),
        (3, "bank.Deposited"),
    ]
    assert loaded is not None
    assert (loaded.owner, loaded.balance, loaded.version) == ("Ada", 75, 3)
    assert await balance(runtime, account_id) == (75, 2, 3)
    assert published == 3, "every stored event is published through the outbox, in the same transaction"


async def test_a_store_may_publish_only_the_public_facts(bank: tuple[SystemRuntime, Backend]) -> None:
    """``publish=`` a set of event types: every event is stored, only those go out."""
    runtime, _ = bank
    only_openings = EventStore(MetaData(), [BankAccount], publish={Opened})
    only_openings.table = STORE.table  # the same event_store table, another publishing rule
    assert only_openings.publishes(Opened)
    assert not only_openings.publishes(Deposited)
    account = BankAccount(uuid.uuid4())
    account.record(Opened(owner="Bo"))
    account.record(Deposited(amount=5))
    async with runtime["bank"].uow() as uow:
        await only_openings.save(uow, account)
        await uow.commit()
    async with runtime["bank"].db.read_session(tenant=ACROSS_TENANTS) as session:
        stored = await STORE.events_of(session, "account", account.id)
        published = list(await session.scalars(select(outbox_table.c.event_type)))
    assert [e.event_type for e in stored] == ["bank.Opened", "bank.Deposited"]
    assert published == ["bank.Opened"]


async def test_a_concurrent_write_to_the_same_aggregate_is_refused_by_its_version(
    bank: tuple[SystemRuntime, Backend],
) -> None:
    runtime, _ = bank
    account_id = await open_account(runtime, "Ada", [100])
    async with runtime["bank"].db.read_session(tenant=ACROSS_TENANTS) as session:
        first = await STORE.load(session, BankAccount, account_id)
        second = await STORE.load(session, BankAccount, account_id)
    assert first is not None
    assert second is not None
    first.withdraw(80)
    second.withdraw(80)  # each alone is fine; both would overdraw
    async with runtime["bank"].uow() as uow:
        await STORE.save(uow, first)
        await uow.commit()
    async with runtime["bank"].uow() as uow:
        with pytest.raises(Problem) as refused:
            await STORE.save(uow, second)
    assert refused.value.status == 409
    assert "changed meanwhile" in str(refused.value.detail)
    async with runtime["bank"].db.read_session(tenant=ACROSS_TENANTS) as session:
        again = await STORE.load(session, BankAccount, account_id)
    assert again is not None
    assert (again.balance, again.version) == (20, 3), "the first write stands, the second left no trace"
    assert await balance(runtime, account_id) == (20, 2, 3)


async def test_racing_writers_one_wins_and_the_loser_retries_on_the_new_version(
    bank: tuple[SystemRuntime, Backend],
) -> None:
    runtime, _ = bank
    account_id = await open_account(runtime, "Ada", [0])

    async def deposit() -> int:
        for attempt in range(1, 50):
            async with runtime["bank"].db.read_session(tenant=ACROSS_TENANTS) as session:
                account = await STORE.load(session, BankAccount, account_id)
            assert account is not None
            account.record(Deposited(amount=1))
            try:
                async with runtime["bank"].uow() as uow:
                    await STORE.save(uow, account)
                    await uow.commit()
                return attempt
            except Problem:
                await asyncio.sleep(0.001 * attempt)
        raise AssertionError("never got through")

    await asyncio.gather(*(deposit() for _ in range(8)))
    assert await balance(runtime, account_id) == (8, 9, 10), "no deposit lost, none applied twice"


async def test_the_projection_rebuilt_from_the_events_is_the_live_one(bank: tuple[SystemRuntime, Backend]) -> None:
    runtime, _ = bank
    STORE.batch_size = 7  # several batches of the stream
    try:
        ids = [await open_account(runtime, f"owner {i}", list(range(i % 4))) for i in range(12)]
        before = [await balance(runtime, i) for i in ids]
        db = runtime["bank"].db
        result = await STORE.check(db, "accounts")
        assert result.agrees, result
        assert result.rows == {"accounts": 12}
        assert result.events == 12 + sum(i % 4 for i in range(12))

        async with db.writing(tenant=ACROSS_TENANTS) as session, session.begin():  # drift: a hand edit, a lost row
            await session.execute(update(Account).where(Account.id == ids[0]).values(balance=999))
            await session.execute(text("DELETE FROM accounts WHERE owner = 'owner 5'"))
        drifted = await STORE.check(db, "accounts")
        assert not drifted.agrees
        assert drifted.different["accounts"] == [str(ids[0])]
        assert drifted.missing["accounts"] == [str(ids[5])]
        assert await balance(runtime, ids[0]) == (999, 0, 1)

        assert await STORE.rebuild(db, "accounts") == result.events
        assert [await balance(runtime, i) for i in ids] == before
        assert (await STORE.check(db, "accounts")).agrees
    finally:
        STORE.batch_size = 2000


async def test_isles_projections_lists_checks_and_rebuilds(bank: tuple[SystemRuntime, Backend]) -> None:
    runtime, backend = bank
    account_id = await open_account(runtime, "Ada", [5])
    where = ["--database-url", backend.settings.database_url] if backend.settings.database_url else []
    where += ["--data-dir", str(backend.settings.data_dir), "--system", "tests.isles.estoy:build"]

    async def cli(*args: str) -> tuple[int, str]:  # the command runs its own event loop: in a thread
        result = await asyncio.to_thread(CliRunner().invoke, app, [*args, *where], env={"COLUMNS": "200"})
        return result.exit_code, result.output

    code, output = await cli("projections", "list")
    assert (code, "bank.accounts" in output, "account" in output) == (0, True, True), output
    code, output = await cli("projections", "check", "bank.accounts")
    assert (code, "accounts: 1 row(s) from 2 event(s): agrees" in output) == (0, True), output

    async with runtime["bank"].db.writing(tenant=ACROSS_TENANTS) as session, session.begin():
        await session.execute(update(Account).values(balance=0))
    code, output = await cli("projections", "check", "bank.accounts")
    assert code == 1
    assert f"different {account_id}" in output
    assert "isles projections rebuild bank.accounts" in output
    code, output = await cli("projections", "rebuild", "bank.accounts")
    assert (code, "bank.accounts: rebuilt from 2 event(s)" in output) == (0, True), output
    assert (await cli("projections", "check", "bank.accounts"))[0] == 0
    code, output = await cli("projections", "check", "bank.nope")
    assert code == 2
    assert "no projection 'bank.nope'" in output
