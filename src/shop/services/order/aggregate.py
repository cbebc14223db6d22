"""The order aggregate, kept as its events (event sourcing).

The published events are the contract's (``OrderPlaced``, ``OrderCancelled``,
``OrderShippingChanged``); the others below are the service's own: stored in its
event store, never published (no other service needs them). Each event is a fact;
:meth:`OrderAggregate.apply` folds it into the state without checks, the commands
check and record.

Also here: ``ReviewMark``, a tiny aggregate per product review that the order
history read model needs (from the product service's review events), kept in the same
store so that the history is rebuildable from the store alone.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import ClassVar

from pydantic import BaseModel

from isles import Event, EventSourced, FieldError, conflict, invalid
from shop.contracts import CURRENCY, Money
from shop.contracts.order import AGGREGATE, OrderCancelled, OrderLine, OrderPlaced, OrderShippingChanged

PENDING, CONFIRMED, SHIPPED, DELIVERED, CANCELLED, FAILED = (
    "PENDING",
    "CONFIRMED",
    "SHIPPED",
    "DELIVERED",
    "CANCELLED",
    "FAILED",
)
OPEN = (PENDING, CONFIRMED)
CLOSED = (SHIPPED, DELIVERED, CANCELLED, FAILED)

#: shipping status -> the statuses it may move to (``POST /orders/{id}/shipping``)
SHIPPING_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "PENDING": ("PACKED",),
    "PACKED": ("SHIPPED",),
    "SHIPPED": ("IN_TRANSIT", "DELIVERED", "RETURNED"),
    "IN_TRANSIT": ("DELIVERED", "RETURNED"),
    "DELIVERED": (),
    "RETURNED": (),
}
#: the order's status once its shipping reaches a status (None: unchanged)
ORDER_STATUS_OF_SHIPPING = {"SHIPPED": SHIPPED, "IN_TRANSIT": SHIPPED, "DELIVERED": DELIVERED}


class RequestedLine(BaseModel):
    product_id: uuid.UUID
    quantity: int


class Address(BaseModel):
    """The shipping address as it was when the order was made (a snapshot)."""

    recipient: str
    line1: str
    line2: str | None = None
    city: str
    state: str | None = None
    postal_code: str
    country: str


# --- the service's own events (stored, not published) -------------------------------


class OrderCreated(Event):
    """The place-order saga made the order, PENDING: what was asked, where it goes."""

    event_type: ClassVar[str] = "order.OrderCreated"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    order_number: str
    user_id_ref: uuid.UUID
    currency: str = CURRENCY
    lines: list[RequestedLine]
    address: Address
    payment_method: str


class StockReserved(Event):
    """The product service set the stock aside: the lines as they were then (name,
    price), and the total to pay."""

    event_type: ClassVar[str] = "order.StockReserved"
    schema_version: ClassVar[int] = 1

    lines: list[OrderLine]
    total_amount: Money


class StockReleased(Event):
    event_type: ClassVar[str] = "order.StockReleased"
    schema_version: ClassVar[int] = 1


class PaymentCaptured(Event):
    event_type: ClassVar[str] = "order.PaymentCaptured"
    schema_version: ClassVar[int] = 1

    provider: str
    payment_reference: str
    amount: Money
    currency: str
    method: str
    authorized_at: datetime
    captured_at: datetime


class PaymentRefunded(Event):
    event_type: ClassVar[str] = "order.PaymentRefunded"
    schema_version: ClassVar[int] = 1

    payment_reference: str
    amount: Money
    refunded_at: datetime


class OrderFailed(Event):
    """The place-order saga was undone: the reason its caller was told."""

    event_type: ClassVar[str] = "order.OrderFailed"
    schema_version: ClassVar[int] = 1

    reason: str


class CancellationStarted(Event):
    """A cancel saga took the order (no shipping until it ends)."""

    event_type: ClassVar[str] = "order.CancellationStarted"
    schema_version: ClassVar[int] = 1

    reason: str


class CancellationAborted(Event):
    event_type: ClassVar[str] = "order.CancellationAborted"
    schema_version: ClassVar[int] = 1

    reason: str


class ItemRenamed(Event):
    """The product of an open order's line was renamed (``product.ProductRenamed``)."""

    event_type: ClassVar[str] = "order.ItemRenamed"
    schema_version: ClassVar[int] = 1

    product_id_ref: uuid.UUID
    product_name: str
    previous_name: str


