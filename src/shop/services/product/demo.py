"""The product service's demo data — none yet (placeholder)."""

from __future__ import annotations

import httpx


async def load(client: httpx.AsyncClient) -> list[str]:
    return []
