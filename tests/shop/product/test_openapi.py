"""The product service's OpenAPI document: valid; the catalogue's reads need no token
(public), every other route names the bearer scheme; every error is the problem
document; the headers the routes honour are declared."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from tests.shop.product.helpers import ok

pytestmark = pytest.mark.integration

PUBLIC = {
    ("get", "/categories"),
    ("get", "/categories/{category_id}"),
    ("get", "/products"),
    ("get", "/products/{product_id}"),
    ("get", "/products/{product_id}/images"),
    ("get", "/products/{product_id}/reviews"),
}


async def test_the_document_is_valid_and_says_what_is_public(shop_api: httpx.AsyncClient) -> None:
    doc: dict[str, Any] = ok(await shop_api.get("/api/product/openapi.json"))
    validate(doc)
    operations = [(m, p, op) for p, item in doc["paths"].items() for m, op in item.items()]
    assert len(operations) == 22
    for method, path, op in operations:
        where = f"{method.upper()} {path}"
        assert op.get("summary"), where
        secured = bool(op.get("security"))
        assert secured == ((method, path) not in PUBLIC), where
        errors = {int(code): r for code, r in op["responses"].items() if int(code) >= 400}
        if secured:
            assert {401, 403} <= set(errors), where
        if "{" in path:
            assert 404 in errors, where
        for code, response in errors.items():
            assert list(response.get("content", {})) == ["application/problem+json"], f"{where} {code}"
    headers = {(m, p): {x["name"] for x in op.get("parameters", []) if x["in"] == "header"} for m, p, op in operations}
    assert "Idempotency-Key" in headers[("post", "/reservations")]
    assert "Idempotency-Key" in headers[("post", "/products")]
    assert "If-Match" in headers[("patch", "/products/{product_id}")]
    price = doc["components"]["schemas"]["ProductView"]["properties"]["price"]
    assert "string" in str(price)  # money is a string on the wire, never a float
