"""What the shop's services publish and answer: their events, views and typed clients.

A service imports the platform (``isles``), these contracts and itself, never another
service's package. Money is :class:`decimal.Decimal` everywhere (a JSON string on the
wire, ``NUMERIC`` in the databases), never a float.

The shop is one store: its users' tokens name the store as their tenant
(:data:`STORE`), and what a customer may see is their own (addresses, orders,
reviews); the ``admin`` role runs the catalogue and sees every order.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated

from pydantic import Field, PlainSerializer

#: The store, the tenant every shop token names (one store per deployment).
STORE = uuid.UUID("5e0b5e0b-0000-4000-8000-000000005709")

#: A sum of money: exact, two decimal places, serialized as a string ("19.90").
Money = Annotated[
    Decimal,
    Field(max_digits=12, decimal_places=2),
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
]
CURRENCY = "EUR"

__all__ = ["CURRENCY", "STORE", "Money"]
