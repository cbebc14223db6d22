"""The order service's event store and the two read models kept from it.

* ``orders`` (the ER diagram's ``orders``, ``order_items``, ``order_payment``,
  ``order_shipping``): what the order API reads.
* ``order_history`` (``order_history``, ``order_history_items``,
  ``order_history_reviews``): a user's order history with product names and whether
  they reviewed each product (the CQRS read model of issue 18).

Both are written only by the handlers below, from the events and their stored record
(a time is the record's ``created_at`` or a time the event carries, never the clock),
so ``isles projections rebuild`` writes the same rows and ``check`` finds no
difference. The store does not publish by itself: :func:`save` publishes only the
contract's events (the outbox, in the same transaction).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, bindparam, delete, insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from isles import EventSourced, EventStore, Projection, StoredEvent, UnitOfWork
from shop.contracts.order import OrderCancelled, OrderPlaced, OrderShippingChanged
from shop.services.order.aggregate import (
    CANCELLED,
    FAILED,
    ORDER_STATUS_OF_SHIPPING,
    CancellationAborted,
    CancellationStarted,
    ItemRenamed,
    OrderAggregate,
    OrderCreated,
    OrderFailed,
    PaymentCaptured,
    PaymentRefunded,
    ReviewMark,
    ReviewNoted,
    ReviewUnnoted,
    StockReleased,
    StockReserved,
)
from shop.services.order.models import (
    HISTORY_TABLES,
    PROJECTION_FOR_HISTORY,
    PROJECTION_FOR_ORDERS,
    PROJECTION_TABLES,
    metadata,
)

#: the events other services may hear of (the contract's)
PUBLISHES = (OrderPlaced, OrderCancelled, OrderShippingChanged)


def _id(s: StoredEvent) -> uuid.UUID:
    return uuid.UUID(s.aggregate_id)


def item_id(order_id: uuid.UUID, product_id: uuid.UUID) -> uuid.UUID:
    """An order item's id: derived, so a rebuild gives the same one."""
    return uuid.uuid5(order_id, str(product_id))


def part_id(order_id: uuid.UUID, part: str) -> uuid.UUID:
    """The id of an order's payment or shipping row: derived, like an item's."""
    return uuid.uuid5(order_id, part)


# The handlers write Core statements built once per shape, with their values bound at
# execution: a rebuild replays every event through them, and building an ORM statement
# per event cost as much as running it.
ORDERS_T, ITEMS_T, PAYMENT_T, SHIPPING_T = (metadata.tables[t] for t in PROJECTION_FOR_ORDERS)
HISTORY_T, HISTORY_ITEMS_T, HISTORY_REVIEWS_T = (metadata.tables[t] for t in PROJECTION_FOR_HISTORY)
_statements: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], Any] = {}


async def _insert(session: AsyncSession, table: Table, rows: dict[str, Any] | list[dict[str, Any]]) -> None:
    key = ("insert", table.name, (), ())
    if key not in _statements:
        _statements[key] = insert(table)
    await session.execute(_statements[key], rows)


async def _update(session: AsyncSession, table: Table, where: dict[str, Any], **values: Any) -> None:
    key = ("update", table.name, tuple(sorted(where)), tuple(sorted(values)))
    if key not in _statements:
        _statements[key] = (
            update(table)
            .where(*(table.c[c] == bindparam(f"w_{c}") for c in key[2]))
            .values({c: bindparam(f"v_{c}") for c in key[3]})
        )
    params = {f"w_{c}": v for c, v in where.items()} | {f"v_{c}": v for c, v in values.items()}
    await session.execute(_statements[key], params)


async def _delete(session: AsyncSession, table: Table, where: dict[str, Any]) -> None:
    key = ("delete", table.name, tuple(sorted(where)), ())
    if key not in _statements:
        _statements[key] = delete(table).where(*(table.c[c] == bindparam(f"w_{c}") for c in key[2]))
    await session.execute(_statements[key], {f"w_{c}": v for c, v in where.items()})


async def _touch(session: AsyncSession, s: StoredEvent, **values: Any) -> None:
    await _update(session, ORDERS_T, {"id": _id(s)}, version=s.version, updated_at=s.created_at, **values)


