"""The shop's product service (issue 18, seed 003): the catalogue — categories (a
tree), products with exact prices and stock, their images and reviews — and the stock
reservations the order service's place-order saga makes and releases."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from isles import Service

if TYPE_CHECKING:
    from fastapi import APIRouter


def _api() -> APIRouter:
    from shop.services.product.api import router

    return router


def build() -> Service:
    from shop.services.product.events import PUBLISHES
    from shop.services.product.handlers import HANDLERS
    from shop.services.product.models import metadata

    return Service(
        name="product",
        metadata=metadata,
        router=_api,
        migrations=Path(__file__).parent / "migrations",
        publishes=PUBLISHES,
        handlers=HANDLERS,
        description="The catalogue: categories, products (exact prices, stock), images and reviews; "
        "stock reservations for orders (never below zero); who bought what, from order events.",
    )
