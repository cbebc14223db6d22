"""How the product service turns its rows into the events it publishes (the contracts
are in ``shop.contracts.product``)."""

from __future__ import annotations

from shop.contracts.product import (
    ProductCreated,
    ProductDiscontinued,
    ProductPriceChanged,
    ProductRenamed,
    ReviewPosted,
    ReviewRemoved,
)
from shop.services.product.models import Product, ProductReview

PUBLISHES = (ProductCreated, ProductRenamed, ProductPriceChanged, ProductDiscontinued, ReviewPosted, ReviewRemoved)


def created(p: Product) -> ProductCreated:
    return ProductCreated(
        id=p.id, sku=p.sku, name=p.name, price=p.price, category_id=p.category_id, is_active=p.is_active
    )


def review_posted(r: ProductReview) -> ReviewPosted:
    return ReviewPosted(id=r.id, product_id=r.product_id, user_id_ref=r.user_id_ref, rating=r.rating)


def review_removed(r: ProductReview) -> ReviewRemoved:
    return ReviewRemoved(id=r.id, product_id=r.product_id, user_id_ref=r.user_id_ref)