# --- the orders projection -------------------------------------------------------------


async def _created(session: AsyncSession, e: OrderCreated, s: StoredEvent) -> None:
    await _insert(
        session,
        ORDERS_T,
        {
            "id": e.id,
            "user_id_ref": e.user_id_ref,
            "order_number": e.order_number,
            "total_amount": Decimal("0.00"),
            "currency": e.currency,
            "status": "PENDING",
            "failure_reason": None,
            "created_at": s.created_at,
            "updated_at": s.created_at,
            "version": s.version,
        },
    )
    a = e.address
    await _insert(
        session,
        SHIPPING_T,
        {
            "id": part_id(e.id, "shipping"),
            "order_id": e.id,
            "recipient_name": a.recipient,
            "address_line1": a.line1,
            "address_line2": a.line2,
            "city": a.city,
            "state": a.state,
            "postal_code": a.postal_code,
            "country": a.country,
            "shipping_status": "PENDING",
            "carrier": None,
            "tracking_number": None,
            "shipped_at": None,
            "delivered_at": None,
        },
    )


async def _reserved(session: AsyncSession, e: StockReserved, s: StoredEvent) -> None:
    order_id = _id(s)
    await _insert(
        session,
        ITEMS_T,
        [
            {
                "id": item_id(order_id, line.product_id_ref),
                "order_id": order_id,
                "product_id_ref": line.product_id_ref,
                "sku": line.sku,
                "product_name": line.product_name,
                "unit_price": line.unit_price,
                "quantity": line.quantity,
                "subtotal": line.subtotal,
            }
            for line in e.lines
        ],
    )
    await _touch(session, s, total_amount=e.total_amount)


async def _captured(session: AsyncSession, e: PaymentCaptured, s: StoredEvent) -> None:
    await _insert(
        session,
        PAYMENT_T,
        {
            "id": part_id(_id(s), "payment"),
            "order_id": _id(s),
            "provider": e.provider,
            "transaction_id": e.payment_reference,
            "amount": e.amount,
            "currency": e.currency,
            "payment_status": "captured",
            "payment_method": e.method,
            "authorized_at": e.authorized_at,
            "paid_at": e.captured_at,
            "refunded_at": None,
        },
    )
    await _touch(session, s)


async def _refunded(session: AsyncSession, e: PaymentRefunded, s: StoredEvent) -> None:
    await _update(session, PAYMENT_T, {"order_id": _id(s)}, payment_status="refunded", refunded_at=e.refunded_at)
    await _touch(session, s)


async def _placed(session: AsyncSession, e: OrderPlaced, s: StoredEvent) -> None:
    await _touch(session, s, status="CONFIRMED")


async def _failed(session: AsyncSession, e: OrderFailed, s: StoredEvent) -> None:
    await _touch(session, s, status=FAILED, failure_reason=e.reason)


async def _cancelled(session: AsyncSession, e: OrderCancelled, s: StoredEvent) -> None:
    await _touch(session, s, status=CANCELLED, failure_reason=e.reason)


async def _shipping(session: AsyncSession, e: OrderShippingChanged, s: StoredEvent) -> None:
    values: dict[str, Any] = {"shipping_status": e.status}
    if e.carrier:
        values["carrier"] = e.carrier
    if e.tracking_number:
        values["tracking_number"] = e.tracking_number
    if e.status == "SHIPPED":
        values["shipped_at"] = s.created_at
    if e.status == "DELIVERED":
        values["delivered_at"] = s.created_at
    await _update(session, SHIPPING_T, {"order_id": _id(s)}, **values)
    status = ORDER_STATUS_OF_SHIPPING.get(e.status)
    await _touch(session, s, **({"status": status} if status else {}))


async def _renamed(session: AsyncSession, e: ItemRenamed, s: StoredEvent) -> None:
    where = {"order_id": _id(s), "product_id_ref": e.product_id_ref}
    await _update(session, ITEMS_T, where, product_name=e.product_name)
    await _touch(session, s)


