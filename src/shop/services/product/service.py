"""Product use cases: the catalogue (categories, products, images), reviews, stock
levels and the stock reservations of the place-order saga.

Stock never goes below zero: a reservation takes each line with one conditional
update (``stock_quantity = stock_quantity - q WHERE stock_quantity >= q``) and checks
that it hit the row, all lines in one transaction (every line or none), the rows
touched in product-id order (two reservations never wait on each other in a cycle).
The table's CHECK (``stock_quantity >= 0``) is the last line.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Select, Table, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from isles import (
    FieldError,
    ListSpec,
    Precondition,
    Problem,
    UniqueViolation,
    UnitOfWork,
    conflict,
    invalid,
    not_found,
    utcnow,
)
from shop.contracts.product import (
    AGGREGATE,
    REVIEW,
    ProductDiscontinued,
    ProductPriceChanged,
    ProductRenamed,
    Reservation,
    ReservedLine,
)
from shop.services.product import events
from shop.services.product.models import (
    RELEASED,
    RESERVED,
    Category,
    Product,
    ProductImage,
    ProductReview,
    Purchase,
    ReservationLine,
    StockReservation,
)
from shop.services.product.schemas import CategoryCreate, ImageCreate, ProductCreate, ReservationCreate

_products: Table = Product.__table__  # type: ignore[assignment]

# --- categories --------------------------------------------------------------------

CATEGORIES = ListSpec(
    sort={"name": Category.name, "slug": Category.slug, "created_at": Category.created_at},
    default=("name",),
    key=Category.id,
    search=(Category.name, Category.slug, Category.description),
)


def _slug_taken(exc: UniqueViolation) -> Problem:
    if "slug" in exc.columns:
        return conflict("slug", "this slug is already taken by another category")
    raise exc


def _sku_taken(exc: UniqueViolation) -> Problem:
    if "sku" in exc.columns:
        return conflict("sku", "this sku is already taken by another product")
    raise exc


async def _category_exists(session: AsyncSession, category_id: uuid.UUID, field: str) -> None:
    if await session.scalar(select(Category.id).where(Category.id == category_id)) is None:
        raise invalid([FieldError(field, f"category {category_id} does not exist", "not_found")])


async def create_category(*, uow: UnitOfWork, data: CategoryCreate) -> Category:
    if data.parent_id is not None:
        await _category_exists(uow.session, data.parent_id, "parent_id")
    category = Category(
        id=uuid.uuid4(),
        parent_id=data.parent_id,
        name=data.name,
        slug=data.slug,
        description=data.description,
        version=0,
    )
    uow.session.add(category)
    try:
        await uow.commit()
    except UniqueViolation as exc:
        raise _slug_taken(exc) from exc
    return category


async def get_category(session: AsyncSession, category_id: uuid.UUID) -> Category:
    category = await session.get(Category, category_id)
    if category is None:
        raise not_found("category", category_id)
    return category


async def _parents(session: AsyncSession) -> dict[uuid.UUID, uuid.UUID | None]:
    """Every category's parent (the tree is small: a shop has hundreds, not millions)."""
    rows = await session.execute(select(Category.id, Category.parent_id))
    return {r.id: r.parent_id for r in rows}


async def update_category(
    *, uow: UnitOfWork, category_id: uuid.UUID, changes: Mapping[str, Any], expected: Precondition | None = None
) -> Category:
    """Change a category; a new parent must exist and must not be the category itself
    or one of its descendants (422 naming ``parent_id``)."""
    session = uow.session
    category = await session.get(Category, category_id, with_for_update=True)
    if category is None:
        raise not_found("category", category_id)
    if expected is not None:
        expected.check(category.version, f"category {category_id}")
    if changes.get("parent_id") is not None and changes["parent_id"] != category.parent_id:
        parent_id: uuid.UUID = changes["parent_id"]
        await _category_exists(session, parent_id, "parent_id")
        parents = await _parents(session)
        node: uuid.UUID | None = parent_id
        seen: set[uuid.UUID] = set()
        while node is not None and node not in seen:
            if node == category.id:
                raise invalid(
                    [FieldError("parent_id", "a category cannot be its own ancestor (that would be a cycle)", "cycle")]
                )
            seen.add(node)
            node = parents.get(node)
    fields = [k for k, v in changes.items() if getattr(category, k) != v]
    if not fields:
        return category
    for key in fields:
        setattr(category, key, changes[key])
    category.version += 1
    category.updated_at = utcnow()
    try:
        await uow.commit()
    except UniqueViolation as exc:
        raise _slug_taken(exc) from exc
    return category


