"""The company service's published contracts: its events, API views and a typed client."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel

from isles.clients import ServiceClient
from isles.events import Event

AGGREGATE = "company"


class CompanyCreated(Event):
    event_type: ClassVar[str] = "company.CompanyCreated"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    name: str
    is_active: bool


class HeadcountChanged(Event):
    event_type: ClassVar[str] = "company.HeadcountChanged"
    schema_version: ClassVar[int] = 1

    id: uuid.UUID
    headcount: int
    delta: int


class CompanyView(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    industry: str | None
    size: str | None
    website: str | None
    phone: str | None
    address: str | None
    is_active: bool
    headcount: int
    version: int
    created_at: datetime
    updated_at: datetime


class HeadcountView(BaseModel):
    id: uuid.UUID
    headcount: int
    version: int


class CompanyClient:
    """The company service's API, over HTTP (or in-process in the embedded mode)."""

    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    async def get(self, company_id: uuid.UUID) -> CompanyView:
        return await self._client.call("GET", f"/companies/{company_id}", CompanyView)

    async def change_headcount(
        self, company_id: uuid.UUID, delta: int, *, idempotency_key: str, compensates: str | None = None
    ) -> None:
        """Add ``delta`` to the headcount, once per key. A compensation names the call it
        undoes; if that call never took effect, nothing changes."""
        await self._client.request(
            "POST",
            f"/companies/{company_id}/headcount",
            json={"delta": delta},
            idempotency_key=idempotency_key,
            compensates=compensates,
        )
