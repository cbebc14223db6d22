"""HTTP routes of the product service (mounted at ``/api/product``). Catalogue reads
are public; writes need the permissions named in ``deps.py``."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from isles import (
    IF_MATCH,
    Context,
    FieldError,
    Idempotent,
    Listing,
    Page,
    Problem,
    UniqueViolation,
    conflict,
    if_match,
    invalid,
    not_found,
    tagged,
)
from shop.contracts.product import Reservation
from shop.services.product import service
from shop.services.product.deps import WriteCatalog, WriteReviews, WriteStock, may_moderate, reviewer
from shop.services.product.models import Category, Product, ProductReview
from shop.services.product.schemas import (
    RESERVATION_EXAMPLE,
    CategoryCreate,
    CategoryUpdate,
    CategoryView,
    ImageCreate,
    ImageOrder,
    ImageUpdate,
    ImageView,
    ProductCreate,
    ProductUpdate,
    ProductView,
    ReservationCreate,
    ReviewPut,
    ReviewView,
    StockLevel,
)

router = APIRouter()

_CONFLICT: dict[int | str, dict[str, Any]] = {409: {"description": "A unique value (slug, sku) is already taken."}}


def _json(view: BaseModel, status_code: int = 200) -> Response:
    return Response(view.model_dump_json(), status_code=status_code, media_type="application/json")


def _no_nulls(changes: dict[str, Any], *fields: str) -> None:
    for name in fields:
        if name in changes and changes[name] is None:
            raise invalid([FieldError(name, f"{name} cannot be null", "null")])


# --- categories --------------------------------------------------------------------

CategoryList = Annotated[Listing, Depends(service.CATEGORIES.dependency)]


@router.get("/categories", response_model=Page[CategoryView], tags=["categories"], summary="List categories")
async def list_categories(
    rt: Context,
    listing: CategoryList,
    parent_id: Annotated[uuid.UUID | None, Query(description="Only the direct subcategories of this one.")] = None,
    top: Annotated[bool, Query(description="true: only the top categories (no parent).")] = False,
) -> Page[CategoryView]:
    """The categories (public). ``q`` finds names, slugs and descriptions; ``sort`` by
    ``name`` (default), ``slug``, ``created_at``."""
    where = select(Category)
    if parent_id is not None:
        where = where.where(Category.parent_id == parent_id)
    if top:
        where = where.where(Category.parent_id.is_(None))
    async with rt.db.read_session() as session:
        rows, total, cursor = await listing.fetch(session, where)
    return listing.page([CategoryView.model_validate(c) for c in rows], total, cursor)


@router.get("/categories/{category_id}", response_model=CategoryView, tags=["categories"], summary="Get a category")
async def get_category(category_id: uuid.UUID, rt: Context) -> Response:
    """One category (public); its ``ETag`` is its version."""
    async with rt.db.read_session() as session:
        category = await service.get_category(session, category_id)
    return tagged(CategoryView.model_validate(category), category.version)


@router.post(
    "/categories",
    status_code=status.HTTP_201_CREATED,
    response_model=CategoryView,
    responses=_CONFLICT,
    tags=["categories"],
    summary="Create a category",
)
async def create_category(body: CategoryCreate, request: Request, rt: Context, caller: WriteCatalog) -> Response:
    """A new category, under ``parent_id`` if given (422 if there is no such category).
    A slug another category has is a 409 naming ``slug``."""
    async with rt.uow() as uow:
        category = await service.create_category(uow=uow, data=body)
    answer = tagged(CategoryView.model_validate(category), category.version, status_code=201)
    answer.headers["Location"] = f"{request.url.path}/{category.id}"
    return answer


@router.patch(
    "/categories/{category_id}",
    response_model=CategoryView,
    responses=_CONFLICT,
    openapi_extra=IF_MATCH,
    tags=["categories"],
    summary="Change a category",
)
async def update_category(
    category_id: uuid.UUID, body: CategoryUpdate, request: Request, rt: Context, caller: WriteCatalog
) -> Response:
    """Change a category's name, slug, description or parent (never one of its own
    subcategories, nor itself: 422 naming ``parent_id``)."""
    changes = body.model_dump(exclude_unset=True)
    _no_nulls(changes, "name", "slug")
    async with rt.uow() as uow:
        category = await service.update_category(
            uow=uow, category_id=category_id, changes=changes, expected=if_match(request)
        )
    return tagged(CategoryView.model_validate(category), category.version)


@router.delete(
    "/categories/{category_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={409: {"description": "The category has subcategories."}},
    tags=["categories"],
    summary="Delete a category",
)
async def delete_category(category_id: uuid.UUID, rt: Context, caller: WriteCatalog) -> Response:
    """Delete a category that has no subcategories; its products are left in none."""
    async with rt.uow() as uow:
        await service.delete_category(uow=uow, category_id=category_id)
    return Response(status_code=204)


# --- products ----------------------------------------------------------------------

ProductList = Annotated[Listing, Depends(service.PRODUCTS.dependency)]


async def product_views(session: AsyncSession, products: list[Product]) -> list[ProductView]:
    known = await service.ratings(session, (p.id for p in products))
    views = []
    for p in products:
        view = ProductView.model_validate(p)
        rating = known.get(p.id)
        if rating is not None:
            view.average_rating, view.review_count = rating.average, rating.count
        views.append(view)
    return views


async def product_answer(rt: Any, product: Product, status_code: int = 200) -> Response:
    async with rt.db.read_session() as session:
        (view,) = await product_views(session, [product])
    return tagged(view, product.version, status_code=status_code)


@router.get("/products", response_model=Page[ProductView], tags=["products"], summary="List products")
async def list_products(
    rt: Context,
    listing: ProductList,
    category_id: Annotated[
        uuid.UUID | None, Query(description="Products of this category and of every category below it.")
    ] = None,
    availability: Annotated[
        service.Availability, Query(description="active (default): those on sale; discontinued; all.")
    ] = "active",
    min_price: Annotated[Decimal | None, Query(ge=0, max_digits=12, decimal_places=2)] = None,
    max_price: Annotated[Decimal | None, Query(ge=0, max_digits=12, decimal_places=2)] = None,
    in_stock: Annotated[
        bool | None, Query(description="true: only those with stock; false: only those without.")
    ] = None,
) -> Page[ProductView]:
    """The catalogue (public). ``q`` finds names and SKUs; ``sort`` by ``name``
    (default), ``price``, ``sku``, ``created_at``, ``stock_quantity`` (``-price``:
    dearest first); ``cursor`` pages."""
    async with rt.db.read_session() as session:
        where = await service.products_where(
            session,
            category_id=category_id,
            availability=availability,
            min_price=min_price,
            max_price=max_price,
            in_stock=in_stock,
        )
        rows, total, cursor = await listing.fetch(session, where)
        items = await product_views(session, rows)
    return listing.page(items, total, cursor)


@router.get("/products/{product_id}", response_model=ProductView, tags=["products"], summary="Get a product")
async def get_product(product_id: uuid.UUID, rt: Context) -> Response:
    """One product (public, discontinued ones too); its ``ETag`` is its version."""
    async with rt.db.read_session() as session:
        product = await service.get_product(session, product_id)
        (view,) = await product_views(session, [product])
    return tagged(view, product.version)


@router.post(
    "/products",
    status_code=status.HTTP_201_CREATED,
    response_model=ProductView,
    responses=_CONFLICT,
    tags=["products"],
    summary="Create a product",
)
async def create_product(
    body: ProductCreate, request: Request, rt: Context, idem: Idempotent, caller: WriteCatalog
) -> Response:
    """A new product; publishes ProductCreated. A SKU another product has is a 409
    naming ``sku``; an unknown ``category_id`` a 422. Honours ``Idempotency-Key``."""

    async def work(uow: Any) -> ProductView:
        product = await service.create_product(uow=uow, data=body)
        return ProductView.model_validate(product)

    return await idem.run(
        rt.uow,
        work,
        status_code=201,
        headers=lambda view: {"Location": f"{request.url.path}/{view.id}", "ETag": f'"{view.version}"'},
    )


@router.patch(
    "/products/{product_id}",
    response_model=ProductView,
    responses=_CONFLICT,
    openapi_extra=IF_MATCH,
    tags=["products"],
    summary="Change a product",
)
async def update_product(
    product_id: uuid.UUID, body: ProductUpdate, request: Request, rt: Context, caller: WriteCatalog
) -> Response:
    """Change a product. A new ``name`` publishes ProductRenamed, a new ``price``
    ProductPriceChanged (orders placed keep theirs), ``is_active: false``
    ProductDiscontinued (it can no longer be reserved). With ``If-Match``, a change made
    by someone else in between is a 412."""
    changes = body.model_dump(exclude_unset=True)
    _no_nulls(changes, "sku", "name", "price", "is_active")
    async with rt.uow() as uow:
        product = await service.update_product(
            uow=uow, product_id=product_id, changes=changes, expected=if_match(request)
        )
    return await product_answer(rt, product)


@router.put(
    "/products/{product_id}/stock",
    response_model=ProductView,
    openapi_extra=IF_MATCH,
    tags=["stock"],
    summary="Set a product's stock level",
)
async def set_stock(
    product_id: uuid.UUID, body: StockLevel, request: Request, rt: Context, caller: WriteStock
) -> Response:
    """Set the units in stock (what is on the shelf now, besides what is reserved)."""
    async with rt.uow() as uow:
        product = await service.set_stock(
            uow=uow, product_id=product_id, quantity=body.stock_quantity, expected=if_match(request)
        )
    return await product_answer(rt, product)


# --- images ------------------------------------------------------------------------


@router.get(
    "/products/{product_id}/images", response_model=list[ImageView], tags=["images"], summary="List a product's images"
)
async def list_images(product_id: uuid.UUID, rt: Context) -> list[ImageView]:
    """The product's images in their display order (public)."""
    async with rt.db.read_session() as session:
        await service.get_product(session, product_id)
        images = await service.images_of(session, product_id)
    return [ImageView.model_validate(i) for i in images]


