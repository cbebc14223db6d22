"""HTTP routes of the order service (mounted at ``/api/order``)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from isles import Context, Idempotent, Listing, Page, SagaState, TenantData, not_found, start_saga, tagged
from shop.contracts import STORE
from shop.contracts.order import OrderStatus
from shop.services.order import sagas, service
from shop.services.order.deps import ReadOrders, WriteOrders, WriteShipping, buyer, check_visible, privileged, scope
from shop.services.order.models import Order, OrderHistory
from shop.services.order.schemas import (
    HistoryEntryView,
    ItemView,
    OrderCancel,
    OrderCreate,
    OrderView,
    PaymentView,
    ShippingChange,
    ShippingView,
)

router = APIRouter(tags=["orders"])

_SAGA_ANSWERS: dict[int | str, dict[str, Any]] = {
    202: {"description": "Still under way: follow the Location (the saga)."},
    402: {"description": "The payment was declined (names payment_method); nothing was kept."},
    409: {"description": "Not enough stock (names the line), or the order's status does not allow it."},
}


async def views(session: AsyncSession, orders: list[Order]) -> list[OrderView]:
    items, payments, shipping = await service.details(session, orders)
    out = []
    for o in orders:
        payment, ship = payments.get(o.id), shipping.get(o.id)
        out.append(
            OrderView(
                id=o.id,
                order_number=o.order_number,
                user_id_ref=o.user_id_ref,
                status=o.status,  # the table checks it
                total_amount=o.total_amount,
                currency=o.currency,
                failure_reason=o.failure_reason,
                created_at=o.created_at,
                updated_at=o.updated_at,
                version=o.version,
                items=[ItemView.model_validate(i, from_attributes=True) for i in items[o.id]],
                payment=None if payment is None else PaymentView.model_validate(payment, from_attributes=True),
                shipping=None if ship is None else ShippingView.model_validate(ship, from_attributes=True),
            )
        )
    return out


async def one(session: AsyncSession, caller: Any, order_id: uuid.UUID) -> tuple[OrderView, int]:
    order = await session.get(Order, order_id)
    if order is None:
        raise not_found("order", order_id)
    check_visible(caller, order_id, order.user_id_ref)
    (shown,) = await views(session, [order])
    return shown, order.version


@router.post(
    "/orders",
    status_code=status.HTTP_201_CREATED,
    response_model=OrderView,
    responses=_SAGA_ANSWERS,
    summary="Place an order",
)
async def place_order(
    body: OrderCreate, rt: Context, request: Request, idem: Idempotent, caller: WriteOrders
) -> Response:
    """Place an order: the PlaceOrder saga checks the buyer and the address (user
    service), creates the order (PENDING, with its number), reserves the stock (product
    service), takes the payment (``payment_method``) and confirms it (OrderPlaced). A
    failed step undoes the ones before it and the order ends FAILED with the reason:
    the answer is that step's problem (402 declined, 409 out of stock, 422 a bad user or
    address). 201 with the order once confirmed; 202 with the saga's address while it
    is still under way. With an ``Idempotency-Key``, a retried request gets the first
    one's outcome (one order, one charge)."""
    user_id = buyer(caller, body.user_id)
    lines: dict[uuid.UUID, int] = {}
    for line in body.lines:
        lines[line.product_id] = lines.get(line.product_id, 0) + line.quantity
    data = sagas.place_data(
        user_id=user_id,
        address_id=body.address_id,
        lines=[{"product_id": str(p), "quantity": q} for p, q in lines.items()],
        payment_method=body.payment_method,
    )

    async def completed(state: SagaState) -> Response:
        order_id = uuid.UUID(state.data["order_id"])
        async with rt.db.read_session(tenant=STORE) as session:
            shown, _ = await one(session, caller, order_id)
        return JSONResponse(
            jsonable_encoder(shown), status_code=201, headers={"Location": f"{request.url.path}/{order_id}"}
        )

    return await start_saga(request, sagas.PLACE_ORDER, data, tenant=STORE, idempotency=idem, completed=completed)


OrderList = Annotated[Listing, Depends(service.ORDERS.dependency)]


@router.get("/orders", response_model=Page[OrderView], summary="List orders")
async def list_orders(
    request: Request,
    caller: ReadOrders,
    listing: OrderList,
    status: Annotated[OrderStatus | None, Query()] = None,
    user_id: Annotated[uuid.UUID | None, Query(description="An admin: one user's orders.")] = None,
) -> Page[OrderView]:
    """The orders the caller sees (a customer: their own; an admin: all), with their
    items, payment and shipping. ``q`` finds order numbers; ``sort`` orders (default
    ``-created_at``); ``cursor`` or ``offset`` pages."""
    mine = scope(caller)
    async with TenantData(request, caller).read() as session:
        rows, total, cursor = await listing.fetch(
            session, service.orders_where(user_id=mine if mine is not None else user_id, status=status)
        )
        items = await views(session, rows)
    return listing.page(items, total, cursor)


