"""What the order service keeps from the product service's events.

* ``product.ProductRenamed``: each OPEN order (PENDING, CONFIRMED) with a line of the
  product gets an ``ItemRenamed`` event (its projection and the history follow); a
  closed order (SHIPPED, DELIVERED, CANCELLED, FAILED) keeps the name it was bought
  under. Idempotent: an order whose line has the new name already gets nothing (and
  the inbox drops a redelivered event).
* ``product.ProductPriceChanged``: nothing — an order keeps the price it was placed at.
* ``product.ReviewPosted`` / ``ReviewRemoved``: a ``ReviewMark`` in the event store
  (the history's "reviewed"), by the review's version (an older event arriving late
  changes nothing).
"""

from __future__ import annotations

from sqlalchemy import select

from isles import Handler, HandlerContext
from shop.contracts import STORE as STORE_TENANT
from shop.contracts.product import ProductRenamed, ReviewPosted, ReviewRemoved
from shop.services.order import store
from shop.services.order.aggregate import OPEN, ReviewMark, ReviewNoted, ReviewUnnoted
from shop.services.order.models import Order, OrderItem


async def on_product_renamed(ctx: HandlerContext, event: ProductRenamed) -> None:
    session = ctx.uow.session
    order_ids = (
        await session.scalars(
            select(Order.id)
            .join(OrderItem, OrderItem.order_id == Order.id)
            .where(OrderItem.product_id_ref == event.id, Order.status.in_(OPEN))
            .order_by(Order.id)
        )
    ).all()
    for order_id in dict.fromkeys(order_ids):
        order = await store.load(session, order_id)
        if order is not None and order.rename(event.id, event.name):
            await store.save(ctx.uow, order)


async def _note(ctx: HandlerContext, event: ReviewPosted | ReviewRemoved) -> None:
    session = ctx.uow.session
    mark = await store.STORE.load(session, ReviewMark, event.id) or ReviewMark(event.id, str(STORE_TENANT))
    version = ctx.envelope.aggregateversion or mark.source_version + 1
    noted: ReviewNoted | ReviewUnnoted
    if isinstance(event, ReviewPosted):
        noted = ReviewNoted(
            product_id_ref=event.product_id, user_id_ref=event.user_id_ref, rating=event.rating, source_version=version
        )
    else:
        noted = ReviewUnnoted(product_id_ref=event.product_id, user_id_ref=event.user_id_ref, source_version=version)
    if mark.note(noted):
        await store.save(ctx.uow, mark)


async def on_review_posted(ctx: HandlerContext, event: ReviewPosted) -> None:
    await _note(ctx, event)


async def on_review_removed(ctx: HandlerContext, event: ReviewRemoved) -> None:
    await _note(ctx, event)


HANDLERS = (
    Handler(event=ProductRenamed, fn=on_product_renamed),
    Handler(event=ReviewPosted, fn=on_review_posted),
    Handler(event=ReviewRemoved, fn=on_review_removed),
)