@router.post(
    "/products/{product_id}/images",
    status_code=status.HTTP_201_CREATED,
    response_model=ImageView,
    tags=["images"],
    summary="Add an image",
)
async def add_image(
    product_id: uuid.UUID, body: ImageCreate, request: Request, rt: Context, caller: WriteCatalog
) -> Response:
    """Add an image to the product (by default after its others)."""
    async with rt.uow() as uow:
        image = await service.add_image(uow=uow, product_id=product_id, data=body)
    answer = _json(ImageView.model_validate(image), 201)
    answer.headers["Location"] = f"{request.url.path}/{image.id}"
    return answer


@router.put(
    "/products/{product_id}/images/order",
    response_model=list[ImageView],
    tags=["images"],
    summary="Reorder a product's images",
)
async def reorder_images(product_id: uuid.UUID, body: ImageOrder, rt: Context, caller: WriteCatalog) -> list[ImageView]:
    """Show the product's images in the order given (each of its images, once: else
    422 naming ``image_ids``)."""
    async with rt.uow() as uow:
        images = await service.reorder_images(uow=uow, product_id=product_id, image_ids=body.image_ids)
    return [ImageView.model_validate(i) for i in images]


@router.patch(
    "/products/{product_id}/images/{image_id}", response_model=ImageView, tags=["images"], summary="Change an image"
)
async def update_image(
    product_id: uuid.UUID, image_id: uuid.UUID, body: ImageUpdate, rt: Context, caller: WriteCatalog
) -> ImageView:
    """Change an image's address, text or place."""
    changes = body.model_dump(exclude_unset=True)
    _no_nulls(changes, "url", "display_order")
    async with rt.uow() as uow:
        image = await service.update_image(uow=uow, product_id=product_id, image_id=image_id, changes=changes)
    return ImageView.model_validate(image)


