"""The shop's order service (issue 18, seed 003): orders kept as their events (the
order aggregate in the ``event_store`` table), the ER diagram's tables (``orders``,
``order_items``, ``order_payment``, ``order_shipping``) a projection of them, a user's
order history (a CQRS read model of order and product events), the place-order and
cancel sagas (user and product services, a payment-provider adapter) and shipping."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from isles import Service

if TYPE_CHECKING:
    from fastapi import APIRouter


def _api() -> APIRouter:
    from shop.services.order.api import router

    return router


def build() -> Service:
    from shop.services.order.handlers import HANDLERS
    from shop.services.order.models import metadata
    from shop.services.order.sagas import SAGAS
    from shop.services.order.store import PUBLISHES, STORE

    return Service(
        name="order",
        metadata=metadata,
        router=_api,
        migrations=Path(__file__).parent / "migrations",
        publishes=PUBLISHES,
        handlers=HANDLERS,
        sagas=SAGAS,
        permissions=("users:read", "stock:write"),
        event_stores=(STORE,),
        description="Orders: kept as their events (projections: orders, items, payment, shipping; a user's "
        "order history), placed by a saga (user, product, payment provider), cancelled, shipped.",
    )
