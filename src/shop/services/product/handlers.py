"""What the product service does with other services' events: it keeps who bought
what (``purchases``) from the order service's OrderPlaced, so a review can say it is a
verified purchase without asking the order service."""

from __future__ import annotations

from sqlalchemy import select, tuple_

from isles import Handler, HandlerContext
from shop.contracts.order import OrderPlaced
from shop.services.product.models import Purchase


async def on_order_placed(ctx: HandlerContext, event: OrderPlaced) -> None:
    """Note each product of the order as bought by its buyer (once: a redelivered
    event, or a second order of the same product, adds nothing)."""
    wanted = {line.product_id_ref for line in event.lines}
    if not wanted:
        return
    session = ctx.uow.session
    keys = [(event.user_id_ref, product_id) for product_id in wanted]
    rows = await session.execute(
        select(Purchase.user_id_ref, Purchase.product_id).where(
            tuple_(Purchase.user_id_ref, Purchase.product_id).in_(keys)
        )
    )
    known = {(row.user_id_ref, row.product_id) for row in rows}
    for user_id, product_id in sorted(set(keys) - known):
        session.add(
            Purchase(user_id_ref=user_id, product_id=product_id, order_id_ref=event.id, placed_at=event.placed_at)
        )


HANDLERS = (Handler(event=OrderPlaced, fn=on_order_placed),)
