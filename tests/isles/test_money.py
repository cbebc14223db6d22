"""``isles.Money``: sums of money stored exactly on both backends — ``NUMERIC(12, 2)``
on PostgreSQL, integer cents on SQLite (whose NUMERIC keeps a fraction as a binary
float) — compared, sorted and summed exactly, never a float."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Uuid, func, insert, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from isles import LowerCase, Money
from isles.storage.db import connect_waiting
from tests.support import PG_SERVER, drop_in_background, require_postgres

pytestmark = pytest.mark.integration

metadata = MetaData()
prices = Table("prices", metadata, Column("id", Uuid, primary_key=True), Column("amount", Money), Column("n", Integer))
AMOUNTS = [Decimal("0.10"), Decimal("0.20"), Decimal("19.90"), Decimal("100.00"), Decimal("9999999999.99")]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def engine(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        eng = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'money.db'}")
    else:
        require_postgres()

        name = f"isles_t_money_{uuid.uuid4().hex[:8]}"
        admin = await connect_waiting(PG_SERVER.replace("postgresql+asyncpg", "postgresql") + "/postgres")
        await admin.execute(f'CREATE DATABASE "{name}"')
        eng = create_async_engine(f"{PG_SERVER}/{name}")
    async with eng.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield eng
    await eng.dispose()
    if request.param == "postgres":
        await admin.close()
        drop_in_background(f"{PG_SERVER}/{name}")


async def test_amounts_come_back_exact_sorted_and_summed(engine) -> None:  # type: ignore[no-untyped-def]
    async with engine.begin() as conn:
        await conn.execute(insert(prices), [{"id": uuid.uuid4(), "amount": a, "n": 1} for a in reversed(AMOUNTS)])
        got = list(await conn.scalars(select(prices.c.amount).order_by(prices.c.amount)))
        assert got == AMOUNTS
        assert all(isinstance(a, Decimal) and a.as_tuple().exponent == -2 for a in got)
        assert await conn.scalar(select(func.sum(prices.c.amount))) == sum(AMOUNTS)
        cheap = await conn.scalars(
            select(prices.c.amount).where(prices.c.amount < Decimal("19.90")).order_by(prices.c.amount)
        )
        assert list(cheap) == [Decimal("0.10"), Decimal("0.20")]
        raw = (await conn.execute(text("SELECT amount FROM prices WHERE n = 1 ORDER BY amount LIMIT 1"))).scalar()
        assert not isinstance(raw, float), "the database holds no float"


async def test_a_float_or_a_third_decimal_is_refused_not_rounded(engine) -> None:  # type: ignore[no-untyped-def]
    async with engine.begin() as conn:
        with pytest.raises(Exception, match="never a float"):
            await conn.execute(insert(prices).values(id=uuid.uuid4(), amount=0.1))
    async with engine.begin() as conn:
        with pytest.raises(Exception, match="more than two decimal places"):
            await conn.execute(insert(prices).values(id=uuid.uuid4(), amount=Decimal("1.005")))


def test_a_revision_writes_it_through_the_facade() -> None:
    assert repr(Money()) == "Money()"


emails = Table("emails", metadata, Column("id", Uuid, primary_key=True), Column("email", LowerCase(255)))


async def test_a_lower_case_column_keeps_one_form_whoever_writes_it(engine) -> None:  # type: ignore[no-untyped-def]
    """``isles.LowerCase``: stored lower-case and stripped whatever writes it (a split
    from a monolith's ``Ada@Example.COM`` included: its users could not log in, the
    service comparing the lower-cased address a login gives), and a query comparing with
    it compares that form."""
    async with engine.begin() as conn:
        await conn.execute(insert(emails), [{"id": uuid.uuid4(), "email": " Ada@Example.COM "}])
        raw = (await conn.execute(text("SELECT email FROM emails"))).scalar()
        assert raw == "ada@example.com"
        found = await conn.scalar(select(func.count()).select_from(emails).where(emails.c.email == "ADA@example.com"))
        assert found == 1
