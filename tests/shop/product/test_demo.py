"""The product service's demo data: a category tree, a dozen products with exact
prices, stock and images, loaded through the API; loading again adds nothing."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from shop import demo
from shop.services.product import demo as product_demo
from tests.shop.product.helpers import BASE, ok

pytestmark = pytest.mark.integration


async def test_the_demo_catalogue_loads_once(shop_api: httpx.AsyncClient) -> None:
    lines = await demo.load(shop_api)  # the shop's demo runs the product loader among the others
    assert any(line.startswith("  product: 6 categories, 12 products") for line in lines), lines
    categories = ok(await shop_api.get(f"{BASE}/categories", params={"limit": 100}))["items"]
    by_slug = {c["slug"]: c for c in categories}
    assert by_slug["fiction"]["parent_id"] == by_slug["books"]["id"]
    assert by_slug["audio"]["parent_id"] == by_slug["electronics"]["id"]
    products = ok(await shop_api.get(f"{BASE}/products", params={"limit": 100}))["items"]
    assert len(products) == len(product_demo.PRODUCTS) == 12
    prices = {p["sku"]: p["price"] for p in products}
    assert prices["BK-FIC-001"] == "19.90"
    assert sum(Decimal(p) for p in prices.values()) == sum(price for _, _, _, price, _, _ in product_demo.PRODUCTS)
    books = ok(await shop_api.get(f"{BASE}/products", params={"category_id": by_slug["books"]["id"], "limit": 100}))
    assert books["total"] == 5  # fiction and science are books
    headphones = next(p for p in products if p["sku"] == "EL-AUD-001")
    assert len(ok(await shop_api.get(f"{BASE}/products/{headphones['id']}/images"))) == 2
    assert await product_demo.load(shop_api) == []
    assert ok(await shop_api.get(f"{BASE}/products", params={"limit": 1}))["total"] == 12
