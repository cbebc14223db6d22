"""Every route of every shop service, from the apps themselves (so a route is covered the
day it is added, the order service's included the day it is merged): no token, a
malformed, forged or expired one, a user token signed by another signer than the
shop's identity provider (the HR system's, a service's), a token lacking the route's
permission, customer B's ids used by customer A, oversized and malformed bodies,
SQL-looking strings in every text field. Never a 5xx, never B's data in an answer to
anyone else. The public routes (sign-up, login, catalogue reads) answer without a token.
The attempts are counted and recorded as the test's summary."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from isles.runtime.system import SystemRuntime
from isles.security.tokens import IDENTITY_PROVIDER, KeyRing, generate_keys
from shop.contracts import STORE
from shop.contracts.permissions import CUSTOMER, MATRIX, permissions_of
from tests.security import (
    MALFORMED,
    OVERSIZED,
    SQLISH,
    Example,
    body_schema,
    fill,
    operation,
    parameters,
    permission_of,
    routes,
    service_apps,
)
from tests.shop.user.helpers import PASSWORD, Account, address, admin, customer, email, login, ok
from tests.support import Backend

pytestmark = pytest.mark.integration

#: The routes anyone may call without a token: signing up, logging in, browsing the catalogue.
PUBLIC = {
    ("POST", "/api/user/login"),
    ("POST", "/api/user/register"),
    ("GET", "/api/product/categories"),
    ("GET", "/api/product/categories/{category_id}"),
    ("GET", "/api/product/products"),
    ("GET", "/api/product/products/{product_id}"),
    ("GET", "/api/product/products/{product_id}/images"),
    ("GET", "/api/product/products/{product_id}/reviews"),
}
#: Rows everyone may read anyway (a product's reviews): another customer's is a 403 to
#: change, not a 404 — nothing is revealed (docs/shop-product.md, "Access").
PUBLIC_ROWS = {"review_id"}
#: Text with a NUL character (U+0000), which PostgreSQL cannot store.
NUL_TEXT = "nul\x00here"
#: What a customer's token grants.
CUSTOMER_MAY = set(permissions_of([CUSTOMER]))
#: The services every shop has had since issue 18's first half (``>=``: more come).
BUILT = {"user", "product"}


@pytest.fixture
def backend(backend: Backend) -> Backend:
    """The shop's backend, its keys folder also holding the HR system's identity provider's
    key (as when both systems share one): an HR user token is then *known* and must be
    refused for what it claims, not merely for an unknown key."""
    assert backend.settings.keys_dir is not None
    generate_keys(backend.settings.keys_dir, [IDENTITY_PROVIDER])
    return backend


@dataclass
class World:
    """Customer A (the caller), customer B (whose things A names) and an admin.

    ``ids``: B's ids by path-parameter name (what a cross-customer attempt names);
    ``known``: A's own and the shop's ids by the same names (what every other path
    parameter, and body properties of those names, are filled with); ``secrets``: B's
    values that must appear in no answer to anyone but B and the staff."""

    a: Account
    b: Account
    admin: Account
    ids: dict[str, str] = field(default_factory=dict)
    known: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)


def has_routes(shop: SystemRuntime, service: str) -> bool:
    app = service_apps(shop).get(service)
    return app is not None and bool(app.openapi().get("paths"))


@pytest.fixture
async def world(shop: SystemRuntime, shop_api: httpx.AsyncClient) -> World:
    a = await customer(shop_api, "Ann", "Alpha")
    b = await customer(shop_api, "Bea", "Beta")
    staff = await admin(shop_api)
    world = World(a, b, staff)
    # The shop's catalogue (made by the operator): a category, a product with an image.
    category = ok(await shop_api.post("/api/product/categories", json={"name": "Sec", "slug": "sec-cat"}), 201)
    product = {"sku": "SEC-1", "name": "Secured", "price": "10.00", "stock_quantity": 50, "category_id": category["id"]}
    product = ok(await shop_api.post("/api/product/products", json=product), 201)
    image = {"url": "https://img.example.com/sec.jpg"}
    image = ok(await shop_api.post(f"/api/product/products/{product['id']}/images", json=image), 201)
    # B's things: an address, a preference, a review (and an order, once the order service exists).
    b_line = f"B-street {uuid.uuid4().hex[:10]}"
    b_address = ok(
        await shop_api.post("/api/user/users/me/addresses", json=address(line1=b_line), headers=b.headers), 201
    )
    b_value = f"b-secret-{uuid.uuid4().hex[:10]}"
    ok(await shop_api.put("/api/user/users/me/preferences/b.pref", json={"value": b_value}, headers=b.headers), 201)
    review = {"rating": 2, "comment": "B's review"}
    b_review = ok(
        await shop_api.put(f"/api/product/products/{product['id']}/reviews/me", json=review, headers=b.headers), 201
    )
    # A's own things, so A's attempts on its own records succeed (the 404s on B's mean something).
    a_address = ok(await shop_api.post("/api/user/users/me/addresses", json=address(), headers=a.headers), 201)
    ok(await shop_api.put("/api/user/users/me/preferences/a.pref", json={"value": "a"}, headers=a.headers), 201)
    a_review = ok(
        await shop_api.put(f"/api/product/products/{product['id']}/reviews/me", json=review, headers=a.headers), 201
    )
    world.ids = {"user_id": b.id, "address_id": b_address["id"], "key": "b.pref", "review_id": b_review["id"]}
    world.known = {
        "user_id": a.id,
        "address_id": a_address["id"],
        "key": "a.pref",
        "category_id": category["id"],
        "product_id": product["id"],
        "image_id": image["id"],
        "review_id": a_review["id"],
    }
    world.secrets = {"email": b.user["email"], "address_id": b_address["id"], "line1": b_line, "preference": b_value}
    if has_routes(shop, "order"):  # an order each, placed through the saga
        for who, where, ids in ((b, b_address, world.ids), (a, a_address, world.known)):
            order = {"lines": [{"product_id": product["id"], "quantity": 1}], "address_id": where["id"]}
            r = await shop_api.post("/api/order/orders", json={**order, "payment_method": "pm_ok"}, headers=who.headers)
            assert r.status_code in (201, 202), r.text
            await shop.settle()
            (placed,) = ok(await shop_api.get("/api/order/orders", headers=who.headers))["items"]
            ids["order_id"] = placed["id"]
        b_order = ok(await shop_api.get(f"/api/order/orders/{world.ids['order_id']}", headers=b.headers))
        world.secrets |= {"order_id": b_order["id"], "order_number": b_order["order_number"]}
    # Any saga of the shop (staff only): its id fills {saga_id}.
    for name, app in service_apps(shop).items():
        if "/sagas" in app.openapi().get("paths", {}):
            sagas = ok(await shop_api.get(f"/api/{name}/sagas", params={"limit": 1}))["items"]
            if sagas:
                world.known["saga_id"] = sagas[0]["id"]
    return world


def leaked(text: str, secrets: dict[str, str], sent: str = "") -> list[str]:
    """The secrets ``text`` shows, but those the request itself named (``sent``: a 404
    names the path it answers)."""
    return [name for name, value in secrets.items() if value in text and value not in sent]


async def snapshot(api: httpx.AsyncClient, world: World) -> dict[str, Any]:
    """B's records, as the operator reads them."""
    ids = world.ids
    shown: dict[str, Any] = {
        path: ok(await api.get(path))
        for path in (
            f"/api/user/users/{ids['user_id']}",
            f"/api/user/users/{ids['user_id']}/addresses",
            f"/api/user/users/{ids['user_id']}/preferences",
        )
    }
    reviews = ok(await api.get(f"/api/product/products/{world.known['product_id']}/reviews"))["items"]
    shown["review"] = [r for r in reviews if r["id"] == ids["review_id"]]
    if "order_id" in ids:
        shown["order"] = ok(await api.get(f"/api/order/orders/{ids['order_id']}"))
    return shown


