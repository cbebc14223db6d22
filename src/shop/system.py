"""The shop system: which services run together (``isles up --system shop``)."""

from __future__ import annotations

from isles import System
from shop import demo
from shop.services import order, product, user


def build() -> System:
    return System(
        name="shop",
        services=[user.build(), product.build(), order.build()],
        demo=demo.load,
        identity_provider="user",
    )