class OrderAggregate(EventSourced):
    aggregate_type: ClassVar[str] = AGGREGATE
    events = (
        OrderCreated,
        StockReserved,
        StockReleased,
        PaymentCaptured,
        PaymentRefunded,
        OrderPlaced,
        OrderFailed,
        CancellationStarted,
        CancellationAborted,
        OrderCancelled,
        OrderShippingChanged,
        ItemRenamed,
    )

    def __init__(self, id: uuid.UUID, tenant_id: str = "") -> None:
        super().__init__(id, tenant_id)
        self.status = ""
        self.order_number = ""
        self.user_id = uuid.UUID(int=0)
        self.currency = CURRENCY
        self.lines: list[OrderLine] = []
        self.total = Decimal("0.00")
        self.stock_reserved = False
        self.payment: PaymentCaptured | None = None
        self.refunded = Decimal("0.00")
        self.shipping_status = "PENDING"
        self.carrier: str | None = None
        self.tracking_number: str | None = None
        self.cancelling = False
        self.reason: str | None = None

    # --- folding events ---------------------------------------------------------------

    def apply(self, event: Event) -> None:
        if isinstance(event, OrderCreated):
            self.status, self.order_number, self.user_id = PENDING, event.order_number, event.user_id_ref
            self.currency = event.currency
        elif isinstance(event, StockReserved):
            self.lines, self.total, self.stock_reserved = list(event.lines), event.total_amount, True
        elif isinstance(event, StockReleased):
            self.stock_reserved = False
        elif isinstance(event, PaymentCaptured):
            self.payment = event
        elif isinstance(event, PaymentRefunded):
            self.refunded += event.amount
        elif isinstance(event, OrderPlaced):
            self.status = CONFIRMED
        elif isinstance(event, OrderFailed):
            self.status, self.reason = FAILED, event.reason
        elif isinstance(event, CancellationStarted):
            self.cancelling = True
        elif isinstance(event, CancellationAborted):
            self.cancelling = False
        elif isinstance(event, OrderCancelled):
            self.status, self.reason, self.cancelling = CANCELLED, event.reason, False
        elif isinstance(event, OrderShippingChanged):
            self.shipping_status = event.status
            self.carrier = event.carrier or self.carrier
            self.tracking_number = event.tracking_number or self.tracking_number
            self.status = ORDER_STATUS_OF_SHIPPING.get(event.status, self.status)
        elif isinstance(event, ItemRenamed):
            self.lines = [
                line.model_copy(update={"product_name": event.product_name})
                if line.product_id_ref == event.product_id_ref
                else line
                for line in self.lines
            ]

    # --- commands ---------------------------------------------------------------------

    @property
    def paid(self) -> Decimal:
        return (self.payment.amount if self.payment else Decimal("0.00")) - self.refunded

    def reserve(self, lines: list[OrderLine]) -> None:
        if self.status != PENDING or self.stock_reserved:
            return  # already recorded (a replayed step)
        total = sum((line.subtotal for line in lines), Decimal("0.00"))
        self.record(StockReserved(lines=lines, total_amount=total))

    def captured(self, payment: PaymentCaptured) -> None:
        if self.payment is None:
            self.record(payment)

    def place(self, placed_at: datetime) -> None:
        if self.status != PENDING:
            raise conflict("status", f"order {self.order_number} is {self.status}, not PENDING: it cannot be confirmed")
        self.record(
            OrderPlaced(
                id=self.id,
                order_number=self.order_number,
                user_id_ref=self.user_id,
                total_amount=self.total,
                currency=self.currency,
                lines=self.lines,
                placed_at=placed_at,
            )
        )

    def refund_recorded(self, reference: str, amount: Decimal, at: datetime) -> None:
        if amount > 0 and self.paid > 0:
            self.record(PaymentRefunded(payment_reference=reference, amount=min(amount, self.paid), refunded_at=at))

    def released(self) -> None:
        if self.stock_reserved:
            self.record(StockReleased())

    def fail(self, reason: str) -> None:
        if self.status == PENDING:
            self.record(OrderFailed(reason=reason[:500]))

    def start_cancel(self, reason: str) -> None:
        if self.status == PENDING:
            raise conflict("status", f"order {self.order_number} is still being placed: try again in a moment")
        if self.status != CONFIRMED or self.shipping_status not in ("PENDING", "PACKED"):
            raise conflict(
                "status", f"order {self.order_number} is {self.status}: only an order not shipped yet can be cancelled"
            )
        if self.cancelling:
            raise conflict("status", f"order {self.order_number} is being cancelled already")
        self.record(CancellationStarted(reason=reason[:500]))

    def abort_cancel(self, reason: str) -> None:
        if self.cancelling:
            self.record(CancellationAborted(reason=reason[:500]))

    def cancel(self, reason: str) -> None:
        if self.status == CANCELLED:
            return
        refunded = self.refunded
        self.record(
            OrderCancelled(
                id=self.id,
                order_number=self.order_number,
                user_id_ref=self.user_id,
                reason=reason[:500],
                refunded=refunded,
            )
        )

    def ship(self, status: str, carrier: str | None, tracking_number: str | None) -> None:
        if self.status not in (CONFIRMED, SHIPPED):
            raise conflict("status", f"order {self.order_number} is {self.status}: it cannot be shipped")
        if self.cancelling:
            raise conflict("status", f"order {self.order_number} is being cancelled")
        allowed = SHIPPING_TRANSITIONS.get(self.shipping_status, ())
        if status not in allowed:
            raise conflict(
                "status",
                f"shipping cannot go from {self.shipping_status} to {status} (allowed: {', '.join(allowed) or 'none'})",
            )
        if status == "SHIPPED" and not ((carrier or self.carrier) and (tracking_number or self.tracking_number)):
            errors = [
                FieldError(f, f"{f} is needed to ship", "required")
                for f, v in (
                    ("carrier", carrier or self.carrier),
                    ("tracking_number", tracking_number or self.tracking_number),
                )
                if not v
            ]
            raise invalid(errors)
        self.record(
            OrderShippingChanged(
                id=self.id,
                order_number=self.order_number,
                user_id_ref=self.user_id,
                status=status,
                carrier=carrier,
                tracking_number=tracking_number,
            )
        )

    def rename(self, product_id: uuid.UUID, name: str) -> bool:
        """The open order's lines of ``product_id`` take ``name`` (False: nothing to do —
        a closed order, no such line, or the name is already the new one)."""
        if self.status not in OPEN:
            return False
        for line in self.lines:
            if line.product_id_ref == product_id and line.product_name != name:
                self.record(ItemRenamed(product_id_ref=product_id, product_name=name, previous_name=line.product_name))
                return True
        return False