@router.delete(
    "/products/{product_id}/images/{image_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["images"],
    summary="Delete an image",
)
async def delete_image(product_id: uuid.UUID, image_id: uuid.UUID, rt: Context, caller: WriteCatalog) -> Response:
    async with rt.uow() as uow:
        await service.delete_image(uow=uow, product_id=product_id, image_id=image_id)
    return Response(status_code=204)


# --- reviews -----------------------------------------------------------------------

ReviewList = Annotated[Listing, Depends(service.REVIEWS.dependency)]


async def review_views(session: AsyncSession, reviews: list[ProductReview]) -> list[ReviewView]:
    verified = await service.bought(session, reviews)
    views = []
    for r in reviews:
        view = ReviewView.model_validate(r)
        view.verified_purchase = (r.user_id_ref, r.product_id) in verified
        views.append(view)
    return views


@router.get(
    "/products/{product_id}/reviews",
    response_model=Page[ReviewView],
    tags=["reviews"],
    summary="List a product's reviews",
)
async def list_reviews(
    product_id: uuid.UUID,
    rt: Context,
    listing: ReviewList,
    rating: Annotated[int | None, Query(ge=1, le=5, description="Only the reviews with this rating.")] = None,
) -> Page[ReviewView]:
    """The product's reviews (public), newest first; ``sort`` by ``created_at`` or ``rating``."""
    async with rt.db.read_session() as session:
        await service.get_product(session, product_id)
        where = select(ProductReview).where(ProductReview.product_id == product_id)
        if rating is not None:
            where = where.where(ProductReview.rating == rating)
        rows, total, cursor = await listing.fetch(session, where)
        items = await review_views(session, rows)
    return listing.page(items, total, cursor)


@router.put(
    "/products/{product_id}/reviews/me",
    response_model=ReviewView,
    responses={201: {"description": "The caller's first review of the product.", "model": ReviewView}},
    tags=["reviews"],
    summary="Post or change one's own review",
)
async def put_my_review(product_id: uuid.UUID, body: ReviewPut, rt: Context, caller: WriteReviews) -> Response:
    """The caller's review of the product: made (201) or changed (200); one per user
    and product. Publishes ReviewPosted."""
    user_id = reviewer(caller)
    for attempt in (1, 2):
        try:
            async with rt.uow() as uow:
                review, made = await service.put_review(
                    uow=uow, product_id=product_id, user_id=user_id, rating=body.rating, comment=body.comment
                )
            break
        except UniqueViolation:  # the same user's first review, twice at once: change the other
            if attempt == 2:
                raise
    async with rt.db.read_session() as session:
        (view,) = await review_views(session, [review])
    return _json(view, 201 if made else 200)


