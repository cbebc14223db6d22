"""Request and response bodies of the product API. Prices are :data:`Money`: exact
decimals with two places, a JSON string (``"19.90"``) in answers."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from shop.contracts import Money
from shop.contracts.product import ReservationLine

CATEGORY_ID = "c47e0f6a-3a51-4c1e-9a0e-2d7f3b9c1a10"
PARENT_ID = "c47e0f6a-3a51-4c1e-9a0e-2d7f3b9c1a01"
PRODUCT_ID = "9b1f4c2e-7d3a-4e5b-8c6d-1a2b3c4d5e6f"
IMAGE_ID = "1e2d3c4b-5a69-4788-9a0b-c1d2e3f4a5b6"
REVIEW_ID = "7a6b5c4d-3e2f-4109-8a7b-6c5d4e3f2a1b"
USER_ID = "0f1e2d3c-4b5a-4697-8877-665544332211"
ORDER_ID = "5d4c3b2a-1908-4f7e-8d6c-5b4a39281706"
CREATED_AT = "2026-11-20T09:30:00Z"
UPDATED_AT = "2026-11-21T14:05:00Z"

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
CategoryName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Slug = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$"),
    Field(description="Lower-case letters, digits and single hyphens (e.g. 'science-fiction')."),
]
Sku = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"),
    Field(description="Letters, digits, '.', '_' and '-' (e.g. 'BK-FIC-001')."),
]
Description = Annotated[str, StringConstraints(max_length=10_000)]
CENT = Decimal("0.01")
Price = Annotated[
    Money,
    Field(gt=0, description='More than 0, two decimal places at most (e.g. "19.90").'),
    AfterValidator(lambda d: d.quantize(CENT)),  # "99.5" is 99.50: one form in the API and the events
]
Stock = Annotated[int, Field(ge=0, le=1_000_000)]
Url = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2000, pattern=r"^(https?://|/)\S+$"),
    Field(description="An http(s) address or a path on this site."),
]
AltText = Annotated[str, StringConstraints(max_length=300)]
Rating = Annotated[int, Field(ge=1, le=5, description="1 (poor) to 5 (excellent).")]
Comment = Annotated[str, StringConstraints(max_length=5_000)]


# --- categories --------------------------------------------------------------------


class CategoryCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "Fiction", "slug": "fiction", "parent_id": PARENT_ID, "description": "Novels and stories."}
            ]
        },
    )

    name: CategoryName
    slug: Slug
    parent_id: uuid.UUID | None = Field(default=None, description="The parent category (none: a top category).")
    description: Description | None = None


class CategoryUpdate(BaseModel):
    """The fields to change (those left out stay); ``parent_id: null`` makes it a top category."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "Novels"}]})

    name: CategoryName | None = None
    slug: Slug | None = None
    parent_id: uuid.UUID | None = None
    description: Description | None = None


class CategoryView(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": CATEGORY_ID,
                    "parent_id": PARENT_ID,
                    "name": "Fiction",
                    "slug": "fiction",
                    "description": "Novels and stories.",
                    "version": 1,
                    "created_at": CREATED_AT,
                    "updated_at": UPDATED_AT,
                }
            ]
        },
    )

    id: uuid.UUID
    parent_id: uuid.UUID | None
    name: str
    slug: str
    description: str | None
    version: int
    created_at: datetime
    updated_at: datetime


# --- products ----------------------------------------------------------------------

_PRODUCT: dict[str, Any] = {
    "sku": "BK-FIC-001",
    "name": "The Left Hand of Darkness",
    "description": "Ursula K. Le Guin's novel of the planet Winter.",
    "price": "19.90",
    "stock_quantity": 12,
    "category_id": CATEGORY_ID,
}


class ProductCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_PRODUCT]})

    sku: Sku
    name: Name
    description: Description | None = None
    price: Price
    stock_quantity: Stock = 0
    category_id: uuid.UUID | None = None
    is_active: bool = True


