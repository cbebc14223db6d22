"""The shop is a system of its own on the platform: its services, each with its own
database, started like the HR system's (``isles up --system shop``)."""

from __future__ import annotations

import httpx
import pytest

from isles.runtime.system import SystemRuntime

pytestmark = pytest.mark.integration


async def test_the_shop_runs_its_three_services_each_on_its_own_database(
    shop: SystemRuntime, shop_api: httpx.AsyncClient
) -> None:
    assert sorted(shop.services) == ["order", "product", "user"]
    urls = {rt.db.url.render_as_string() for rt in shop.services.values()}
    assert len(urls) == 3
    health = await shop_api.get("/health")
    assert health.status_code == 200
    assert shop.system.identity_provider == "user"


def test_the_shop_is_named_by_its_package() -> None:
    from isles.cli.common import load_system

    assert load_system("shop").name == "shop"