# --- review marks (for the history read model) ---------------------------------------

REVIEW_MARK = "review_mark"


class ReviewNoted(Event):
    event_type: ClassVar[str] = "order.ReviewNoted"
    schema_version: ClassVar[int] = 1

    product_id_ref: uuid.UUID
    user_id_ref: uuid.UUID
    rating: int
    source_version: int


class ReviewUnnoted(Event):
    event_type: ClassVar[str] = "order.ReviewUnnoted"
    schema_version: ClassVar[int] = 1

    product_id_ref: uuid.UUID
    user_id_ref: uuid.UUID
    source_version: int


class ReviewMark(EventSourced):
    """A product review as the order history knows it: posted or removed, by the
    review's own version (an older event arriving late changes nothing)."""

    aggregate_type: ClassVar[str] = REVIEW_MARK
    events = (ReviewNoted, ReviewUnnoted)

    def __init__(self, id: uuid.UUID, tenant_id: str = "") -> None:
        super().__init__(id, tenant_id)
        self.source_version = 0

    def apply(self, event: Event) -> None:
        if isinstance(event, ReviewNoted | ReviewUnnoted):
            self.source_version = max(self.source_version, event.source_version)

    def note(self, event: ReviewNoted | ReviewUnnoted) -> bool:
        if event.source_version <= self.source_version:
            return False
        self.record(event)
        return True
