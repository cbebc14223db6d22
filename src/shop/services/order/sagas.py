"""The order service's sagas.

``order.PlaceOrder`` (orchestrated; compensations in reverse on a failure)::

    check_user      the buyer is active, the address is theirs (user service)
    create_order    local: the order, PENDING, with its number      (undo: FAILED, with the reason)
    reserve_stock   product service: all lines or none              (undo: release)
    price_order     local: the lines as reserved (name, price), the total
    take_payment    the payment provider, by the order's key        (undo: refund)
    confirm         local: the payment recorded, CONFIRMED, OrderPlaced

``take_payment`` never charges twice: before charging it looks the order's key up at
the provider (an earlier attempt that timed out may have charged), and the provider
itself answers a key it knows with its first charge. A timeout is retried (the lookup
resolves it); after the last attempt the step's outcome is unknown and its
compensation refunds whatever the lookup finds.

``order.CancelOrder``::

    start_cancel    local: the order is CONFIRMED, not shipped; marked cancelling
                    (undo: the mark taken off)
    refund          the payment provider (refund by the order's key)
    release_stock   product service
    finish          local: refund and release recorded, CANCELLED, OrderCancelled
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from isles import FieldError, NotFound, Problem, Saga, Step, StepContext, StepFailed, invalid, utcnow
from shop.contracts.order import OrderLine
from shop.contracts.product import ProductClient, ReservationLine
from shop.contracts.user import UserClient
from shop.services.order import service, store
from shop.services.order.aggregate import PaymentCaptured
from shop.services.order.payments import PaymentDeclined, PaymentTimeout, payment_key, provider_for

PLACE = "order.PlaceOrder"
CANCEL = "order.CancelOrder"


def place_data(
    *, user_id: uuid.UUID, address_id: uuid.UUID, lines: list[dict[str, Any]], payment_method: str
) -> dict[str, Any]:
    """The saga's input, with the order's id chosen now (every retry and compensation
    names the same order, reservation and charge)."""
    return {
        "order_id": str(uuid.uuid4()),
        "user_id": str(user_id),
        "address_id": str(address_id),
        "lines": lines,
        "payment_method": payment_method,
    }


def _order_id(ctx: StepContext) -> uuid.UUID:
    return uuid.UUID(ctx.data["order_id"])


def _provider(ctx: StepContext) -> Any:
    if ctx.db is None:
        raise RuntimeError("the saga step has no database for the payment provider")
    return provider_for(ctx.db)


# --- place order ----------------------------------------------------------------------


async def check_user(ctx: StepContext) -> Any:
    users = UserClient(ctx.client("user"))
    user_id, address_id = uuid.UUID(ctx.data["user_id"]), uuid.UUID(ctx.data["address_id"])
    try:
        user = await users.get_user(user_id)
    except NotFound:
        raise StepFailed(invalid([FieldError("user_id", f"user {user_id} does not exist", "not_found")])) from None
    if not user.is_active:
        raise StepFailed(invalid([FieldError("user_id", f"user {user_id} is not active", "inactive")]))
    try:
        address = await users.get_address(user_id, address_id)
    except NotFound:
        address = None
    if address is None or address.user_id != user_id:
        raise StepFailed(invalid([FieldError("address_id", f"address {address_id} is not one of yours", "not_found")]))
    return {
        "address": address.model_dump(
            mode="json", include={"recipient", "line1", "line2", "city", "state", "postal_code", "country"}
        )
    }


async def create_order(ctx: StepContext) -> Any:
    order = await service.create_order(
        ctx.uow,
        order_id=_order_id(ctx),
        user_id=uuid.UUID(ctx.data["user_id"]),
        lines=ctx.data["lines"],
        address=ctx.results["check_user"]["address"],
        payment_method=ctx.data["payment_method"],
    )
    return {"order_number": order.order_number}


async def fail_order(ctx: StepContext) -> None:
    """The last compensation: what the others undid is recorded, and the order FAILED
    with the reason its caller is told."""
    order = await store.load(ctx.uow.session, _order_id(ctx))
    if order is None or order.status != "PENDING":
        return
    provider = _provider(ctx)
    charge = await provider.status(payment_key(order.id))
    if charge is not None and charge.status == "refunded":  # charged, then refunded by the compensation
        order.captured(
            PaymentCaptured(
                provider=provider.name,
                payment_reference=charge.reference,
                amount=charge.amount,
                currency=charge.currency,
                method=charge.method,
                authorized_at=charge.created_at,
                captured_at=charge.created_at,
            )
        )
        order.refund_recorded(charge.reference, charge.amount, charge.refunded_at or utcnow())
    order.released()
    order.fail(await service.saga_error(ctx.uow.session, ctx.saga_id))
    await store.save(ctx.uow, order)


async def reserve_stock(ctx: StepContext) -> Any:
    lines = [ReservationLine.model_validate(line) for line in ctx.data["lines"]]
    reservation = await ProductClient(ctx.client("product")).reserve(_order_id(ctx), lines, idempotency_key=ctx.key)
    return {"lines": [line.model_dump(mode="json") for line in reservation.lines]}


async def release_stock(ctx: StepContext) -> None:
    with contextlib.suppress(NotFound):
        await ProductClient(ctx.client("product")).release(
            _order_id(ctx), idempotency_key=ctx.key, compensates=ctx.action_key
        )


async def price_order(ctx: StepContext) -> Any:
    order = await service.must_load(ctx.uow.session, _order_id(ctx))
    lines = []
    for raw in ctx.results["reserve_stock"]["lines"]:
        price = Decimal(str(raw["unit_price"]))
        lines.append(
            OrderLine(
                product_id_ref=raw["product_id"],
                sku=raw["sku"],
                product_name=raw["name"],
                unit_price=price,
                quantity=raw["quantity"],
                subtotal=price * raw["quantity"],
            )
        )
    order.reserve(lines)
    await store.save(ctx.uow, order)
    return {"total": format(order.total, "f"), "currency": order.currency}


def _captured(charge: Any) -> dict[str, Any]:
    return {
        "reference": charge.reference,
        "amount": format(charge.amount, "f"),
        "currency": charge.currency,
        "method": charge.method,
        "at": charge.created_at.isoformat(),
    }


def _declined(method: str) -> StepFailed:
    return StepFailed(
        Problem(
            402,
            f"the payment was declined ({method}): use another payment method",
            slug="payment-declined",
            errors=[FieldError("payment_method", "the payment was declined", "declined")],
        )
    )


async def take_payment(ctx: StepContext) -> Any:
    provider = _provider(ctx)
    key = payment_key(_order_id(ctx))
    method = ctx.data["payment_method"]
    known = await provider.status(key)  # an earlier attempt may have charged: never twice
    if known is not None:
        if known.status == "declined":
            raise _declined(method)
        return _captured(known)
    amount = Decimal(ctx.results["price_order"]["total"])
    try:
        charge = await provider.charge(key, amount, ctx.results["price_order"]["currency"], method)
    except PaymentDeclined:
        raise _declined(method) from None
    except PaymentTimeout as exc:
        raise TimeoutError(str(exc)) from exc  # retried; the next attempt looks the key up first
    return _captured(charge)


async def refund_payment(ctx: StepContext) -> None:
    await _provider(ctx).refund(payment_key(_order_id(ctx)))


async def confirm(ctx: StepContext) -> Any:
    order = await service.must_load(ctx.uow.session, _order_id(ctx))
    paid = ctx.results["take_payment"]
    at = datetime.fromisoformat(paid["at"])
    order.captured(
        PaymentCaptured(
            provider=_provider(ctx).name,
            payment_reference=paid["reference"],
            amount=Decimal(paid["amount"]),
            currency=paid["currency"],
            method=paid["method"],
            authorized_at=at,
            captured_at=at,
        )
    )
    await service.confirm_order(ctx.uow, order)
    return {"order_number": order.order_number, "version": order.version}


#: The payment provider the payment steps call: a system outside the shop, not a
#: service of it (``isles map`` draws it as such).
PAYMENTS = "payments"

PLACE_ORDER = Saga(
    PLACE,
    (
        Step("check_user", check_user, timeout=5.0, service="user"),
        Step("create_order", create_order, fail_order, local=True),
        Step("reserve_stock", reserve_stock, release_stock, timeout=5.0, service="product"),
        Step("price_order", price_order, local=True),
        Step("take_payment", take_payment, refund_payment, timeout=5.0, max_attempts=3, service=PAYMENTS),
        Step("confirm", confirm, local=True),
    ),
    description="Check the buyer and the address (user), create the order (pending), reserve the stock "
    "(product), take the payment (provider), confirm (OrderPlaced).",
)

# --- cancel order -----------------------------------------------------------------------


async def start_cancel(ctx: StepContext) -> Any:
    order = await service.must_load(ctx.uow.session, _order_id(ctx))
    order.start_cancel(ctx.data["reason"])
    await store.save(ctx.uow, order)
    return {"paid": format(order.paid, "f")}


async def abort_cancel(ctx: StepContext) -> None:
    order = await service.must_load(ctx.uow.session, _order_id(ctx))
    order.abort_cancel(await service.saga_error(ctx.uow.session, ctx.saga_id))
    await store.save(ctx.uow, order)


async def refund(ctx: StepContext) -> Any:
    charge = await _provider(ctx).refund(payment_key(_order_id(ctx)))
    return None if charge is None else {"status": charge.status, "amount": format(charge.amount, "f")}


async def release(ctx: StepContext) -> Any:
    with contextlib.suppress(NotFound):
        await ProductClient(ctx.client("product")).release(_order_id(ctx), idempotency_key=ctx.key)
    return {"released": True}


async def finish_cancel(ctx: StepContext) -> Any:
    order = await service.must_load(ctx.uow.session, _order_id(ctx))
    charge = await _provider(ctx).status(payment_key(order.id))
    if charge is not None and charge.status == "refunded":
        order.refund_recorded(charge.reference, charge.amount, charge.refunded_at or utcnow())
    order.released()
    order.cancel(ctx.data["reason"])
    await store.save(ctx.uow, order)
    return {"refunded": format(order.refunded, "f"), "version": order.version}


CANCEL_ORDER = Saga(
    CANCEL,
    (
        Step("start_cancel", start_cancel, abort_cancel, local=True),
        # Both idempotent, neither undoable: tried long (a refund made and then given up
        # on would leave a refunded order CONFIRMED; see docs/shop-order.md).
        Step("refund", refund, timeout=5.0, max_attempts=20, service=PAYMENTS),
        Step("release_stock", release, timeout=5.0, max_attempts=20, service="product"),
        Step("finish", finish_cancel, local=True),
    ),
    description="Mark the order cancelling, refund the payment (provider), release the stock (product), "
    "record the cancellation (OrderCancelled).",
)

SAGAS = (PLACE_ORDER, CANCEL_ORDER)