@router.get("/orders/{order_id}", response_model=OrderView, summary="Read an order")
async def get_order(order_id: uuid.UUID, request: Request, caller: ReadOrders) -> Response:
    """An order with its items, payment and shipping (another customer's: 404). Its
    ``ETag`` is its version (the event-sourced aggregate's)."""
    async with TenantData(request, caller).read() as session:
        shown, version = await one(session, caller, order_id)
    return tagged(shown, version)


@router.post("/orders/{order_id}/cancel", response_model=OrderView, responses=_SAGA_ANSWERS, summary="Cancel an order")
async def cancel_order(
    order_id: uuid.UUID, body: OrderCancel, rt: Context, request: Request, idem: Idempotent, caller: WriteOrders
) -> Response:
    """Cancel a CONFIRMED order not shipped yet (the buyer or an admin): the
    CancelOrder saga refunds the payment, releases the stock and records the
    cancellation (OrderCancelled). A shipped, cancelled or failed order: 409."""
    async with TenantData(request, caller).read() as session:
        await one(session, caller, order_id)  # 404 unless the caller may see it

    async def completed(state: SagaState) -> Response:
        async with rt.db.read_session(tenant=STORE) as session:
            shown, version = await one(session, caller, order_id)
        return tagged(shown, version)

    data = {"order_id": str(order_id), "reason": body.reason}
    return await start_saga(request, sagas.CANCEL_ORDER, data, tenant=STORE, idempotency=idem, completed=completed)


@router.post(
    "/orders/{order_id}/shipping",
    response_model=OrderView,
    responses={409: {"description": "The transition is not allowed."}},
    summary="Move an order's shipping along",
)
async def change_shipping(
    order_id: uuid.UUID, body: ShippingChange, request: Request, caller: WriteShipping
) -> Response:
    """PENDING → PACKED → SHIPPED (``carrier`` and ``tracking_number`` needed) →
    IN_TRANSIT → DELIVERED (or RETURNED). The order follows: SHIPPED, then DELIVERED.
    Publishes OrderShippingChanged. Only a CONFIRMED (or shipped) order ships."""
    async with TenantData(request, caller).uow() as uow:
        await service.change_shipping(uow, order_id, body.status, body.carrier, body.tracking_number)
        await uow.commit()
    async with TenantData(request, caller).read() as session:
        shown, version = await one(session, caller, order_id)
    return tagged(shown, version)


HistoryList = Annotated[Listing, Depends(service.HISTORY.dependency)]


async def _history(request: Request, caller: Any, listing: Listing, user_id: uuid.UUID) -> Page[HistoryEntryView]:
    async with TenantData(request, caller).read() as session:
        rows, total, cursor = await listing.fetch(
            session, select(OrderHistory).where(OrderHistory.user_id_ref == user_id)
        )
        items = await service.history_items(session, user_id, [r.order_id for r in rows])
    entries = [
        HistoryEntryView(
            order_id=r.order_id,
            order_number=r.order_number,
            status=r.status,
            total_amount=r.total_amount,
            currency=r.currency,
            placed_at=r.placed_at,
            items=items[r.order_id],
        )
        for r in rows
    ]
    return listing.page(entries, total, cursor)


@router.get(
    "/users/me/history",
    response_model=Page[HistoryEntryView],
    responses={404: {"description": "The caller is not a user (the operator)."}},
    summary="My order history",
)
async def my_history(request: Request, caller: ReadOrders, listing: HistoryList) -> Page[HistoryEntryView]:
    """The caller's placed orders, newest first, with each product's name and whether
    the caller reviewed it (a read model kept from events: order and product)."""
    if caller.user_id is None:
        raise not_found("user", "me")
    return await _history(request, caller, listing, caller.user_id)


@router.get("/users/{user_id}/history", response_model=Page[HistoryEntryView], summary="A user's order history")
async def user_history(
    user_id: uuid.UUID, request: Request, caller: ReadOrders, listing: HistoryList
) -> Page[HistoryEntryView]:
    """A user's order history (an admin: anyone's; a customer: only their own, else 404)."""
    if not privileged(caller) and caller.user_id != user_id:
        raise not_found("user", user_id)
    return await _history(request, caller, listing, user_id)
