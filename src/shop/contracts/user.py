"""The user service's published contracts: its events, the views other services read
and a typed client (the order saga checks the buyer and the shipping address)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel

from isles import Event

if TYPE_CHECKING:
    from isles import ServiceClient

AGGREGATE = "user"


class UserRegistered(Event):
    """A user exists and can log in."""

    event_type: ClassVar[str] = "user.UserRegistered"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    roles: list[str] = []


class UserUpdated(Event):
    """The user's state now, and which fields changed."""

    event_type: ClassVar[str] = "user.UserUpdated"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    roles: list[str] = []
    is_active: bool = True
    changes: list[str] = []


class UserDeactivated(Event):
    """The user can no longer log in or place orders (their orders stay)."""

    event_type: ClassVar[str] = "user.UserDeactivated"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    email: str


class UserView(BaseModel):
    """A user as other services read it (never the password hash)."""

    id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    roles: list[str]
    is_active: bool
    version: int


class AddressView(BaseModel):
    """One of a user's addresses (``user_addresses``)."""

    id: uuid.UUID
    user_id: uuid.UUID
    recipient: str
    line1: str
    line2: str | None = None
    city: str
    state: str | None = None  # state, province or region (seed 003's ``state``)
    postal_code: str
    country: str  # ISO 3166-1 alpha-2
    is_default: bool


class UserClient:
    """The user service's API, over HTTP (or in-process in the embedded mode). Needs
    ``users:read``."""

    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    async def get_user(self, user_id: uuid.UUID) -> UserView:
        """The user (``NotFound`` if there is none)."""
        return await self._client.call("GET", f"/users/{user_id}", UserView)

    async def get_address(self, user_id: uuid.UUID, address_id: uuid.UUID) -> AddressView:
        """The user's address (``NotFound`` if the user has no such address)."""
        return await self._client.call("GET", f"/users/{user_id}/addresses/{address_id}", AddressView)


__all__ = ["AGGREGATE", "AddressView", "UserClient", "UserDeactivated", "UserRegistered", "UserUpdated", "UserView"]
