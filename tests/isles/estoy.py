"""A one-service toy kept by event sourcing, for the event store tests: an account
(opened, deposited, withdrawn; never below zero) stored as its events, with the
``accounts`` projection (balance and movements) kept from them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from fastapi import APIRouter
from sqlalchemy import Integer, String, Uuid, insert, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from isles.core.events import Event
from isles.service.declaration import Service, System
from isles.storage.eventstore import EventSourced, EventStore, Projection, StoredEvent
from isles.storage.schema import UTCDateTime, new_metadata

metadata = new_metadata()


class Base(DeclarativeBase):
    metadata = metadata


class Account(Base):  # the projection's table
    __tablename__ = "accounts"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))
    balance: Mapped[int] = mapped_column(Integer)
    movements: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Opened(Event):
    event_type: ClassVar[str] = "bank.Opened"
    schema_version: ClassVar[int] = 1
    owner: str


class Deposited(Event):
    event_type: ClassVar[str] = "bank.Deposited"
    schema_version: ClassVar[int] = 1
    amount: int


class Withdrawn(Event):
    event_type: ClassVar[str] = "bank.Withdrawn"
    schema_version: ClassVar[int] = 1
    amount: int


class Overdrawn(Exception):
    pass


class BankAccount(EventSourced):
    aggregate_type: ClassVar[str] = "account"
    events = (Opened, Deposited, Withdrawn)

    def __init__(self, id: uuid.UUID, tenant_id: str = "") -> None:
        super().__init__(id, tenant_id)
        self.owner = ""
        self.balance = 0

    def apply(self, event: Event) -> None:
        if isinstance(event, Opened):
            self.owner = event.owner
        elif isinstance(event, Deposited):
            self.balance += event.amount
        elif isinstance(event, Withdrawn):
            self.balance -= event.amount

    def withdraw(self, amount: int) -> None:
        if amount > self.balance:
            raise Overdrawn(f"balance {self.balance} < {amount}")
        self.record(Withdrawn(amount=amount))


async def _opened(session: AsyncSession, e: Opened, s: StoredEvent) -> None:
    row = {"owner": e.owner, "balance": 0, "movements": 0, "version": s.version, "updated_at": s.created_at}
    await session.execute(insert(Account).values(id=uuid.UUID(s.aggregate_id), **row))


def _moved(sign: int) -> Any:
    async def handler(session: AsyncSession, e: Deposited | Withdrawn, s: StoredEvent) -> None:
        await session.execute(
            update(Account)
            .where(Account.id == uuid.UUID(s.aggregate_id))
            .values(
                balance=Account.balance + sign * e.amount,
                movements=Account.movements + 1,
                version=s.version,
                updated_at=s.created_at,
            )
        )

    return handler


ACCOUNTS = Projection(
    name="accounts",
    tables=(Account.__table__,),  # type: ignore[arg-type]
    handlers={Opened: _opened, Deposited: _moved(+1), Withdrawn: _moved(-1)},
)
STORE = EventStore(metadata, [BankAccount], [ACCOUNTS])


def build() -> System:
    bank = Service(
        name="bank",
        metadata=metadata,
        router=APIRouter(),
        migrations=None,
        publishes=(Opened, Deposited, Withdrawn),
        event_stores=(STORE,),
    )
    return System(name="estoy", services=[bank])