async def delete_category(*, uow: UnitOfWork, category_id: uuid.UUID) -> None:
    """Delete a category without subcategories; its products are left in none."""
    session = uow.session
    category = await session.get(Category, category_id, with_for_update=True)
    if category is None:
        raise not_found("category", category_id)
    children = await session.scalar(select(func.count()).where(Category.parent_id == category_id))
    if children:
        raise conflict("category_id", f"the category has {children} subcategories: move or delete them first")
    await session.execute(
        update(_products).where(_products.c.category_id == category_id).values(category_id=None, updated_at=utcnow())
    )
    await session.delete(category)
    await uow.commit()


async def subtree(session: AsyncSession, category_id: uuid.UUID) -> list[uuid.UUID]:
    """``category_id`` and every category below it."""
    parents = await _parents(session)
    children: dict[uuid.UUID | None, list[uuid.UUID]] = {}
    for child, parent in parents.items():
        children.setdefault(parent, []).append(child)
    found, todo = [], [category_id]
    while todo:
        node = todo.pop()
        if node in found:
            continue
        found.append(node)
        todo.extend(children.get(node, []))
    return found


# --- products ----------------------------------------------------------------------

PRODUCTS = ListSpec(
    sort={
        "name": Product.name,
        "price": Product.price,
        "sku": Product.sku,
        "created_at": Product.created_at,
        "stock_quantity": Product.stock_quantity,
    },
    default=("name",),
    key=Product.id,
    search=(Product.name, Product.sku),
)

Availability = Literal["active", "discontinued", "all"]


async def products_where(
    session: AsyncSession,
    *,
    category_id: uuid.UUID | None,
    availability: Availability,
    min_price: Decimal | None = None,
    max_price: Decimal | None = None,
    in_stock: bool | None = None,
) -> Select[Any]:
    q = select(Product)
    if category_id is not None:
        q = q.where(Product.category_id.in_(await subtree(session, category_id)))
    if availability != "all":
        q = q.where(Product.is_active.is_(availability == "active"))
    if min_price is not None:
        q = q.where(Product.price >= min_price)
    if max_price is not None:
        q = q.where(Product.price <= max_price)
    if in_stock is not None:
        q = q.where(Product.stock_quantity > 0 if in_stock else Product.stock_quantity == 0)
    return q


@dataclass(frozen=True)
class Ratings:
    average: Decimal | None
    count: int


