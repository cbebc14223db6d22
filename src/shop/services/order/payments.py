"""The payment-provider adapter and the embedded mode's fake provider.

:class:`PaymentProvider` is what the place-order and cancel sagas need of a provider:
``charge`` with an idempotency key (the same key never charges twice: the provider
answers the first charge again), ``status`` of a charge by its key (how an unknown
outcome is resolved), ``refund`` by the key (idempotent: a refunded charge is not
refunded again).

:class:`FakeProvider` plays a provider in the embedded mode. The buyer's
``payment_method`` token chooses what happens, like a provider's test cards:

=======================  ========================================================
``pm_ok`` (or any other)  captured
``pm_declined``           declined (recorded as declined; nothing charged)
``pm_timeout``            times out, nothing charged (a later lookup finds nothing)
``pm_unknown_then_paid``  times out, but the charge went through: a later lookup says
                          captured
=======================  ========================================================

Its charges are kept in the order database's ``fake_payments`` table, written in
transactions of their own (never the saga step's): a provider is another system, its
charges survive whatever happens to the order service's transaction — and its
process: a saga taken up after a crash finds the charge made before the crash, as it
would at a real provider. An in-memory fake would lose them with the process and
could not show that the saga never charges twice across a restart.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from sqlalchemy import insert, select, update

from isles import ServiceDatabase, UniqueViolation, utcnow
from shop.services.order.models import FakePayment

PROVIDER = "fake"


class PaymentDeclined(Exception):
    """The provider refused the charge (a definite answer: nothing was charged)."""


class PaymentTimeout(Exception):
    """The provider did not answer in time: the charge may or may not have been made."""


@dataclass(frozen=True)
class Charge:
    key: str
    reference: str
    method: str
    amount: Decimal
    currency: str
    status: str  # captured, declined, refunded
    created_at: datetime
    refunded_at: datetime | None = None


class PaymentProvider(Protocol):
    name: str

    async def charge(self, key: str, amount: Decimal, currency: str, method: str) -> Charge: ...

    async def status(self, key: str) -> Charge | None: ...

    async def refund(self, key: str) -> Charge | None: ...


def _charge(row: FakePayment) -> Charge:
    return Charge(
        key=row.key,
        reference=row.reference,
        method=row.method,
        amount=row.amount,
        currency=row.currency,
        status=row.status,
        created_at=row.created_at,
        refunded_at=row.refunded_at,
    )


class FakeProvider:
    name = PROVIDER

    def __init__(self, db: ServiceDatabase) -> None:
        self._db = db

    async def status(self, key: str) -> Charge | None:
        async with self._db.read_session() as session:
            row = await session.get(FakePayment, key)
            return None if row is None else _charge(row)

    async def charge(self, key: str, amount: Decimal, currency: str, method: str) -> Charge:
        existing = await self.status(key)
        if existing is not None:  # the provider's own idempotency: the first answer again
            if existing.status == "declined":
                raise PaymentDeclined(f"the payment method {existing.method} was declined")
            return existing
        if method == "pm_timeout":
            raise PaymentTimeout("the payment provider did not answer (nothing was charged)")
        status = "declined" if method == "pm_declined" else "captured"
        now = utcnow()
        row = {
            "key": key,
            "reference": f"ch_{uuid.uuid4().hex[:24]}",
            "method": method,
            "amount": amount,
            "currency": currency,
            "status": status,
            "created_at": now,
        }
        try:
            async with self._db.writing() as session, session.begin():
                await session.execute(insert(FakePayment).values(**row))
        except UniqueViolation:
            return await self.charge(key, amount, currency, method)  # a racing twin charged it
        if status == "declined":
            raise PaymentDeclined(f"the payment method {method} was declined")
        if method == "pm_unknown_then_paid":
            raise PaymentTimeout("the payment provider did not answer (the charge went through)")
        return Charge(
            key=key,
            reference=str(row["reference"]),
            method=method,
            amount=amount,
            currency=currency,
            status=status,
            created_at=now,
        )

    async def refund(self, key: str) -> Charge | None:
        async with self._db.writing() as session, session.begin():
            row = await session.get(FakePayment, key)
            if row is None or row.status != "captured":
                return None if row is None else _charge(row)
            now = utcnow()
            await session.execute(
                update(FakePayment)
                .where(FakePayment.key == key, FakePayment.status == "captured")
                .values(status="refunded", refunded_at=now)
            )
        return await self.status(key)

    async def charges(self) -> list[Charge]:
        """Every charge (for tests and the demo)."""
        async with self._db.read_session() as session:
            rows = (await session.scalars(select(FakePayment).order_by(FakePayment.created_at))).all()
            return [_charge(r) for r in rows]


def provider_for(db: ServiceDatabase) -> PaymentProvider:
    """The provider of the running service: the fake one (the embedded mode's; a real
    provider's adapter would be chosen here by configuration)."""
    return FakeProvider(db)


def payment_key(order_id: uuid.UUID) -> str:
    """The idempotency key of an order's one charge."""
    return f"order:{order_id}"
