"""The order service's tables.

* ``event_store``: the order aggregate (and the review marks the history needs), as
  events: the source of truth.
* The ``orders`` projection (the ER diagram's tables): ``orders``, ``order_items``,
  ``order_payment``, ``order_shipping`` — written only from the events, rebuildable.
* The ``order_history`` read model (CQRS): ``order_history``, ``order_history_items``,
  ``order_history_reviews`` — written only from the events, rebuildable.
* ``order_number_counters``: the per-service counter order numbers are taken from (in
  the transaction that creates the order; never reused, not a projection).
* ``fake_payments``: the embedded fake payment provider's charges (its own state, as
  an external provider would keep it; see ``payments.py``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, PrimaryKeyConstraint, String, Table, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from isles import Money, UTCDateTime, new_metadata, reference

metadata = new_metadata()  # the event store adds its ``event_store`` table (see store.py)

MONEY = Money()  # exact: NUMERIC(12, 2) on PostgreSQL, cents on SQLite


class Base(DeclarativeBase):
    metadata = metadata


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(
            "status IN ('PENDING', 'CONFIRMED', 'SHIPPED', 'DELIVERED', 'CANCELLED', 'FAILED')", name="status_known"
        ),
        Index("idx_orders_user_id_ref_created_at", "user_id_ref", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    user_id_ref: Mapped[uuid.UUID] = reference("user.users")
    order_number: Mapped[str] = mapped_column(String(20), unique=True)
    total_amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), index=True)
    failure_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer)


class OrderItem(Base):
    __tablename__ = "order_items"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id_ref: Mapped[uuid.UUID] = reference("product.products")
    sku: Mapped[str] = mapped_column(String(64))
    product_name: Mapped[str] = mapped_column(String(200))
    unit_price: Mapped[Decimal] = mapped_column(MONEY)
    quantity: Mapped[int] = mapped_column(Integer)
    subtotal: Mapped[Decimal] = mapped_column(MONEY)


class OrderPayment(Base):
    """Seed 003's ORDER_PAYMENT (its column names), with the provider, the currency and
    the authorization and refund times besides ``paid_at`` (the capture)."""

    # isles: ignore[ISL201] seed 003's ORDER_PAYMENT: one payment per order, named as the diagram names it
    __tablename__ = "order_payment"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # derived from the order's id
    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    provider: Mapped[str] = mapped_column(String(50))
    transaction_id: Mapped[str] = mapped_column(String(200), index=True)  # the provider's reference of the charge
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    payment_status: Mapped[str] = mapped_column(String(20))  # captured, refunded
    payment_method: Mapped[str] = mapped_column(String(100))
    authorized_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OrderShipping(Base):
    """Seed 003's ORDER_SHIPPING (its column names): the address as it was when the
    order was made, the shipping status, carrier and tracking number; and when it
    shipped and arrived."""

    # isles: ignore[ISL201] seed 003's ORDER_SHIPPING: one shipping per order, named as the diagram names it
    __tablename__ = "order_shipping"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # derived from the order's id
    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    recipient_name: Mapped[str] = mapped_column(String(200))
    address_line1: Mapped[str] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))
    shipping_status: Mapped[str] = mapped_column(String(20))
    carrier: Mapped[str | None] = mapped_column(String(100))
    tracking_number: Mapped[str | None] = mapped_column(String(100))
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OrderNumberCounter(Base):
    """The next order number of a year (``SO-<year>-<n:06>``), taken in the transaction
    that creates the order: a number is never given twice, nor reused."""

    __tablename__ = "order_number_counters"

    # isles: ignore[ISL301] one counter per year: the year is what it is found by, never another id
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(Integer)


class OrderHistory(Base):
    """A user's order, as their history shows it (the CQRS read model)."""

    # isles: ignore[ISL201] the read model is a user's order history: one row per order in it
    __tablename__ = "order_history"
    __table_args__ = (Index("idx_order_history_user_id_ref_placed_at", "user_id_ref", "placed_at"),)

    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    user_id_ref: Mapped[uuid.UUID] = reference("user.users")
    order_number: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    total_amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OrderHistoryItem(Base):
    __tablename__ = "order_history_items"
    __table_args__ = (PrimaryKeyConstraint("order_id", "product_id_ref"),)

    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("order_history.order_id", ondelete="CASCADE"))
    product_id_ref: Mapped[uuid.UUID] = reference("product.products")
    product_name: Mapped[str] = mapped_column(String(200))
    unit_price: Mapped[Decimal] = mapped_column(MONEY)
    quantity: Mapped[int] = mapped_column(Integer)
    subtotal: Mapped[Decimal] = mapped_column(MONEY)


class OrderHistoryReview(Base):
    """A product review a user has (from the product service's review events): the
    history shows "reviewed" for the user's products that have one."""

    __tablename__ = "order_history_reviews"
    __table_args__ = (Index("idx_order_history_reviews_user_product", "user_id_ref", "product_id_ref"),)

    review_id_ref: Mapped[uuid.UUID] = reference("product.product_reviews", primary_key=True)
    user_id_ref: Mapped[uuid.UUID] = reference("user.users")
    product_id_ref: Mapped[uuid.UUID] = reference("product.products")
    rating: Mapped[int] = mapped_column(Integer)


class FakePayment(Base):
    """A charge of the embedded fake payment provider, by its idempotency key."""

    __tablename__ = "fake_payments"

    # isles: ignore[ISL301] a provider finds a charge by its idempotency key, the key of the table
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    reference: Mapped[str] = mapped_column(String(100), unique=True)
    method: Mapped[str] = mapped_column(String(100))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20))  # captured, declined, refunded
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


#: the projections' tables, parents first (a rebuild empties them children first)
PROJECTION_FOR_ORDERS = ("orders", "order_items", "order_payment", "order_shipping")
PROJECTION_FOR_HISTORY = ("order_history", "order_history_items", "order_history_reviews")
PROJECTION_TABLES: tuple[Table, ...] = tuple(metadata.tables[t] for t in PROJECTION_FOR_ORDERS)
HISTORY_TABLES: tuple[Table, ...] = tuple(metadata.tables[t] for t in PROJECTION_FOR_HISTORY)
