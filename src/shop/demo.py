"""The shop's demo data, loaded through the services' APIs on first start (as a
store's admin would, with the operator token): each service's loader in turn."""

from __future__ import annotations

import httpx

from shop.services.order import demo as orders
from shop.services.product import demo as products
from shop.services.user import demo as users

#: service -> its loader, in the order they run (orders need users and products).
LOADERS = {"user": users.load, "product": products.load, "order": orders.load}


async def load(client: httpx.AsyncClient) -> list[str]:
    """Load every service's demo data; each loader returns lines saying what it made."""
    lines: list[str] = []
    for _service, loader in LOADERS.items():
        lines.extend(await loader(client))
    return lines