class ProductUpdate(BaseModel):
    """The fields to change (those left out stay). ``is_active: false`` discontinues
    the product (ProductDiscontinued); stock is set with ``PUT …/stock``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"price": "17.50"}]})

    sku: Sku | None = None
    name: Name | None = None
    description: Description | None = None
    price: Price | None = None
    category_id: uuid.UUID | None = None
    is_active: bool | None = None


class ProductView(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": PRODUCT_ID,
                    **_PRODUCT,
                    "is_active": True,
                    "average_rating": "4.50",
                    "review_count": 2,
                    "version": 3,
                    "created_at": CREATED_AT,
                    "updated_at": UPDATED_AT,
                }
            ]
        },
    )

    id: uuid.UUID
    sku: str
    name: str
    description: str | None
    price: Money
    stock_quantity: int
    category_id: uuid.UUID | None
    is_active: bool
    average_rating: Money | None = Field(default=None, description="The mean of its ratings (null: no review).")
    review_count: int = 0
    version: int
    created_at: datetime
    updated_at: datetime


class StockLevel(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"stock_quantity": 40}]})

    stock_quantity: Stock


# --- images ------------------------------------------------------------------------


class ImageCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"url": "https://img.example.com/bk-fic-001.jpg", "alt_text": "The cover", "display_order": 0}]
        },
    )

    url: Url
    alt_text: AltText | None = None
    display_order: int | None = Field(
        default=None, ge=0, le=10_000, description="Where it shows (default: after the others)."
    )


class ImageUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"alt_text": "The back cover"}]})

    url: Url | None = None
    alt_text: AltText | None = None
    display_order: int | None = Field(default=None, ge=0, le=10_000)


class ImageOrder(BaseModel):
    """Every image of the product, in the order they should show."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"image_ids": [IMAGE_ID]}]})

    image_ids: list[uuid.UUID] = Field(max_length=500)


class ImageView(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": IMAGE_ID,
                    "product_id": PRODUCT_ID,
                    "url": "https://img.example.com/bk-fic-001.jpg",
                    "alt_text": "The cover",
                    "display_order": 0,
                    "created_at": CREATED_AT,
                }
            ]
        },
    )

    id: uuid.UUID
    product_id: uuid.UUID
    url: str
    alt_text: str | None
    display_order: int
    created_at: datetime


# --- reviews -----------------------------------------------------------------------


class ReviewPut(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"rating": 5, "comment": "A classic. Read it twice."}]}
    )

    rating: Rating
    comment: Comment | None = None


class ReviewView(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": REVIEW_ID,
                    "product_id": PRODUCT_ID,
                    "user_id_ref": USER_ID,
                    "rating": 5,
                    "comment": "A classic. Read it twice.",
                    "verified_purchase": True,
                    "created_at": CREATED_AT,
                    "updated_at": UPDATED_AT,
                }
            ]
        },
    )

    id: uuid.UUID
    product_id: uuid.UUID
    user_id_ref: uuid.UUID
    rating: int
    comment: str | None
    verified_purchase: bool = Field(default=False, description="The author bought the product in this shop.")
    created_at: datetime
    updated_at: datetime


# --- reservations ------------------------------------------------------------------


class ReservationCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"reservation_id": ORDER_ID, "lines": [{"product_id": PRODUCT_ID, "quantity": 2}]}]
        },
    )

    reservation_id: uuid.UUID = Field(description="The order's id: a second request with it answers the first.")
    lines: list[ReservationLine] = Field(min_length=1, max_length=100)


RESERVATION_EXAMPLE = {
    "reservation_id": ORDER_ID,
    "status": "reserved",
    "lines": [
        {
            "product_id": PRODUCT_ID,
            "sku": "BK-FIC-001",
            "name": "The Left Hand of Darkness",
            "unit_price": "19.90",
            "quantity": 2,
        }
    ],
}
