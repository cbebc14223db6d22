"""Request and response bodies of the order API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shop.contracts import Money
from shop.contracts.order import OrderStatus, ShippingStatus

ORDER_ID = "0b8f3c1e-2d4a-4e6b-9c8d-7a6f5e4d3c2b"
USER_ID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
PRODUCT_ID = "a3bb189e-8bf9-3888-9912-ace4e6543002"
ADDRESS_ID = "e4f5a6b7-1c2d-4e3f-8a9b-0c1d2e3f4a5b"
AT = "2026-03-01T09:30:00Z"
PaymentMethod = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class LineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: uuid.UUID = Field(examples=[PRODUCT_ID])
    quantity: int = Field(ge=1, le=1000, examples=[2])


class OrderCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "lines": [{"product_id": PRODUCT_ID, "quantity": 2}],
                    "address_id": ADDRESS_ID,
                    "payment_method": "pm_ok",
                }
            ]
        },
    )

    lines: list[LineIn] = Field(min_length=1, max_length=50, description="One line per product.")
    address_id: uuid.UUID = Field(description="One of the buyer's addresses (the user service's).")
    payment_method: PaymentMethod = Field(
        description="The provider's payment method token. The embedded fake provider: pm_ok, pm_declined, "
        "pm_timeout, pm_unknown_then_paid.",
        examples=["pm_ok"],
    )
    user_id: uuid.UUID | None = Field(
        default=None,
        description="The buyer (default: the caller). Only an admin or the operator may order for someone else.",
    )


class OrderCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)] = Field(
        default="cancelled by request", examples=["changed my mind"]
    )


class ShippingChange(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"status": "SHIPPED", "carrier": "DHL", "tracking_number": "JD0146000033"}]},
    )

    status: ShippingStatus
    carrier: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = None
    tracking_number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = (
        None
    )


class ItemView(BaseModel):
    id: uuid.UUID
    product_id_ref: uuid.UUID
    sku: str
    product_name: str = Field(description="The name the product had when ordered (renamed while the order is open).")
    unit_price: Money = Field(description="The price when ordered (never changed later).")
    quantity: int
    subtotal: Money


class PaymentView(BaseModel):
    provider: str = Field(examples=["fake"])
    transaction_id: str = Field(description="The provider's reference of the charge.", examples=["ch_3f9a2c"])
    amount: Money
    currency: str
    payment_status: str = Field(description="captured or refunded", examples=["captured"])
    payment_method: str = Field(examples=["pm_ok"])
    authorized_at: datetime | None
    paid_at: datetime | None = Field(description="When the charge was captured.")
    refunded_at: datetime | None = Field(examples=[None])


class ShippingView(BaseModel):
    recipient_name: str
    address_line1: str
    address_line2: str | None
    city: str
    state: str | None = None
    postal_code: str
    country: str
    shipping_status: str = Field(examples=["SHIPPED"])
    carrier: str | None
    tracking_number: str | None
    shipped_at: datetime | None
    delivered_at: datetime | None


class OrderView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": ORDER_ID,
                    "order_number": "SO-2026-000123",
                    "user_id_ref": USER_ID,
                    "status": "CONFIRMED",
                    "total_amount": "39.80",
                    "currency": "EUR",
                    "failure_reason": None,
                    "created_at": AT,
                    "updated_at": AT,
                    "version": 5,
                    "items": [
                        {
                            "id": "5d2f7c1e-0a4b-4c6d-8e9f-1a2b3c4d5e6f",
                            "product_id_ref": PRODUCT_ID,
                            "sku": "MUG-001",
                            "product_name": "Enamel mug",
                            "unit_price": "19.90",
                            "quantity": 2,
                            "subtotal": "39.80",
                        }
                    ],
                }
            ]
        }
    )

    id: uuid.UUID
    order_number: str
    user_id_ref: uuid.UUID
    status: OrderStatus
    total_amount: Money
    currency: str
    failure_reason: str | None = Field(description="Why it FAILED or was CANCELLED.")
    created_at: datetime
    updated_at: datetime
    version: int
    items: list[ItemView] = []
    payment: PaymentView | None = None
    shipping: ShippingView | None = None


class HistoryItemView(BaseModel):
    product_id_ref: uuid.UUID
    product_name: str
    unit_price: Money
    quantity: int
    subtotal: Money
    reviewed: bool = Field(description="The user has a review of this product.")
    rating: int | None = None


class HistoryEntryView(BaseModel):
    order_id: uuid.UUID
    order_number: str
    status: OrderStatus
    total_amount: Money
    currency: str
    placed_at: datetime
    items: list[HistoryItemView]


class HistoryPage(BaseModel):
    items: list[HistoryEntryView]
    total: int
    limit: int
    offset: int


Outcome = Literal["created", "still running"]
