"""The order aggregate's rules, without a database: what each command records, what
it refuses, and that replaying the recorded events gives the same state."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from isles import Problem
from shop.contracts.order import OrderLine
from shop.services.order.aggregate import (
    Address,
    OrderAggregate,
    OrderCreated,
    PaymentCaptured,
    RequestedLine,
    ReviewMark,
    ReviewNoted,
    ReviewUnnoted,
)
from shop.services.order.store import item_id

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
MUG = uuid.uuid4()


def confirmed() -> OrderAggregate:
    order = OrderAggregate(uuid.uuid4())
    order.record(
        OrderCreated(
            id=order.id,
            order_number="SO-2026-000001",
            user_id_ref=uuid.uuid4(),
            lines=[RequestedLine(product_id=MUG, quantity=2)],
            address=Address(recipient="A", line1="1 Rue", city="Lyon", postal_code="69001", country="FR"),
            payment_method="pm_ok",
        )
    )
    price = Decimal("19.90")
    order.reserve(
        [OrderLine(product_id_ref=MUG, sku="MUG", product_name="Mug", unit_price=price, quantity=2, subtotal=price * 2)]
    )
    order.captured(
        PaymentCaptured(
            provider="fake",
            payment_reference="ch_1",
            amount=Decimal("39.80"),
            currency="EUR",
            method="pm_ok",
            authorized_at=NOW,
            captured_at=NOW,
        )
    )
    order.place(NOW)
    return order


def replayed(order: OrderAggregate) -> OrderAggregate:
    """The order as its events make it again (as a load does)."""
    from isles import StoredEvent

    rows = [
        StoredEvent(
            id=uuid.uuid4(),
            aggregate_type="order",
            aggregate_id=str(order.id),
            version=i + 1,
            event_type=e.event_type,
            schema_version=e.schema_version,
            data=e.model_dump(mode="json"),
            tenant_id="",
            created_at=NOW,
        )
        for i, e in enumerate(order.pending)
    ]
    again = OrderAggregate.replay(order.id, rows)
    assert again is not None
    return again


def test_a_placed_order_is_confirmed_with_its_total_and_replays_the_same() -> None:
    order = confirmed()
    assert (order.status, order.total, order.paid, order.version) == (
        "CONFIRMED",
        Decimal("39.80"),
        Decimal("39.80"),
        4,
    )
    again = replayed(order)
    assert (again.status, again.total, again.paid, again.version, again.lines) == (
        order.status,
        order.total,
        order.paid,
        order.version,
        order.lines,
    )
    with pytest.raises(Problem) as twice:
        order.place(NOW)
    assert twice.value.status == 409


def test_a_rename_reaches_an_open_order_once_and_never_a_closed_one() -> None:
    order = confirmed()
    assert order.rename(MUG, "Blue mug") is True
    assert order.rename(MUG, "Blue mug") is False, "already the name: nothing recorded (idempotent)"
    assert order.rename(uuid.uuid4(), "Other") is False
    assert [line.product_name for line in order.lines] == ["Blue mug"]
    order.ship("PACKED", None, None)
    order.ship("SHIPPED", "DHL", "T1")
    assert order.status == "SHIPPED"
    assert order.rename(MUG, "Red mug") is False, "a shipped order keeps its name"
    assert [line.product_name for line in order.lines] == ["Blue mug"]
    assert [line.unit_price for line in order.lines] == [Decimal("19.90")]


def test_shipping_moves_only_along_its_statuses_and_needs_a_carrier_to_ship() -> None:
    order = confirmed()
    with pytest.raises(Problem) as skipped:
        order.ship("SHIPPED", "DHL", "T1")
    assert skipped.value.status == 409
    order.ship("PACKED", None, None)
    with pytest.raises(Problem) as missing:
        order.ship("SHIPPED", None, None)
    assert missing.value.status == 422
    assert {e["field"] for e in missing.value.errors} == {"carrier", "tracking_number"}
    order.ship("SHIPPED", "DHL", "T1")
    order.ship("IN_TRANSIT", None, None)
    order.ship("DELIVERED", None, None)
    assert (order.status, order.shipping_status, order.carrier) == ("DELIVERED", "DELIVERED", "DHL")
    with pytest.raises(Problem):
        order.ship("RETURNED", None, None)


def test_only_a_confirmed_unshipped_order_is_cancelled_and_shipping_waits_for_a_cancel() -> None:
    order = confirmed()
    order.start_cancel("changed my mind")
    with pytest.raises(Problem) as shipping:
        order.ship("PACKED", None, None)
    assert shipping.value.status == 409
    with pytest.raises(Problem):
        order.start_cancel("again")
    order.refund_recorded("ch_1", Decimal("39.80"), NOW)
    order.refund_recorded("ch_1", Decimal("39.80"), NOW)  # nothing left to refund: nothing recorded
    order.released()
    order.cancel("changed my mind")
    assert (order.status, order.paid, order.refunded, order.stock_reserved) == (
        "CANCELLED",
        Decimal("0.00"),
        Decimal("39.80"),
        False,
    )
    assert [type(e).__name__ for e in order.pending][-4:] == [
        "CancellationStarted",
        "PaymentRefunded",
        "StockReleased",
        "OrderCancelled",
    ]
    shipped = confirmed()
    shipped.ship("PACKED", None, None)
    shipped.ship("SHIPPED", "DHL", "T1")
    with pytest.raises(Problem) as late:
        shipped.start_cancel("too late")
    assert late.value.status == 409


def test_a_review_mark_ignores_an_older_event() -> None:
    mark = ReviewMark(uuid.uuid4())
    user = uuid.uuid4()
    assert mark.note(ReviewNoted(product_id_ref=MUG, user_id_ref=user, rating=4, source_version=1))
    assert mark.note(ReviewUnnoted(product_id_ref=MUG, user_id_ref=user, source_version=2))
    assert not mark.note(ReviewNoted(product_id_ref=MUG, user_id_ref=user, rating=4, source_version=1))
    assert mark.version == 2


def test_an_items_id_is_derived_so_a_rebuild_gives_the_same() -> None:
    order_id = uuid.uuid4()
    assert item_id(order_id, MUG) == item_id(order_id, MUG) != item_id(order_id, uuid.uuid4())
