"""Who may do what in the product service: the catalogue is read without a token;
writes without one are 401 and with a customer's 403; a customer's reviews are their
own (one per product: posting again changes it), a moderator deletes anyone's."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from isles.runtime.system import SystemRuntime
from tests.shop.product.helpers import (
    BASE,
    admin_headers,
    fields,
    new_category,
    new_product,
    ok,
    outbox,
    user_headers,
)

pytestmark = pytest.mark.integration


async def test_the_catalogue_is_public_and_writes_need_their_permission(
    shop: SystemRuntime, shop_api: httpx.AsyncClient
) -> None:
    category = await new_category(shop_api, "books")
    product = await new_product(shop_api, "BK-1", category_id=category["id"])
    pid = product["id"]
    image = ok(await shop_api.post(f"{BASE}/products/{pid}/images", json={"url": "/i/a.jpg"}), 201)
    customer = user_headers(shop)
    async with shop.client(token=None) as anonymous:
        for path in (
            "/categories",
            f"/categories/{category['id']}",
            "/products",
            f"/products/{pid}",
            f"/products/{pid}/images",
            f"/products/{pid}/reviews",
        ):
            r = await anonymous.get(BASE + path)
            assert r.status_code == 200, (path, r.text)
        assert ok(await anonymous.get(f"{BASE}/products/{pid}"))["sku"] == "BK-1"
        writes = [
            ("POST", "/categories", {"name": "X", "slug": "x"}),
            ("PATCH", f"/categories/{category['id']}", {"name": "Y"}),
            ("DELETE", f"/categories/{category['id']}", None),
            ("POST", "/products", {"sku": "S", "name": "S", "price": "1.00"}),
            ("PATCH", f"/products/{pid}", {"price": "1.00"}),
            ("PUT", f"/products/{pid}/stock", {"stock_quantity": 100}),
            ("POST", f"/products/{pid}/images", {"url": "/i/b.jpg"}),
            ("PATCH", f"/products/{pid}/images/{image['id']}", {"alt_text": "x"}),
            ("DELETE", f"/products/{pid}/images/{image['id']}", None),
            ("PUT", f"/products/{pid}/images/order", {"image_ids": [image["id"]]}),
            (
                "POST",
                "/reservations",
                {"reservation_id": str(uuid.uuid4()), "lines": [{"product_id": pid, "quantity": 1}]},
            ),
            ("POST", f"/reservations/{uuid.uuid4()}/release", None),
            ("GET", f"/reservations/{uuid.uuid4()}", None),
        ]
        for method, path, body in writes:
            r = await anonymous.request(method, BASE + path, json=body)
            assert r.status_code == 401, (method, path, r.text)
            r = await shop_api.request(method, BASE + path, json=body, headers=customer)
            assert r.status_code == 403, (method, path, r.text)
        r = await anonymous.put(f"{BASE}/products/{pid}/reviews/me", json={"rating": 5})
        assert r.status_code == 401
    # Nothing changed: the product, its stock, its image.
    again = ok(await shop_api.get(f"{BASE}/products/{pid}"))
    assert (again["price"], again["stock_quantity"], again["version"]) == (product["price"], 5, product["version"])
    assert len(ok(await shop_api.get(f"{BASE}/products/{pid}/images"))) == 1
    # An admin user's token may write the catalogue.
    made = await shop_api.post(
        f"{BASE}/categories", json={"name": "Music", "slug": "music"}, headers=admin_headers(shop)
    )
    assert made.status_code == 201, made.text


async def test_one_review_per_user_and_product_posting_again_changes_it(
    shop: SystemRuntime, shop_api: httpx.AsyncClient
) -> None:
    product = await new_product(shop_api, "RV-1")
    pid = product["id"]
    ada_id, bob_id = uuid.uuid4(), uuid.uuid4()
    ada, bob = user_headers(shop, user_id=ada_id), user_headers(shop, user_id=bob_id)
    url = f"{BASE}/products/{pid}/reviews/me"
    first = ok(await shop_api.put(url, json={"rating": 4, "comment": "Good."}, headers=ada), 201)
    assert (first["user_id_ref"], first["rating"], first["comment"]) == (str(ada_id), 4, "Good.")
    second = ok(await shop_api.put(url, json={"rating": 5, "comment": "Better on a second read."}, headers=ada))
    assert (second["id"], second["rating"]) == (first["id"], 5)
    ok(await shop_api.put(url, json={"rating": 2}, headers=bob), 201)
    listed = ok(await shop_api.get(f"{BASE}/products/{pid}/reviews", params={"sort": "rating"}))
    assert [(r["user_id_ref"], r["rating"]) for r in listed["items"]] == [(str(bob_id), 2), (str(ada_id), 5)]
    assert ok(await shop_api.get(f"{BASE}/products/{pid}/reviews", params={"rating": 5}))["total"] == 1
    shown = ok(await shop_api.get(f"{BASE}/products/{pid}"))
    assert (shown["review_count"], shown["average_rating"]) == (2, "3.50")
    for bad in (0, 6, "five", None):
        r = await shop_api.put(url, json={"rating": bad}, headers=ada)
        assert (r.status_code, fields(r)) == (422, ["rating"]), bad
    # ReviewPosted twice for Ada (made, changed), once for Bob.
    posted = await outbox(shop, first["id"])
    assert [(t, v, d["rating"]) for t, v, d in posted] == [
        ("product.ReviewPosted", 1, 4),
        ("product.ReviewPosted", 2, 5),
    ]
    assert posted[0][2] == {"id": first["id"], "product_id": pid, "user_id_ref": str(ada_id), "rating": 4}
    # The same user's first review, twice at once: one review.
    carl = user_headers(shop)
    answers = await asyncio.gather(
        shop_api.put(url, json={"rating": 3}, headers=carl), shop_api.put(url, json={"rating": 1}, headers=carl)
    )
    assert sorted(a.status_code for a in answers) == [200, 201], [a.text for a in answers]
    assert ok(await shop_api.get(f"{BASE}/products/{pid}/reviews"))["total"] == 3
    # An unknown product has no reviews to post.
    r = await shop_api.put(f"{BASE}/products/{uuid.uuid4()}/reviews/me", json={"rating": 3}, headers=ada)
    assert r.status_code == 404


async def test_a_review_is_deleted_by_its_author_or_a_moderator(
    shop: SystemRuntime, shop_api: httpx.AsyncClient
) -> None:
    product = await new_product(shop_api, "RV-2")
    pid = product["id"]
    ada, bob = user_headers(shop), user_headers(shop)
    url = f"{BASE}/products/{pid}/reviews"
    mine = ok(await shop_api.put(f"{url}/me", json={"rating": 1, "comment": "Broke."}, headers=ada), 201)
    theirs = ok(await shop_api.put(f"{url}/me", json={"rating": 5}, headers=bob), 201)
    # Bob may not delete Ada's; Ada deletes her own; then she has none to delete.
    assert (await shop_api.delete(f"{url}/{mine['id']}", headers=bob)).status_code == 403
    assert (await shop_api.delete(f"{url}/me", headers=ada)).status_code == 204
    assert (await shop_api.delete(f"{url}/me", headers=ada)).status_code == 404
    # An admin (reviews:moderate) deletes Bob's; the operator has no review of its own.
    assert (await shop_api.delete(f"{url}/{theirs['id']}", headers=admin_headers(shop))).status_code == 204
    assert (await shop_api.delete(f"{url}/{theirs['id']}", headers=admin_headers(shop))).status_code == 404
    assert (await shop_api.put(f"{url}/me", json={"rating": 3})).status_code == 403
    assert ok(await shop_api.get(url))["total"] == 0
    assert [t for t, _, _ in await outbox(shop, mine["id"])] == ["product.ReviewPosted", "product.ReviewRemoved"]
    removed = await outbox(shop, theirs["id"])
    assert removed[-1][0] == "product.ReviewRemoved"
    assert removed[-1][2]["user_id_ref"] == theirs["user_id_ref"]
