"""The order service's OpenAPI document: valid; every route needs a token and says so;
every error is the problem document; the headers the routes honour are declared;
money is a string."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

pytestmark = pytest.mark.integration


async def test_the_document_is_valid_every_route_secured_and_money_a_string(shop_api: httpx.AsyncClient) -> None:
    r = await shop_api.get("/api/order/openapi.json")
    assert r.status_code == 200
    doc: dict[str, Any] = r.json()
    validate(doc)
    operations = [(m, p, op) for p, item in doc["paths"].items() for m, op in item.items()]
    own = [(m, p, op) for m, p, op in operations if not p.startswith("/sagas")]
    assert {(m, p) for m, p, _ in own} == {
        ("post", "/orders"),
        ("get", "/orders"),
        ("get", "/orders/{order_id}"),
        ("post", "/orders/{order_id}/cancel"),
        ("post", "/orders/{order_id}/shipping"),
        ("get", "/users/me/history"),
        ("get", "/users/{user_id}/history"),
    }
    for method, path, op in own:
        where = f"{method.upper()} {path}"
        assert op.get("summary"), where
        assert op.get("security"), where
        errors = {int(code): r for code, r in op["responses"].items() if int(code) >= 400}
        assert {401, 403} <= set(errors), where
        for code, response in errors.items():
            assert list(response.get("content", {})) == ["application/problem+json"], f"{where} {code}"
    headers = {(m, p): {x["name"] for x in op.get("parameters", []) if x["in"] == "header"} for m, p, op in operations}
    assert "Idempotency-Key" in headers[("post", "/orders")]
    assert "Idempotency-Key" in headers[("post", "/orders/{order_id}/cancel")]
    total = doc["components"]["schemas"]["OrderView"]["properties"]["total_amount"]
    assert "string" in str(total)
    assert "number" not in str(total)
    assert {"202", "402", "409"} <= set(doc["paths"]["/orders"]["post"]["responses"])
