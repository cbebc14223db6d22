"""The user service's OpenAPI document: valid, every route summarised, the token each
needs (none for logging in and signing up), its problems as problem documents; the
login takes JSON and OAuth 2's password form, Swagger UI's Authorize posts to it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from tests.shop.user.helpers import ok

pytestmark = pytest.mark.integration

PUBLIC = {("post", "/login"), ("post", "/register")}


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in doc["paths"].items() for method, op in item.items()]


async def test_the_document_is_valid_and_says_tokens_and_problems(shop_api: httpx.AsyncClient) -> None:
    doc = ok(await shop_api.get("/api/user/openapi.json"))
    validate(doc)
    assert doc["components"]["securitySchemes"]["password"]["flows"] == {
        "password": {"tokenUrl": "/api/user/login", "scopes": {}}
    }
    assert "POST /api/user/login" in doc["components"]["securitySchemes"]["bearer"]["description"]
    operations = _operations(doc)
    assert len(operations) == 17
    for method, path, op in operations:
        where = f"{method.upper()} {path}"
        assert op.get("summary"), where
        assert bool(op.get("security")) == ((method, path) not in PUBLIC), where
        errors = {int(code): r for code, r in op["responses"].items() if int(code) >= 400}
        if op.get("security"):
            assert {401, 403} <= set(errors), where
        if op.get("requestBody"):
            assert {400, 413, 415, 422} <= set(errors), where
        if "{" in path:
            assert 404 in errors, where
        for code, response in errors.items():
            assert list(response.get("content", {})) == ["application/problem+json"], f"{where} {code}"
    login = doc["paths"]["/login"]["post"]["requestBody"]["content"]
    assert set(login) == {"application/json", "application/x-www-form-urlencoded"}
    assert set(login["application/x-www-form-urlencoded"]["schema"]["required"]) == {"username", "password"}
    schemas = doc["components"]["schemas"]
    assert schemas["UserOut"]["examples"][0]["email"] == "jane.doe@shop.example"
    assert schemas["AddressOut"]["examples"][0]["country"] == "FR"


async def test_the_login_form_is_checked_like_json(shop_api: httpx.AsyncClient) -> None:
    form = {"grant_type": "password", "username": "nobody@shop.example", "password": "whatever-it-is"}
    assert (await shop_api.post("/api/user/login", data=form)).status_code == 401
    grant = await shop_api.post("/api/user/login", data={**form, "grant_type": "client_credentials"})
    assert grant.status_code == 422
    assert [e["field"] for e in grant.json()["errors"]] == ["grant_type"]
    missing = await shop_api.post("/api/user/login", data={"grant_type": "password", "password": "x"})
    assert missing.status_code == 422
    assert [e["field"] for e in missing.json()["errors"]] == ["username"]
    plain = await shop_api.post("/api/user/login", content=b"hello", headers={"content-type": "text/plain"})
    assert plain.status_code == 415
