"""Order use cases on the aggregate, and the reads of the projections."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Text, Uuid, column, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from isles import ListSpec, UnitOfWork, not_found, utcnow
from shop.contracts import STORE
from shop.services.order import store
from shop.services.order.aggregate import Address, OrderAggregate, OrderCreated, RequestedLine
from shop.services.order.models import (
    Order,
    OrderHistory,
    OrderHistoryItem,
    OrderHistoryReview,
    OrderItem,
    OrderNumberCounter,
    OrderPayment,
    OrderShipping,
)

ORDERS = ListSpec(
    sort={"created_at": Order.created_at, "updated_at": Order.updated_at, "total_amount": Order.total_amount},
    default=("-created_at",),
    key=Order.id,
    search=(Order.order_number,),
)

_sagas = table("isles_sagas", column("id", Uuid), column("error", Text))


async def next_order_number(session: AsyncSession, at: datetime) -> str:
    """``SO-<year>-<n:06>``, from the year's counter, in the caller's transaction (the
    counter's row is locked until it commits: two orders never get one number; a
    number taken by an order that failed stays taken)."""
    year = at.year
    row = await session.get(OrderNumberCounter, year, with_for_update=True)
    if row is None:
        row = OrderNumberCounter(year=year, last_number=0)
        session.add(row)
    row.last_number += 1
    await session.flush()
    return f"SO-{year}-{row.last_number:06d}"


async def create_order(
    uow: UnitOfWork,
    *,
    order_id: uuid.UUID,
    user_id: uuid.UUID,
    lines: Sequence[dict[str, Any]],
    address: dict[str, Any],
    payment_method: str,
) -> OrderAggregate:
    existing = await store.load(uow.session, order_id)
    if existing is not None:
        return existing  # made by an earlier attempt of the step
    order = OrderAggregate(order_id, tenant_id=str(STORE))
    order.record(
        OrderCreated(
            id=order_id,
            order_number=await next_order_number(uow.session, utcnow()),
            user_id_ref=user_id,
            lines=[RequestedLine.model_validate(line) for line in lines],
            address=Address.model_validate(address),
            payment_method=payment_method,
        )
    )
    await store.save(uow, order)
    return order


async def must_load(session: AsyncSession, order_id: uuid.UUID) -> OrderAggregate:
    order = await store.load(session, order_id)
    if order is None:
        raise not_found("order", order_id)
    return order


async def saga_error(session: AsyncSession, saga_id: uuid.UUID) -> str:
    """The reason a saga failed, as its caller is told (its problem's detail)."""
    error: Any = await session.scalar(select(_sagas.c.error).where(_sagas.c.id == saga_id))
    if isinstance(error, str):  # kept as JSON text
        with contextlib.suppress(ValueError):
            error = json.loads(error)
    if isinstance(error, dict) and error.get("detail"):
        return str(error["detail"])
    return "the order could not be placed"


# --- reads ----------------------------------------------------------------------------


def orders_where(*, user_id: uuid.UUID | None, status: str | None) -> Select[Any]:
    q = select(Order)
    if user_id is not None:
        q = q.where(Order.user_id_ref == user_id)
    if status is not None:
        q = q.where(Order.status == status)
    return q


HISTORY = ListSpec(
    sort={"placed_at": OrderHistory.placed_at, "total_amount": OrderHistory.total_amount},
    default=("-placed_at",),
    key=OrderHistory.order_id,
    search=(OrderHistory.order_number,),
)


async def history_items(
    session: AsyncSession, user_id: uuid.UUID, order_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """The entries' items, each with whether ``user_id`` reviewed its product."""
    out: dict[uuid.UUID, list[dict[str, Any]]] = {i: [] for i in order_ids}
    if not order_ids:
        return out
    items = (
        await session.scalars(
            select(OrderHistoryItem)
            .where(OrderHistoryItem.order_id.in_(order_ids))
            .order_by(OrderHistoryItem.product_name)
        )
    ).all()
    products = {i.product_id_ref for i in items}
    ratings: dict[uuid.UUID, int] = {}
    if products:
        rows = await session.execute(
            select(OrderHistoryReview.product_id_ref, OrderHistoryReview.rating).where(
                OrderHistoryReview.user_id_ref == user_id, OrderHistoryReview.product_id_ref.in_(products)
            )
        )
        ratings = {r.product_id_ref: r.rating for r in rows}
    for i in items:
        out[i.order_id].append(
            {
                "product_id_ref": i.product_id_ref,
                "product_name": i.product_name,
                "unit_price": i.unit_price,
                "quantity": i.quantity,
                "subtotal": i.subtotal,
                "reviewed": i.product_id_ref in ratings,
                "rating": ratings.get(i.product_id_ref),
            }
        )
    return out


async def details(
    session: AsyncSession, orders: Sequence[Order]
) -> tuple[dict[uuid.UUID, list[OrderItem]], dict[uuid.UUID, OrderPayment], dict[uuid.UUID, OrderShipping]]:
    ids = [o.id for o in orders]
    items: dict[uuid.UUID, list[OrderItem]] = {i: [] for i in ids}
    if not ids:
        return items, {}, {}
    for item in (
        await session.scalars(select(OrderItem).where(OrderItem.order_id.in_(ids)).order_by(OrderItem.sku))
    ).all():
        items[item.order_id].append(item)
    payments = {
        p.order_id: p for p in (await session.scalars(select(OrderPayment).where(OrderPayment.order_id.in_(ids)))).all()
    }
    shipping = {
        s.order_id: s
        for s in (await session.scalars(select(OrderShipping).where(OrderShipping.order_id.in_(ids)))).all()
    }
    return items, payments, shipping


async def confirm_order(uow: UnitOfWork, order: OrderAggregate) -> None:
    """The place-order saga's last step: CONFIRMED, OrderPlaced published."""
    order.place(utcnow())
    await store.save(uow, order)


async def change_shipping(
    uow: UnitOfWork, order_id: uuid.UUID, status: str, carrier: str | None, tracking_number: str | None
) -> OrderAggregate:
    order = await must_load(uow.session, order_id)
    order.ship(status, carrier, tracking_number)
    await store.save(uow, order)
    return order
