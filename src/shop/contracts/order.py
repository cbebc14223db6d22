"""The order service's published contracts. The order is event-sourced: these are the
events its stream holds *and* publishes (the same facts), so other services and the
order service's own read models follow an order from them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel

from isles import Event
from shop.contracts import Money

AGGREGATE = "order"

#: An order's life: PENDING while the place-order saga runs; CONFIRMED once paid;
#: then the shipping statuses; CANCELLED (by the saga's compensation, or by the buyer
#: or an admin before shipping: a paid order is refunded and restocked).
OrderStatus = Literal["PENDING", "CONFIRMED", "SHIPPED", "DELIVERED", "CANCELLED", "FAILED"]
OPEN: frozenset[str] = frozenset({"PENDING", "CONFIRMED"})
ShippingStatus = Literal["PENDING", "PACKED", "SHIPPED", "IN_TRANSIT", "DELIVERED", "RETURNED"]


class OrderLine(BaseModel):
    product_id_ref: uuid.UUID
    sku: str
    product_name: str
    unit_price: Money
    quantity: int
    subtotal: Money


class OrderPlaced(Event):
    """An order was placed (stock reserved and payment taken: the saga confirmed it)."""

    event_type: ClassVar[str] = "order.OrderPlaced"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    order_number: str
    user_id_ref: uuid.UUID
    total_amount: Money
    currency: str
    lines: list[OrderLine]
    placed_at: datetime


class OrderCancelled(Event):
    event_type: ClassVar[str] = "order.OrderCancelled"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    order_number: str
    user_id_ref: uuid.UUID
    reason: str
    refunded: Money  # 0 when nothing had been paid


class OrderShippingChanged(Event):
    event_type: ClassVar[str] = "order.OrderShippingChanged"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    order_number: str
    user_id_ref: uuid.UUID
    status: str
    carrier: str | None = None
    tracking_number: str | None = None


__all__ = [
    "AGGREGATE",
    "OPEN",
    "OrderCancelled",
    "OrderLine",
    "OrderPlaced",
    "OrderShippingChanged",
    "OrderStatus",
    "ShippingStatus",
]