async def test_every_shop_route_refuses_bad_callers_and_other_customers(
    shop: SystemRuntime, shop_api: httpx.AsyncClient, world: World, tmp_path: Path, record_property: Any
) -> None:
    keys_dir = shop.settings.keys_dir
    assert keys_dir is not None
    assert IDENTITY_PROVIDER in shop.keys.public, "the HR signer's key is known to the shop (see the backend fixture)"
    user_signer = shop.keys.signer("user", ttl=300)
    hr_signer = KeyRing.load(keys_dir, signers=[IDENTITY_PROVIDER]).signer(IDENTITY_PROVIDER, ttl=300)
    generate_keys(tmp_path / "forger", ["user"])
    forger = KeyRing.load(tmp_path / "forger", signers=["user"]).signer("user", ttl=300)
    everything = sorted(MATRIX)
    a, b = world.a, world.b

    def token(perms: list[str], *, by: Any = user_signer, now: float | None = None) -> dict[str, str]:
        t = by.issue(subject=a.id, tenant=STORE, roles=["admin"], permissions=perms, now=now)
        return {"Authorization": f"Bearer {t}"}

    bad_tokens = {
        "none": {"Authorization": ""},
        "malformed": {"Authorization": "Bearer not.a.jwt"},
        "forged": token(everything, by=forger),
        "expired": token(everything, now=0),
        "every permission": token(["*"]),  # the operator's claim, in a user token
        "HR identity provider's": token(everything, by=hr_signer),
        **{f"{s} service's": token(everything, by=shop.keys.signer(s, ttl=300)) for s in ("product", "order")},
    }
    anonymous = {"Authorization": ""}
    before = await snapshot(shop_api, world)
    counts = dict.fromkeys(("routes", "public", "bad_token", "no_permission", "cross_customer", "bodies"), 0)
    public_seen: set[tuple[str, str]] = set()
    services: set[str] = set()
    for service, route, doc in routes(shop):
        services.add(service)
        for method in sorted(route.methods):
            url = f"/api/{service}{route.path}"
            where = f"{method} {url}"
            counts["routes"] += 1
            op = operation(doc, route, method)
            schema = body_schema(op)
            example = Example(doc, known=world.known, documented=True)
            body = example.value(schema) if schema else None
            random_ids = {name: str(uuid.uuid4()) for name in parameters(route.path)}
            #: A's own ids and the shop's (a parameter the world does not know: a random id).
            mine = fill(url, {**random_ids, **world.known})
            all_known = parameters(route.path) <= set(world.known)
            needed = permission_of(route)
            public = (method, url) in PUBLIC
            may = public or needed is None or needed in CUSTOMER_MAY

            if public:
                public_seen.add((method, url))
                counts["public"] += 1
                if method == "GET":  # browsing needs no token, and shows nobody's private data
                    r = await shop_api.get(mine, headers=anonymous)
                    assert r.status_code == 200, f"{where} without a token: {r.status_code} {r.text}"
                    # A public review names its author's id (by design); nothing else of B shows.
                    assert not leaked(r.text, world.secrets), f"{where} shows B's {leaked(r.text, world.secrets)}"
            else:
                for kind, headers in bad_tokens.items():
                    r = await shop_api.request(method, fill(url, random_ids), json=body, headers=headers)
                    assert r.status_code == 401, f"{where} with {kind} token: {r.status_code} {r.text}"
                    assert r.headers["content-type"] == "application/problem+json", where
                    counts["bad_token"] += 1
                # A user token granting nothing: 403 naming a permission, whatever the route.
                r = await shop_api.request(method, mine, json=body, headers=token([]))
                assert r.status_code == 403, f"{where} with no permission: {r.status_code} {r.text}"
                assert r.json()["permission"] in MATRIX, where
                counts["no_permission"] += 1
                if needed is None:  # the caller's own records (subject() in the user service's deps)
                    assert service == "user", f"{where} declares no permission"
                else:  # every permission but the one the route declares
                    r = await shop_api.request(
                        method, mine, json=body, headers=token([p for p in everything if p != needed])
                    )
                    assert r.status_code == 403, f"{where} without {needed}: {r.status_code} {r.text}"
                    assert r.json()["permission"] == needed
                    counts["no_permission"] += 1

            # Customer A naming B's ids: 404 (B's rows do not exist for A), or 403 where A
            # may not use the route at all, or the row is public anyway. Never B's data.
            named = parameters(route.path) & set(world.ids)
            if named and not public:
                target = fill(url, {**random_ids, **world.known, **world.ids})
                r = await shop_api.request(method, target, json=body, headers=a.headers)
                expected = 403 if not may or named & PUBLIC_ROWS else 404
                assert r.status_code == expected, f"{where} with B's {sorted(named)}: {r.status_code} {r.text}"
                assert not leaked(r.text, world.secrets, target), where
                counts["cross_customer"] += 1
            if method == "GET" and may and not public:  # A's own: there, and nothing of B's in it
                r = await shop_api.get(mine, headers=a.headers)
                assert r.status_code in ((200,) if all_known else (200, 404)), f"{where} on A's own: {r.text}"
                assert not leaked(r.text, {**world.secrets, "user_id": b.id}), f"{where} shows B's data to A"
                counts["cross_customer"] += 1
            if schema and may and not public:  # B's ids in the body (an order for B, to B's address)
                props = example.resolve(schema).get("properties", {})
                for name in sorted(set(props) & set(world.ids)):
                    named_body = {**example.value(schema), name: world.ids[name]}
                    r = await shop_api.request(method, mine, json=named_body, headers=a.headers)
                    assert 400 <= r.status_code < 500, f"{where} naming B's {name}: {r.status_code} {r.text}"
                    assert not leaked(r.text, world.secrets, str(named_body)), where
                    counts["cross_customer"] += 1

            # Bodies, as the admin (or anonymously on a public route): malformed, oversized,
            # SQL-looking text in every text field (and in ``q``). Never a 5xx.
            staff = anonymous if public else world.admin.headers
            if schema:
                raw = {**staff, "content-type": "application/json"}
                r = await shop_api.request(method, mine, content=MALFORMED, headers=raw)
                assert r.status_code in (400, 422), f"{where} malformed JSON: {r.status_code} {r.text}"
                assert r.headers["content-type"] == "application/problem+json", where
                r = await shop_api.request(method, mine, content=OVERSIZED, headers=raw)
                assert r.status_code == 413, f"{where} oversized: {r.status_code}"
                assert r.headers["content-type"] == "application/problem+json", where
                r = await shop_api.request(method, mine, json=example.strings(schema, SQLISH), headers=staff)
                assert r.status_code < 500, f"{where} SQL-looking text: {r.status_code} {r.text}"
                # A NUL character: SQLite stores it, PostgreSQL cannot (a 422 naming the field).
                nul = example.strings(schema, NUL_TEXT)
                if isinstance(nul, dict) and NUL_TEXT in nul.values():
                    r = await shop_api.request(method, mine, json=nul, headers=staff)
                    assert r.status_code == 422, f"{where} NUL in text: {r.status_code} {r.text}"
                    counts["bodies"] += 1
                counts["bodies"] += 3
            if any(p.get("name") == "q" and p.get("in") == "query" for p in op.get("parameters", [])):
                r = await shop_api.request(method, mine, params={"q": SQLISH}, headers=staff)
                assert r.status_code == 200, f"{where}?q=SQL-looking: {r.status_code} {r.text}"
                r = await shop_api.request(method, mine, params={"q": NUL_TEXT}, headers=staff)
                assert (r.status_code, [e["field"] for e in r.json()["errors"]]) == (422, ["q"]), where
                counts["bodies"] += 2

    assert public_seen == PUBLIC, f"public routes listed but not served: {PUBLIC - public_seen}"
    assert services >= BUILT, services
    assert await snapshot(shop_api, world) == before, "B's records are unchanged"
    # B still logs in (no attempt locked or changed B's account).
    assert (await login(shop_api, b.user["email"], PASSWORD)).count(".") == 2
    assert counts["routes"] >= 39, counts
    backend = "postgresql" if shop.settings.database_url else "sqlite"
    record_property(
        "summary",
        f"shop security matrix ({backend}; {', '.join(sorted(services))}): {counts['routes']} routes "
        f"({counts['public']} public); {counts['bad_token']} bad-token, {counts['no_permission']} missing-permission, "
        f"{counts['cross_customer']} cross-customer and {counts['bodies']} bad-body attempts, all refused",
    )


async def test_public_routes_need_no_token_and_the_rest_do(shop: SystemRuntime, shop_api: httpx.AsyncClient) -> None:
    """Sign-up and login anonymously, then: public reads answer without a token; the
    customer's own account does not."""
    address_ = email("anon")
    body = {"email": address_, "password": PASSWORD, "first_name": "Anon", "last_name": "Ymous"}
    anonymous = {"Authorization": ""}
    user = ok(await shop_api.post("/api/user/register", json=body, headers=anonymous), 201)
    r = await shop_api.post("/api/user/login", json={"email": address_, "password": PASSWORD}, headers=anonymous)
    assert ok(r)["user_id"] == user["id"]
    for path in ("/api/product/categories", "/api/product/products"):
        assert (await shop_api.get(path, headers=anonymous)).status_code == 200, path
    r = await shop_api.get("/api/user/users/me", headers=anonymous)
    assert (r.status_code, r.headers["content-type"]) == (401, "application/problem+json")
    assert r.headers["www-authenticate"].startswith("Bearer")
