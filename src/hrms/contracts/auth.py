"""The auth service's published contracts: its events, user view and a typed client."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from hrms.contracts import examples as ex
from isles import Event

if TYPE_CHECKING:
    from isles import ServiceClient

AGGREGATE = "user"


class UserCreated(Event):
    """A user can log in (published when the user becomes active, not while a saga
    that creates it may still undo it)."""

    event_type: ClassVar[str] = "auth.UserCreated"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    company_id: uuid.UUID
    roles: list[str] = []
    is_active: bool = True
    email_notifications: bool = True  # the user's preference (seed 002's user_preferences)
    #: No password yet (a new hire's user): the welcome is an invitation to set one.
    invited: bool = False


class UserUpdated(Event):
    """Seed 002's UserUpdatedEvent: the user's state now and which fields changed."""

    event_type: ClassVar[str] = "auth.UserUpdated"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    company_id: uuid.UUID
    roles: list[str] = []
    is_active: bool = True
    email_notifications: bool = True
    changes: list[str] = []


class UserDeactivated(Event):
    event_type: ClassVar[str] = "auth.UserDeactivated"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    company_id: uuid.UUID
    is_active: bool = False


class PasswordResetRequested(Event):
    """Someone asked for a reset-password link for this (active) user; the mail with
    the link goes to the user's address. Carries no secret: the link is made when
    the mail is sent (``AuthClient.password_link``)."""

    event_type: ClassVar[str] = "auth.PasswordResetRequested"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    company_id: uuid.UUID


INVITATION, RESET = "invitation", "reset"
LinkPurpose = Literal["invitation", "reset"]


class PasswordLink(BaseModel):
    """A one-time set-password link: only its hash is kept by the auth service."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "https://hr.example.com/api/auth/password/set#token=k3JxQw8vT2nY5mZp0aB7cD1eF4gH6iJ9",
                    "expires_at": "2025-03-08T09:00:00Z",
                }
            ]
        }
    )

    url: str
    expires_at: datetime


class UserView(BaseModel):
    """A user as the auth service's API returns it (never the password hash)."""

    model_config = ConfigDict(json_schema_extra={"examples": [dict(ex.USER)]})

    id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    company_id: uuid.UUID
    roles: list[str]
    is_active: bool
    pending: bool
    email_verified: bool
    version: int
    created_at: datetime
    updated_at: datetime


class AuthClient:
    """The auth service's API, over HTTP (or in-process in the embedded mode)."""

    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    async def get_user(self, user_id: uuid.UUID) -> UserView:
        return await self._client.call("GET", f"/users/{user_id}", UserView)

    async def create_user(
        self,
        *,
        user_id: uuid.UUID,
        email: str,
        first_name: str,
        last_name: str,
        company_id: uuid.UUID,
        roles: list[str],
        idempotency_key: str,
    ) -> UserView:
        """A pending user (it cannot log in and is not announced until activated)."""
        body = {
            "id": str(user_id),
            "email": email,
            "first_name": first_name,
            "last_name": last_name,
            "company_id": str(company_id),
            "roles": roles,
            "pending": True,
        }
        return await self._client.call("POST", "/users", UserView, json=body, idempotency_key=idempotency_key)

    async def activate_user(self, user_id: uuid.UUID, *, idempotency_key: str) -> UserView:
        return await self._client.call("POST", f"/users/{user_id}/activate", UserView, idempotency_key=idempotency_key)

    async def password_link(self, user_id: uuid.UUID, purpose: LinkPurpose) -> PasswordLink:
        """A new one-time link for the user to set a password with (an earlier unused
        link of the same purpose stops working). Needs ``users:invite``."""
        body = {"user_id": str(user_id), "purpose": purpose}
        return await self._client.call("POST", "/password/links", PasswordLink, json=body)

    async def delete_user(self, user_id: uuid.UUID, *, idempotency_key: str, compensates: str | None = None) -> None:
        """Remove a pending user (undoing its creation), or deactivate an active one."""
        await self._client.request(
            "DELETE", f"/users/{user_id}", idempotency_key=idempotency_key, compensates=compensates
        )
