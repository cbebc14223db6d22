"""The shop (seed 003, ADR-0005): a second system on the Isles platform — users,
products and orders, each service with its own database. ``isles up --system shop``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from isles import System


def build() -> System:
    """The shop system (``--system shop`` names this function)."""
    from shop.system import build as _build

    return _build()
