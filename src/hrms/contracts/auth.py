"""The auth service's published contracts: its user view and a typed client."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from isles.clients import ServiceClient


class UserView(BaseModel):
    """A user as the auth service's API returns it (never the password hash)."""

    id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    company_id: uuid.UUID
    is_active: bool
    email_verified: bool
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
        idempotency_key: str,
    ) -> UserView:
        body = {
            "id": str(user_id),
            "email": email,
            "first_name": first_name,
            "last_name": last_name,
            "company_id": str(company_id),
        }
        return await self._client.call("POST", "/users", UserView, json=body, idempotency_key=idempotency_key)

    async def delete_user(self, user_id: uuid.UUID, *, idempotency_key: str, compensates: str | None = None) -> None:
        await self._client.request(
            "DELETE", f"/users/{user_id}", idempotency_key=idempotency_key, compensates=compensates
        )