@router.delete(
    "/products/{product_id}/reviews/me",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["reviews"],
    summary="Delete one's own review",
)
async def delete_my_review(product_id: uuid.UUID, rt: Context, caller: WriteReviews) -> Response:
    """Delete the caller's review of the product (404 if they have none); publishes ReviewRemoved."""
    user_id = reviewer(caller)
    async with rt.uow() as uow:
        review = await service.find_review(uow.session, product_id, user_id=user_id)
        if review is None:
            raise not_found("review of product", product_id)
        await service.delete_review(uow=uow, review=review)
    return Response(status_code=204)


@router.delete(
    "/products/{product_id}/reviews/{review_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["reviews"],
    summary="Delete a review",
)
async def delete_review(product_id: uuid.UUID, review_id: uuid.UUID, rt: Context, caller: WriteReviews) -> Response:
    """Delete a review: one's own, or anyone's with ``reviews:moderate``. Publishes ReviewRemoved."""
    async with rt.uow() as uow:
        review = await service.find_review(uow.session, product_id, review_id=review_id)
        if review is None:
            raise not_found("review", review_id)
        if review.user_id_ref != caller.user_id and not may_moderate(caller):
            raise Problem(403, "only its author or a moderator may delete a review", slug="forbidden")
        await service.delete_review(uow=uow, review=review)
    return Response(status_code=204)


# --- stock reservations ------------------------------------------------------------

_RESERVE: dict[int | str, dict[str, Any]] = {
    200: {"description": "The reservation with this id, made before (a retry).", "model": Reservation},
    201: {
        "description": "Reserved: every line's stock taken.",
        "content": {"application/json": {"example": RESERVATION_EXAMPLE}},
    },
    409: {
        "description": "Not enough stock for a line (``lines[i].quantity``, saying how many are left), or the "
        "reservation id was used for other lines: nothing reserved."
    },
}


def _existing(existing: Reservation, body: ReservationCreate) -> Response:
    if not service.same_request(existing, body):
        raise conflict("reservation_id", f"reservation {existing.reservation_id} was made with other lines")
    return _json(existing)


@router.post(
    "/reservations",
    status_code=status.HTTP_201_CREATED,
    response_model=Reservation,
    responses=_RESERVE,
    tags=["stock"],
    summary="Reserve stock for an order",
)
async def reserve(
    body: ReservationCreate, request: Request, rt: Context, idem: Idempotent, caller: WriteStock
) -> Response:
    """Take every line's quantity from stock, all or nothing (the place-order saga's
    step). An unknown or discontinued product is a 422 naming ``lines[i].product_id``;
    too few units a 409 naming ``lines[i].quantity``. Stock never goes below zero, however
    many orders race for it. The same ``reservation_id`` again answers the reservation
    made (200); ``Idempotency-Key`` is honoured too."""
    async with rt.db.read_session() as session:
        existing = await service.reservation(session, body.reservation_id)
    if existing is not None:
        return _existing(existing, body)
    try:
        return await idem.run(
            rt.uow,
            lambda uow: service.reserve(uow=uow, data=body),
            status_code=201,
            headers=lambda r: {"Location": f"{request.url.path}/{r.reservation_id}"},
        )
    except UniqueViolation:  # the same reservation, made meanwhile by a concurrent request
        async with rt.db.read_session() as session:
            existing = await service.reservation(session, body.reservation_id)
        if existing is None:
            raise
        return _existing(existing, body)


@router.post(
    "/reservations/{reservation_id}/release",
    response_model=Reservation,
    tags=["stock"],
    summary="Release a reservation",
)
async def release(reservation_id: uuid.UUID, rt: Context, idem: Idempotent, caller: WriteStock) -> Response:
    """Give the reservation's stock back (the saga's compensation). Safe to repeat: a
    released reservation stays released, stock given back once. Releasing an id never
    reserved answers an empty released reservation and keeps it, so a reserve that
    arrives late with that id takes nothing."""
    for attempt in (1, 2):
        try:
            return await idem.run(rt.uow, lambda uow: service.release(uow=uow, reservation_id=reservation_id))
        except UniqueViolation:  # a concurrent reserve of the id: release what it took
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@router.get("/reservations/{reservation_id}", response_model=Reservation, tags=["stock"], summary="Get a reservation")
async def get_reservation(reservation_id: uuid.UUID, rt: Context, caller: WriteStock) -> Reservation:
    """A reservation: its status and lines as reserved."""
    async with rt.db.read_session() as session:
        found = await service.reservation(session, reservation_id)
    if found is None:
        raise not_found("reservation", reservation_id)
    return found
