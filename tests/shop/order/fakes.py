"""Stand-ins for the user and product services, for the order service's tests: the
contracts' routes (``UserClient``, ``ProductClient``) over in-memory state, with the
same permission checks, so the place-order saga runs against them in process and a
test can read and change their state (stock, an inactive user) directly."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from isles import FieldError, Principal, Service, System, conflict, invalid, new_metadata, not_found, require
from shop.contracts.product import (
    ProductPriceChanged,
    ProductRenamed,
    Reservation,
    ReservationLine,
    ReservedLine,
    ReviewPosted,
    ReviewRemoved,
)
from shop.contracts.user import AddressView, UserView


@dataclass
class Product:
    id: uuid.UUID
    sku: str
    name: str
    price: Decimal
    stock: int


@dataclass
class World:
    users: dict[uuid.UUID, UserView] = field(default_factory=dict)
    addresses: dict[uuid.UUID, AddressView] = field(default_factory=dict)
    products: dict[uuid.UUID, Product] = field(default_factory=dict)
    reservations: dict[uuid.UUID, Reservation] = field(default_factory=dict)
    reserve_calls: int = 0

    def add_user(self, *, active: bool = True, roles: tuple[str, ...] = ("customer",)) -> tuple[uuid.UUID, uuid.UUID]:
        user_id, address_id = uuid.uuid4(), uuid.uuid4()
        self.users[user_id] = UserView(
            id=user_id,
            email=f"{user_id.hex[:8]}@example.com",
            first_name="Ada",
            last_name="Lovelace",
            roles=list(roles),
            is_active=active,
            version=1,
        )
        self.addresses[address_id] = AddressView(
            id=address_id,
            user_id=user_id,
            recipient="Ada Lovelace",
            line1="12 St James's Square",
            city="London",
            postal_code="SW1Y 4JH",
            country="GB",
            is_default=True,
        )
        return user_id, address_id

    def add_product(self, name: str, price: str, stock: int) -> uuid.UUID:
        product_id = uuid.uuid4()
        self.products[product_id] = Product(product_id, f"SKU-{product_id.hex[:6]}", name, Decimal(price), stock)
        return product_id


Read = Annotated[Principal, Depends(require("users:read"))]
Write = Annotated[Principal, Depends(require("stock:write"))]


class _Reserve(BaseModel):
    reservation_id: uuid.UUID
    lines: list[ReservationLine]


def _user_service(world: World) -> Service:
    router = APIRouter()

    @router.get("/users/{user_id}", response_model=UserView)
    async def get_user(user_id: uuid.UUID, caller: Read) -> UserView:
        if user_id not in world.users:
            raise not_found("user", user_id)
        return world.users[user_id]

    @router.get("/users/{user_id}/addresses/{address_id}", response_model=AddressView)
    async def get_address(user_id: uuid.UUID, address_id: uuid.UUID, caller: Read) -> AddressView:
        address = world.addresses.get(address_id)
        if address is None or address.user_id != user_id:
            raise not_found("address", address_id)
        return address

    return Service(name="user", metadata=new_metadata(), router=router, migrations=None)


def _product_service(world: World) -> Service:
    router = APIRouter()

    @router.post("/reservations", response_model=Reservation)
    async def reserve(body: _Reserve, caller: Write) -> Any:
        world.reserve_calls += 1
        known = world.reservations.get(body.reservation_id)
        if known is not None:
            return known
        for i, line in enumerate(body.lines):
            product = world.products.get(line.product_id)
            if product is None:
                raise invalid([FieldError(f"lines[{i}].product_id", "no such product", "not_found")])
            if product.stock < line.quantity:
                raise conflict(f"lines[{i}].quantity", f"only {product.stock} of {product.sku} in stock")
        lines = []
        for line in body.lines:  # no await in between: all or nothing, never below zero
            product = world.products[line.product_id]
            product.stock -= line.quantity
            lines.append(
                ReservedLine(
                    product_id=product.id,
                    sku=product.sku,
                    name=product.name,
                    unit_price=product.price,
                    quantity=line.quantity,
                )
            )
        world.reservations[body.reservation_id] = Reservation(
            reservation_id=body.reservation_id, status="reserved", lines=lines
        )
        return world.reservations[body.reservation_id]

    @router.post("/reservations/{reservation_id}/release")
    async def release(reservation_id: uuid.UUID, caller: Write) -> dict[str, Any]:
        known = world.reservations.get(reservation_id)
        if known is None or known.status == "released":
            return {"released": False}
        for line in known.lines:
            world.products[line.product_id].stock += line.quantity
        known.status = "released"
        return {"released": True}

    return Service(
        name="product",
        metadata=new_metadata(),
        router=router,
        migrations=None,
        publishes=(ProductRenamed, ProductPriceChanged, ReviewPosted, ReviewRemoved),
    )


def build(world: World) -> System:
    from shop.services import order

    return System(
        name="shop-order-fakes",
        services=[_user_service(world), _product_service(world), order.build()],
        identity_provider="user",
    )


def build_default() -> System:
    """The system with empty stand-ins (for commands that only need the declaration)."""
    return build(World())
