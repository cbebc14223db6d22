"""The shop system: which services run together (``isles up --system shop``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from isles import System
from shop.services import order, product, user

if TYPE_CHECKING:
    import httpx


async def _demo(client: httpx.AsyncClient) -> list[str]:
    """The demo data (imported when loaded: a command that only reads the
    declarations does not import the demo's HTTP client)."""
    from shop import demo

    return await demo.load(client)


def build() -> System:
    return System(
        name="shop",
        services=[user.build(), product.build(), order.build()],
        demo=_demo,
        identity_provider="user",
    )
