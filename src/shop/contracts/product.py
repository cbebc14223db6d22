"""The product service's published contracts: catalogue events (the order service keeps
product names on open orders and in its history read model from them), the stock
reservation API the place-order saga calls, and a typed client."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, Field

from isles import Event

if TYPE_CHECKING:
    from isles import ServiceClient
from shop.contracts import Money

AGGREGATE = "product"
REVIEW = "review"


class ProductCreated(Event):
    event_type: ClassVar[str] = "product.ProductCreated"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    sku: str
    name: str
    price: Money
    category_id: uuid.UUID | None = None
    is_active: bool = True


class ProductRenamed(Event):
    """A product's name changed. Open orders take the new name; placed prices never change."""

    event_type: ClassVar[str] = "product.ProductRenamed"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    sku: str
    name: str
    previous_name: str


class ProductPriceChanged(Event):
    """A product's price changed. Orders already placed keep the price they were placed at."""

    event_type: ClassVar[str] = "product.ProductPriceChanged"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    sku: str
    price: Money
    previous_price: Money


class ProductDiscontinued(Event):
    """The product can no longer be ordered (it stays readable: orders name it)."""

    event_type: ClassVar[str] = "product.ProductDiscontinued"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    sku: str


class ReviewPosted(Event):
    """A user reviewed a product (or changed their review: one per user and product)."""

    event_type: ClassVar[str] = "product.ReviewPosted"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    product_id: uuid.UUID
    user_id_ref: uuid.UUID
    rating: int = Field(ge=1, le=5)


class ReviewRemoved(Event):
    event_type: ClassVar[str] = "product.ReviewRemoved"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    product_id: uuid.UUID
    user_id_ref: uuid.UUID


class ReservationLine(BaseModel):
    product_id: uuid.UUID
    quantity: int = Field(ge=1, le=1000)


class ReservedLine(BaseModel):
    """A reserved line, with the product as it was when reserved (the order keeps it)."""

    product_id: uuid.UUID
    sku: str
    name: str
    unit_price: Money
    quantity: int


class Reservation(BaseModel):
    """Stock set aside for one order (``reservation_id`` is the order's id).
    ``status``: ``reserved`` (stock taken) or ``released`` (given back)."""

    reservation_id: uuid.UUID
    status: str
    lines: list[ReservedLine]


class ProductClient:
    """The product service's stock API, over HTTP (or in-process in the embedded mode).
    Needs ``stock:write``. Both calls are idempotent by the reservation id: a retry
    answers what the first call did."""

    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    async def reserve(
        self, reservation_id: uuid.UUID, lines: list[ReservationLine], *, idempotency_key: str
    ) -> Reservation:
        """Take the lines' quantities from stock, all or nothing. A product without
        enough stock (or unknown, or discontinued) is a 409/422 naming the line
        (``Conflict``/``Rejected``): nothing is taken. Stock never goes below zero."""
        body = {"reservation_id": str(reservation_id), "lines": [line.model_dump(mode="json") for line in lines]}
        return await self._client.call("POST", "/reservations", Reservation, json=body, idempotency_key=idempotency_key)

    async def release(self, reservation_id: uuid.UUID, *, idempotency_key: str, compensates: str | None = None) -> None:
        """Give the reservation's stock back (nothing if it was released, or never made)."""
        await self._client.request(
            "POST",
            f"/reservations/{reservation_id}/release",
            idempotency_key=idempotency_key,
            compensates=compensates,
        )


__all__ = [
    "AGGREGATE",
    "REVIEW",
    "ProductClient",
    "ProductCreated",
    "ProductDiscontinued",
    "ProductPriceChanged",
    "ProductRenamed",
    "Reservation",
    "ReservationLine",
    "ReservedLine",
    "ReviewPosted",
    "ReviewRemoved",
]
