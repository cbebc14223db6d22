"""Who may call what in the order service.

* ``orders:read`` reads orders and histories, ``orders:write`` places and cancels,
  ``shipping:write`` moves the shipping statuses (an admin).
* A customer sees and cancels only their own orders: another's is a 404 (as if it did
  not exist). An admin (and the operator) sees and cancels every order, and may place
  one for a user (``user_id``).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from isles import FieldError, Principal, invalid, not_found, require
from shop.contracts.permissions import ADMIN

ReadOrders = Annotated[Principal, Depends(require("orders:read"))]
WriteOrders = Annotated[Principal, Depends(require("orders:write"))]
WriteShipping = Annotated[Principal, Depends(require("shipping:write"))]


def privileged(caller: Principal) -> bool:
    return caller.kind != "user" or caller.has_role(ADMIN)


def scope(caller: Principal) -> uuid.UUID | None:
    """The user whose orders the caller sees (None: every order)."""
    return None if privileged(caller) else caller.user_id


def check_visible(caller: Principal, order_id: uuid.UUID, owner: uuid.UUID) -> None:
    if not privileged(caller) and caller.user_id != owner:
        raise not_found("order", order_id)


def buyer(caller: Principal, user_id: uuid.UUID | None) -> uuid.UUID:
    """Who the order is for: the caller, or ``user_id`` (an admin or the operator only)."""
    if user_id is None:
        if caller.user_id is None:
            raise invalid([FieldError("user_id", "the operator must name the buyer", "required")])
        return caller.user_id
    if user_id != caller.user_id and not privileged(caller):
        raise invalid([FieldError("user_id", "you may place orders only for yourself", "forbidden")])
    return user_id
