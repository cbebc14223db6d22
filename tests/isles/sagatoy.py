"""A two-service toy for saga tests, on real databases.

``ledger`` is a participant: it books entries (idempotent ``POST /entries``, undone by
``DELETE /entries/{id}`` with ``Isles-Compensates``), files approval requests and
publishes ``ApprovalDecided`` when one is decided. ``shop`` orchestrates
``shop.PlaceOrder``: debit the customer (ledger), record the order (local), [wait for
an approval (deferred)], credit the shop (ledger), confirm (local).
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlalchemy import Integer, String, Uuid, delete, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from isles.core import failpoints
from isles.core.events import Event
from isles.core.problems import FieldError, Problem, invalid, not_found
from isles.http.context import Context
from isles.http.idempotency import Idempotent
from isles.messaging.consumer import Handler, HandlerContext
from isles.runtime.system import ServiceRuntime
from isles.sagas import Saga, Step, StepContext, StepFailed
from isles.service.declaration import Service, System
from isles.storage.schema import new_metadata

ledger_md = new_metadata()
shop_md = new_metadata()


class LedgerBase(DeclarativeBase):
    metadata = ledger_md


class ShopBase(DeclarativeBase):
    metadata = shop_md


class Entry(LedgerBase):
    __tablename__ = "entries"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    account: Mapped[str] = mapped_column(String(50))
    amount: Mapped[int] = mapped_column(Integer)


class Approval(LedgerBase):
    __tablename__ = "approvals"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    saga_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    step: Mapped[str] = mapped_column(String(100))
    token: Mapped[str] = mapped_column(String(200))
    callback: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer, default=0)


class Order(ShopBase):
    __tablename__ = "orders"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    item: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20))


class ApprovalDecided(Event):
    event_type: ClassVar[str] = "ledger.ApprovalDecided"
    saga_id: uuid.UUID
    step: str
    approved: bool


class EntryIn(BaseModel):
    id: uuid.UUID
    account: str
    amount: int


class ApprovalIn(BaseModel):
    saga_id: uuid.UUID
    step: str
    token: str
    callback: str


Rt = Context
ledger_router = APIRouter()


@ledger_router.post("/entries", status_code=201)
async def post_entry(body: EntryIn, idem: Idempotent, rt: Rt) -> Response:
    async def work(uow: Any) -> dict[str, Any]:
        await failpoints.hit("ledger.entries.post")
        if body.amount == 0:
            raise invalid([FieldError("amount", "must not be zero", "zero")])
        uow.session.add(Entry(id=body.id, account=body.account, amount=body.amount))
        await uow.commit()
        return {"id": str(body.id), "account": body.account, "amount": body.amount}

    return await idem.run(rt.uow, work, status_code=201)


@ledger_router.delete("/entries/{entry_id}", status_code=204)
async def delete_entry(entry_id: uuid.UUID, idem: Idempotent, rt: Rt) -> Response:
    async def work(uow: Any) -> None:
        await failpoints.hit("ledger.entries.delete")
        entry = await uow.session.get(Entry, entry_id)
        if entry is None:
            raise not_found("entry", entry_id)
        await uow.session.delete(entry)
        await uow.commit()

    return await idem.run(rt.uow, work, status_code=204)


@ledger_router.post("/approvals", status_code=202)
async def ask_approval(body: ApprovalIn, idem: Idempotent, rt: Rt) -> Response:
    async def work(uow: Any) -> dict[str, str]:
        approval = Approval(id=uuid.uuid4(), status="asked", **body.model_dump())
        uow.session.add(approval)
        await uow.commit()
        return {"id": str(approval.id)}

    return await idem.run(rt.uow, work, status_code=202)


@ledger_router.post("/approvals/{approval_id}/decide")
async def decide(approval_id: uuid.UUID, approved: bool, rt: Rt) -> dict[str, str]:
    async with rt.uow() as uow:
        approval = await uow.session.get(Approval, approval_id)
        if approval is None:
            raise not_found("approval", approval_id)
        approval.status = "approved" if approved else "refused"
        event = ApprovalDecided(saga_id=approval.saga_id, step=approval.step, approved=approved)
        uow.emit(event, aggregate=approval, aggregate_type="approval")
        await uow.commit()
    return {"status": approval.status}


# -- the saga -----------------------------------------------------------------


def _entry_id(ctx: StepContext) -> uuid.UUID:
    return uuid.uuid5(ctx.saga_id, ctx.step)


async def debit(ctx: StepContext) -> Any:
    body = {"id": str(_entry_id(ctx)), "account": ctx.data["customer"], "amount": -ctx.data["amount"]}
    r = await ctx.client("ledger").request("POST", "/entries", json=body, idempotency_key=ctx.key)
    return r.json()


async def undo_entry(ctx: StepContext) -> None:
    await ctx.client("ledger").request(
        "DELETE", f"/entries/{_entry_id(ctx)}", idempotency_key=ctx.key, compensates=ctx.action_key
    )


async def record(ctx: StepContext) -> Any:
    if ctx.data.get("item") == "forbidden":
        raise StepFailed(invalid([FieldError("item", "this item is not sold", "forbidden")]))
    order = Order(id=uuid.uuid5(ctx.saga_id, "order"), item=ctx.data["item"], status="pending")
    ctx.uow.session.add(order)
    await ctx.uow.commit()
    return {"order_id": str(order.id)}


async def unrecord(ctx: StepContext) -> None:
    await ctx.uow.session.execute(delete(Order).where(Order.id == uuid.UUID(ctx.result["order_id"])))
    await ctx.uow.commit()


async def ask(ctx: StepContext) -> Any:
    body = {"saga_id": str(ctx.saga_id), "step": ctx.step, "token": ctx.callback_token, "callback": ctx.callback_path}
    r = await ctx.client("ledger").request("POST", "/approvals", json=body, idempotency_key=ctx.key)
    return r.json()


async def credit(ctx: StepContext) -> Any:
    body = {"id": str(_entry_id(ctx)), "account": "shop", "amount": ctx.data["amount"]}
    r = await ctx.client("ledger").request("POST", "/entries", json=body, idempotency_key=ctx.key)
    return r.json()


async def confirm(ctx: StepContext) -> Any:
    order = await ctx.uow.session.get(Order, uuid.UUID(ctx.results["record"]["order_id"]))
    if order is None:
        raise Problem(409, "order vanished")
    order.status = "confirmed"
    await ctx.uow.commit()
    return {"order_id": str(order.id), "status": order.status}


def place_order(*, deferred: bool = False, deadline: float = 60.0, timeout: float = 2.0) -> Saga:
    steps = [
        Step("debit", debit, undo_entry, timeout=timeout, max_attempts=3, compensation_attempts=3),
        Step("record", record, unrecord, local=True),
    ]
    if deferred:
        steps.append(Step("approve", ask, None, deferred=True, deadline=deadline, timeout=timeout))
    steps += [
        Step("credit", credit, undo_entry, timeout=timeout, max_attempts=3, compensation_attempts=3),
        Step("confirm", confirm, local=True),
    ]
    return Saga("shop.PlaceOrder" if not deferred else "shop.PlaceBigOrder", tuple(steps))


async def on_decided(ctx: HandlerContext, event: ApprovalDecided) -> None:
    runner = _SHOP[0].sagas
    assert runner is not None
    problem = None if event.approved else Problem(422, "approval refused", slug="refused")
    await runner.resolve(event.saga_id, event.step, result={"approved": True}, problem=problem, uow=ctx.uow)


_SHOP: list[ServiceRuntime] = []


def build(*, deadline: float = 60.0, timeout: float = 2.0) -> System:
    ledger = Service(
        name="ledger",
        metadata=ledger_md,
        router=ledger_router,
        migrations=None,
        publishes=[ApprovalDecided],
    )
    shop = Service(
        name="shop",
        metadata=shop_md,
        router=APIRouter(),
        migrations=None,
        handlers=[Handler(event=ApprovalDecided, fn=on_decided)],
        sagas=[place_order(timeout=timeout), place_order(deferred=True, deadline=deadline, timeout=timeout)],
    )
    return System(name="sagatoy", services=[ledger, shop])


def bind(runtime: Any) -> None:
    """Let the shop's event handler reach its saga runner (one runtime per test)."""
    _SHOP[:] = [runtime["shop"]]


async def entries(rt: ServiceRuntime) -> dict[str, int]:
    async with rt.db.read_session() as session:
        rows = (await session.execute(select(Entry.account, func.sum(Entry.amount)).group_by(Entry.account))).all()
    return {a: int(n) for a, n in rows}


async def entry_count(rt: ServiceRuntime) -> int:
    async with rt.db.read_session() as session:
        return int(await session.scalar(select(func.count()).select_from(Entry)) or 0)


async def orders(rt: ServiceRuntime) -> list[tuple[str, str]]:
    async with rt.db.read_session() as session:
        return [(o.item, o.status) for o in await session.scalars(select(Order))]