async def ratings(session: AsyncSession, product_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Ratings]:
    """The products' review count and average rating (two decimals), in one query."""
    ids = list(set(product_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(ProductReview.product_id, func.count(), func.sum(ProductReview.rating))
        .where(ProductReview.product_id.in_(ids))
        .group_by(ProductReview.product_id)
    )
    return {
        pid: Ratings((Decimal(int(total)) / count).quantize(Decimal("0.01")), int(count))
        for pid, count, total in rows
        if count
    }


async def get_product(session: AsyncSession, product_id: uuid.UUID) -> Product:
    product = await session.get(Product, product_id)
    if product is None:
        raise not_found("product", product_id)
    return product


def _emit(uow: UnitOfWork, product: Product, event: Any) -> None:
    uow.emit(event, aggregate=product, aggregate_type=AGGREGATE)


async def create_product(*, uow: UnitOfWork, data: ProductCreate) -> Product:
    """A new product; ProductCreated in the same transaction (and ProductDiscontinued
    too if it is created inactive)."""
    if data.category_id is not None:
        await _category_exists(uow.session, data.category_id, "category_id")
    product = Product(
        id=uuid.uuid4(),
        sku=data.sku,
        name=data.name,
        description=data.description,
        price=data.price,
        stock_quantity=data.stock_quantity,
        category_id=data.category_id,
        is_active=data.is_active,
        version=0,
    )
    uow.session.add(product)
    _emit(uow, product, events.created(product))
    try:
        await uow.commit()
    except UniqueViolation as exc:
        raise _sku_taken(exc) from exc
    return product


async def _product_for_update(session: AsyncSession, product_id: uuid.UUID) -> Product:
    product = await session.get(Product, product_id, with_for_update=True)
    if product is None:
        raise not_found("product", product_id)
    return product


async def update_product(
    *, uow: UnitOfWork, product_id: uuid.UUID, changes: Mapping[str, Any], expected: Precondition | None = None
) -> Product:
    """Change a product (under its row lock, against the version the caller read). A
    new name publishes ProductRenamed, a new price ProductPriceChanged, ``is_active``
    false ProductDiscontinued — each with the change, in its transaction."""
    session = uow.session
    product = await _product_for_update(session, product_id)
    if expected is not None:
        expected.check(product.version, f"product {product_id}")
    fields = [k for k, v in changes.items() if getattr(product, k) != v]
    if not fields:
        return product
    if "category_id" in fields and changes["category_id"] is not None:
        await _category_exists(session, changes["category_id"], "category_id")
    previous_name, previous_price, was_active = product.name, product.price, product.is_active
    for key in fields:
        setattr(product, key, changes[key])
    product.updated_at = utcnow()
    emitted = False
    if "name" in fields:
        _emit(
            uow, product, ProductRenamed(id=product.id, sku=product.sku, name=product.name, previous_name=previous_name)
        )
        emitted = True
    if "price" in fields:
        _emit(
            uow,
            product,
            ProductPriceChanged(id=product.id, sku=product.sku, price=product.price, previous_price=previous_price),
        )
        emitted = True
    if "is_active" in fields and was_active and not product.is_active:
        _emit(uow, product, ProductDiscontinued(id=product.id, sku=product.sku))
        emitted = True
    if not emitted:
        product.version += 1
    try:
        await uow.commit()
    except UniqueViolation as exc:
        raise _sku_taken(exc) from exc
    return product


async def set_stock(
    *, uow: UnitOfWork, product_id: uuid.UUID, quantity: int, expected: Precondition | None = None
) -> Product:
    """Set the units in stock (a count of the shelf: reservations already made stay taken)."""
    product = await _product_for_update(uow.session, product_id)
    if expected is not None:
        expected.check(product.version, f"product {product_id}")
    if product.stock_quantity != quantity:
        product.stock_quantity = quantity
        product.version += 1
        product.updated_at = utcnow()
        await uow.commit()
    return product


# --- images ------------------------------------------------------------------------


async def images_of(session: AsyncSession, product_id: uuid.UUID) -> list[ProductImage]:
    rows = await session.scalars(
        select(ProductImage)
        .where(ProductImage.product_id == product_id)
        .order_by(ProductImage.display_order, ProductImage.created_at, ProductImage.id)
    )
    return list(rows)


async def add_image(*, uow: UnitOfWork, product_id: uuid.UUID, data: ImageCreate) -> ProductImage:
    session = uow.session
    await _product_for_update(session, product_id)  # images of one product are added one at a time
    order = data.display_order
    if order is None:
        last = await session.scalar(
            select(func.max(ProductImage.display_order)).where(ProductImage.product_id == product_id)
        )
        order = 0 if last is None else int(last) + 1
    image = ProductImage(
        id=uuid.uuid4(), product_id=product_id, url=data.url, alt_text=data.alt_text, display_order=order
    )
    session.add(image)
    await uow.commit()
    return image


async def _image(session: AsyncSession, product_id: uuid.UUID, image_id: uuid.UUID) -> ProductImage:
    image = await session.get(ProductImage, image_id, with_for_update=True)
    if image is None or image.product_id != product_id:
        raise not_found("image", image_id)
    return image


async def update_image(
    *, uow: UnitOfWork, product_id: uuid.UUID, image_id: uuid.UUID, changes: Mapping[str, Any]
) -> ProductImage:
    image = await _image(uow.session, product_id, image_id)
    for key, value in changes.items():
        setattr(image, key, value)
    await uow.commit()
    return image


async def delete_image(*, uow: UnitOfWork, product_id: uuid.UUID, image_id: uuid.UUID) -> None:
    image = await _image(uow.session, product_id, image_id)
    await uow.session.delete(image)
    await uow.commit()


async def reorder_images(
    *, uow: UnitOfWork, product_id: uuid.UUID, image_ids: Sequence[uuid.UUID]
) -> list[ProductImage]:
    """Put the product's images in the order given (every one of them, each once)."""
    session = uow.session
    await _product_for_update(session, product_id)
    images = {i.id: i for i in await images_of(session, product_id)}
    if len(set(image_ids)) != len(image_ids) or set(image_ids) != set(images):
        raise invalid(
            [FieldError("image_ids", f"name each of the product's {len(images)} images once, in the new order", "set")]
        )
    for position, image_id in enumerate(image_ids):
        images[image_id].display_order = position
    await uow.commit()
    return [images[i] for i in image_ids]


# --- reviews -----------------------------------------------------------------------

REVIEWS = ListSpec(
    sort={"created_at": ProductReview.created_at, "rating": ProductReview.rating},
    default=("-created_at",),
    key=ProductReview.id,
)


async def put_review(
    *, uow: UnitOfWork, product_id: uuid.UUID, user_id: uuid.UUID, rating: int, comment: str | None
) -> tuple[ProductReview, bool]:
    """The user's review of the product, made or changed (one per user and product);
    ReviewPosted in the same transaction. Returns it and whether it is new."""
    session = uow.session
    if await session.scalar(select(Product.id).where(Product.id == product_id)) is None:
        raise not_found("product", product_id)
    review = await session.scalar(
        select(ProductReview)
        .where(ProductReview.product_id == product_id, ProductReview.user_id_ref == user_id)
        .with_for_update()
    )
    made = review is None
    if review is None:
        review = ProductReview(id=uuid.uuid4(), product_id=product_id, user_id_ref=user_id, version=0)
        session.add(review)
    elif review.rating == rating and review.comment == comment:
        return review, False
    review.rating = rating
    review.comment = comment
    review.updated_at = utcnow()
    uow.emit(events.review_posted(review), aggregate=review, aggregate_type=REVIEW)
    await uow.commit()  # a concurrent first review by the same user: UniqueViolation
    return review, made


async def bought(session: AsyncSession, reviews: Sequence[ProductReview]) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """Which of the reviews' (user, product) pairs are purchases, in one query."""
    keys = {(r.user_id_ref, r.product_id) for r in reviews}
    if not keys:
        return set()
    rows = await session.execute(
        select(Purchase.user_id_ref, Purchase.product_id).where(
            tuple_(Purchase.user_id_ref, Purchase.product_id).in_(list(keys))
        )
    )
    return {(row.user_id_ref, row.product_id) for row in rows}


async def delete_review(*, uow: UnitOfWork, review: ProductReview) -> None:
    uow.emit(events.review_removed(review), aggregate=review, aggregate_type=REVIEW)
    await uow.session.delete(review)
    await uow.commit()


async def find_review(
    session: AsyncSession,
    product_id: uuid.UUID,
    *,
    user_id: uuid.UUID | None = None,
    review_id: uuid.UUID | None = None,
) -> ProductReview | None:
    q = select(ProductReview).where(ProductReview.product_id == product_id).with_for_update()
    if user_id is not None:
        q = q.where(ProductReview.user_id_ref == user_id)
    if review_id is not None:
        q = q.where(ProductReview.id == review_id)
    found: ProductReview | None = await session.scalar(q)
    return found


# --- stock reservations ------------------------------------------------------------


async def reservation(session: AsyncSession, reservation_id: uuid.UUID) -> Reservation | None:
    """The reservation as the API shows it (None if there is none)."""
    found = await session.get(StockReservation, reservation_id)
    if found is None:
        return None
    lines = await session.scalars(
        select(ReservationLine)
        .where(ReservationLine.reservation_id == reservation_id)
        .order_by(ReservationLine.line_no)
    )
    return Reservation(
        reservation_id=found.id,
        status=found.status,
        lines=[
            ReservedLine(
                product_id=li.product_id, sku=li.sku, name=li.name, unit_price=li.unit_price, quantity=li.quantity
            )
            for li in lines
        ],
    )


def same_request(existing: Reservation, data: ReservationCreate) -> bool:
    """Whether ``data`` asks for what ``existing`` holds (a retry of it). A tombstone
    (released before it was ever made: no lines) answers any request."""
    if existing.status == RELEASED and not existing.lines:
        return True
    asked = sorted((str(line.product_id), line.quantity) for line in data.lines)
    held = sorted((str(line.product_id), line.quantity) for line in existing.lines)
    return asked == held


def _line_error(index: int, field: str, message: str, code: str) -> FieldError:
    return FieldError(f"lines[{index}].{field}", message, code)


async def reserve(*, uow: UnitOfWork, data: ReservationCreate) -> Reservation:
    """Take every line's quantity from stock, or none (see the module). Unknown or
    discontinued products: 422; too few units: 409 saying how many are left. A
    concurrent request with the same id raises UniqueViolation (the caller answers the
    first one's reservation)."""
    session = uow.session
    session.add(StockReservation(id=data.reservation_id, status=RESERVED))
    await session.flush()  # the id is taken first: a concurrent retry waits here, then fails
    rejected: list[FieldError] = []
    short: list[FieldError] = []
    taken: dict[int, ReservedLine] = {}
    for index, line in sorted(enumerate(data.lines), key=lambda pair: (pair[1].product_id, pair[0])):
        hit = (
            await session.execute(
                update(_products)
                .where(
                    _products.c.id == line.product_id,
                    _products.c.is_active.is_(True),
                    _products.c.stock_quantity >= line.quantity,
                )
                .values(stock_quantity=_products.c.stock_quantity - line.quantity)
                .returning(_products.c.sku, _products.c.name, _products.c.price)
            )
        ).first()
        if hit is not None:
            taken[index] = ReservedLine(
                product_id=line.product_id, sku=hit.sku, name=hit.name, unit_price=hit.price, quantity=line.quantity
            )
            continue
        product = (
            await session.execute(
                select(_products.c.is_active, _products.c.stock_quantity).where(_products.c.id == line.product_id)
            )
        ).first()
        if product is None:
            rejected.append(_line_error(index, "product_id", f"product {line.product_id} does not exist", "not_found"))
        elif not product.is_active:
            rejected.append(
                _line_error(index, "product_id", f"product {line.product_id} is discontinued", "discontinued")
            )
        else:
            left = int(product.stock_quantity)
            short.append(
                _line_error(
                    index, "quantity", f"only {left} left of product {line.product_id} ({line.quantity} asked)", "short"
                )
            )
    if rejected:
        raise invalid(sorted(rejected, key=lambda e: e["field"]), "some lines name no product that can be ordered")
    if short:
        raise Problem(
            409,
            "not enough stock for some lines: nothing was reserved",
            slug="conflict",
            errors=sorted(short, key=lambda e: e["field"]),
        )
    lines = [taken[i] for i in range(len(data.lines))]
    for number, held in enumerate(lines):
        session.add(
            ReservationLine(
                reservation_id=data.reservation_id,
                line_no=number,
                product_id=held.product_id,
                quantity=held.quantity,
                sku=held.sku,
                name=held.name,
                unit_price=held.unit_price,
            )
        )
    await uow.commit()
    return Reservation(reservation_id=data.reservation_id, status=RESERVED, lines=lines)


async def release(*, uow: UnitOfWork, reservation_id: uuid.UUID) -> Reservation:
    """Give a reservation's stock back, once. Releasing one never made leaves a
    released, empty reservation under its id, so a late reserve with that id takes
    nothing (a compensation that overtook its step)."""
    session = uow.session
    found = await session.get(StockReservation, reservation_id, with_for_update=True)
    if found is None:
        session.add(StockReservation(id=reservation_id, status=RELEASED, released_at=utcnow()))
        await uow.commit()
        return Reservation(reservation_id=reservation_id, status=RELEASED, lines=[])
    if found.status == RESERVED:
        lines = await session.scalars(
            select(ReservationLine)
            .where(ReservationLine.reservation_id == reservation_id)
            .order_by(ReservationLine.product_id)
        )
        for line in lines:
            await session.execute(
                update(_products)
                .where(_products.c.id == line.product_id)
                .values(stock_quantity=_products.c.stock_quantity + line.quantity)
            )
        found.status = RELEASED
        found.released_at = utcnow()
        await session.flush()
        shown = await reservation(session, reservation_id)
        await uow.commit()
    else:
        shown = await reservation(session, reservation_id)
    assert shown is not None
    return shown
