"""The product service's demo data, loaded as the operator through the public API: a
small category tree, a dozen products with exact prices, stock and a picture or two.
No reviews (the demo's customers do not exist yet when the catalogue is loaded).
Loading twice adds nothing: a category whose slug exists, or a product whose SKU
exists, is left as it is."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

BASE = "/api/product"

#: (slug, name, parent slug, description)
CATEGORIES: list[tuple[str, str, str | None, str]] = [
    ("books", "Books", None, "Printed books."),
    ("fiction", "Fiction", "books", "Novels and stories."),
    ("science", "Science", "books", "Popular science."),
    ("electronics", "Electronics", None, "Gadgets and devices."),
    ("audio", "Audio", "electronics", "Headphones and speakers."),
    ("home", "Home", None, "For the kitchen and the living room."),
]

#: (sku, name, category slug, price, stock, images)
PRODUCTS: list[tuple[str, str, str, Decimal, int, int]] = [
    ("BK-FIC-001", "The Left Hand of Darkness", "fiction", Decimal("19.90"), 25, 2),
    ("BK-FIC-002", "Solaris", "fiction", Decimal("14.50"), 12, 1),
    ("BK-FIC-003", "Invisible Cities", "fiction", Decimal("12.00"), 3, 1),
    ("BK-SCI-001", "A Brief History of Time", "science", Decimal("16.99"), 18, 1),
    ("BK-SCI-002", "The Selfish Gene", "science", Decimal("13.75"), 0, 0),
    ("EL-AUD-001", "Over-ear Headphones", "audio", Decimal("129.00"), 8, 2),
    ("EL-AUD-002", "Bluetooth Speaker", "audio", Decimal("59.90"), 15, 1),
    ("EL-AUD-003", "In-ear Monitors", "audio", Decimal("89.00"), 1, 0),
    ("EL-GEN-001", "USB-C Charger 65 W", "electronics", Decimal("34.99"), 40, 1),
    ("HM-KIT-001", "Cast-iron Pan 28 cm", "home", Decimal("49.00"), 10, 1),
    ("HM-KIT-002", "Pour-over Coffee Set", "home", Decimal("27.40"), 6, 0),
    ("HM-LIV-001", "Wool Throw", "home", Decimal("64.95"), 4, 1),
]


def _ok(response: httpx.Response) -> Any:
    response.raise_for_status()
    return response.json()


async def load(client: httpx.AsyncClient) -> list[str]:
    """Load the demo catalogue (what is missing of it). Returns what to print."""
    known = {c["slug"]: c["id"] for c in _ok(await client.get(f"{BASE}/categories", params={"limit": 500}))["items"]}
    made_categories = 0
    for slug, name, parent, description in CATEGORIES:
        if slug in known:
            continue
        body = {"slug": slug, "name": name, "description": description, "parent_id": known.get(parent or "")}
        known[slug] = _ok(await client.post(f"{BASE}/categories", json=body))["id"]
        made_categories += 1
    listed = _ok(await client.get(f"{BASE}/products", params={"limit": 500, "availability": "all"}))["items"]
    skus = {p["sku"] for p in listed}
    made_products = 0
    for sku, name, category, price, stock, images in PRODUCTS:
        if sku in skus:
            continue
        body = {
            "sku": sku,
            "name": name,
            "price": str(price),
            "stock_quantity": stock,
            "category_id": known[category],
            "description": f"{name}: one of the demo shop's products.",
        }
        product = _ok(await client.post(f"{BASE}/products", json=body))
        for n in range(images):
            image = {"url": f"https://img.example.com/{sku.lower()}-{n + 1}.jpg", "alt_text": f"{name}, view {n + 1}"}
            _ok(await client.post(f"{BASE}/products/{product['id']}/images", json=image))
        made_products += 1
    if not made_categories and not made_products:
        return []
    return [f"  product: {made_categories} categories, {made_products} products (with stock and images)"]