async def _bump(session: AsyncSession, e: Any, s: StoredEvent) -> None:
    await _touch(session, s)


ORDERS = Projection(
    name="orders",
    tables=PROJECTION_TABLES,
    handlers={
        OrderCreated: _created,
        StockReserved: _reserved,
        StockReleased: _bump,
        PaymentCaptured: _captured,
        PaymentRefunded: _refunded,
        OrderPlaced: _placed,
        OrderFailed: _failed,
        CancellationStarted: _bump,
        CancellationAborted: _bump,
        OrderCancelled: _cancelled,
        OrderShippingChanged: _shipping,
        ItemRenamed: _renamed,
    },
)

# --- the order history read model ------------------------------------------------------
# An order enters a user's history when it is placed (OrderPlaced carries everything);
# a pending or failed attempt is not history.


async def _h_placed(session: AsyncSession, e: OrderPlaced, s: StoredEvent) -> None:
    await _insert(
        session,
        HISTORY_T,
        {
            "order_id": e.id,
            "user_id_ref": e.user_id_ref,
            "order_number": e.order_number,
            "status": "CONFIRMED",
            "total_amount": e.total_amount,
            "currency": e.currency,
            "placed_at": e.placed_at,
            "updated_at": s.created_at,
        },
    )
    await _insert(
        session,
        HISTORY_ITEMS_T,
        [
            {
                "order_id": e.id,
                "product_id_ref": line.product_id_ref,
                "product_name": line.product_name,
                "unit_price": line.unit_price,
                "quantity": line.quantity,
                "subtotal": line.subtotal,
            }
            for line in e.lines
        ],
    )


async def _h_status(session: AsyncSession, status: str, s: StoredEvent) -> None:
    await _update(session, HISTORY_T, {"order_id": _id(s)}, status=status, updated_at=s.created_at)


async def _h_cancelled(session: AsyncSession, e: OrderCancelled, s: StoredEvent) -> None:
    await _h_status(session, CANCELLED, s)


async def _h_shipping(session: AsyncSession, e: OrderShippingChanged, s: StoredEvent) -> None:
    status = ORDER_STATUS_OF_SHIPPING.get(e.status)
    if status:
        await _h_status(session, status, s)


async def _h_renamed(session: AsyncSession, e: ItemRenamed, s: StoredEvent) -> None:
    where = {"order_id": _id(s), "product_id_ref": e.product_id_ref}
    await _update(session, HISTORY_ITEMS_T, where, product_name=e.product_name)


async def _h_review(session: AsyncSession, e: ReviewNoted | ReviewUnnoted, s: StoredEvent) -> None:
    """One row per review (its own events are in order; reviews are independent, so a
    rebuild in another order of reviews gives the same rows)."""
    review_id = _id(s)
    await _delete(session, HISTORY_REVIEWS_T, {"review_id_ref": review_id})
    if isinstance(e, ReviewNoted):
        row = {"review_id_ref": review_id, "user_id_ref": e.user_id_ref, "product_id_ref": e.product_id_ref}
        await _insert(session, HISTORY_REVIEWS_T, {**row, "rating": e.rating})


HISTORY = Projection(
    name="order_history",
    tables=HISTORY_TABLES,
    handlers={
        OrderPlaced: _h_placed,
        OrderCancelled: _h_cancelled,
        OrderShippingChanged: _h_shipping,
        ItemRenamed: _h_renamed,
        ReviewNoted: _h_review,
        ReviewUnnoted: _h_review,
    },
)

#: The order's stream holds every fact; only the contract's events are published.
STORE = EventStore(metadata, [OrderAggregate, ReviewMark], [ORDERS, HISTORY], publish=PUBLISHES)


async def save(uow: UnitOfWork, aggregate: EventSourced) -> list[StoredEvent]:
    """Save the aggregate's new events (409 if another writer saved first), update the
    read models, and publish the contract's events, all in ``uow``'s transaction."""
    return await STORE.save(uow, aggregate)


async def load(session: AsyncSession, order_id: uuid.UUID) -> OrderAggregate | None:
    return await STORE.load(session, OrderAggregate, order_id)
