"""The catalogue through the public API: categories (a tree, never a cycle; slugs
unique and well-formed), products (SKUs unique, exact prices, the list's filters,
sorts and search, If-Match), images in their order; the events each change publishes,
with their prices as strings."""

from __future__ import annotations

import httpx
import pytest

from isles.runtime.system import SystemRuntime
from tests.shop.product.helpers import BASE, fields, new_category, new_product, ok, outbox

pytestmark = pytest.mark.integration


async def test_categories_make_a_tree_without_cycles(shop_api: httpx.AsyncClient) -> None:
    books = await new_category(shop_api, "books", description="Printed books.")
    fiction = await new_category(shop_api, "fiction", books["id"])
    scifi = await new_category(shop_api, "science-fiction", fiction["id"])
    assert (fiction["parent_id"], fiction["version"]) == (books["id"], 0)
    r = await shop_api.get(f"{BASE}/categories/{books['id']}")
    assert ok(r)["description"] == "Printed books."
    assert r.headers["ETag"] == '"0"'
    # Its own ancestor: the category itself, its child, its grandchild.
    for parent in (books["id"], fiction["id"], scifi["id"]):
        r = await shop_api.patch(f"{BASE}/categories/{books['id']}", json={"parent_id": parent})
        assert r.status_code == 422, r.text
        assert fields(r) == ["parent_id"]
    r = await shop_api.patch(
        f"{BASE}/categories/{scifi['id']}", json={"parent_id": "7e0f0000-0000-4000-8000-000000000000"}
    )
    assert (r.status_code, fields(r)) == (422, ["parent_id"])
    # Moving a leaf up is fine; the list filters by parent and by top.
    moved = ok(await shop_api.patch(f"{BASE}/categories/{scifi['id']}", json={"parent_id": books["id"]}))
    assert (moved["parent_id"], moved["version"]) == (books["id"], 1)
    children = ok(await shop_api.get(f"{BASE}/categories", params={"parent_id": books["id"]}))
    assert [c["slug"] for c in children["items"]] == ["fiction", "science-fiction"]
    top = ok(await shop_api.get(f"{BASE}/categories", params={"top": "true"}))
    assert [c["slug"] for c in top["items"]] == ["books"]
    found = ok(await shop_api.get(f"{BASE}/categories", params={"q": "FICT"}))
    assert {c["slug"] for c in found["items"]} == {"fiction", "science-fiction"}
    # A category with subcategories stays; a leaf goes, its products left in none.
    r = await shop_api.delete(f"{BASE}/categories/{books['id']}")
    assert r.status_code == 409, r.text
    product = await new_product(shop_api, "BK-1", category_id=fiction["id"])
    assert (await shop_api.delete(f"{BASE}/categories/{fiction['id']}")).status_code == 204
    assert (await shop_api.get(f"{BASE}/categories/{fiction['id']}")).status_code == 404
    assert ok(await shop_api.get(f"{BASE}/products/{product['id']}"))["category_id"] is None


async def test_slugs_are_unique_and_well_formed(shop_api: httpx.AsyncClient) -> None:
    books = await new_category(shop_api, "books")
    r = await shop_api.post(f"{BASE}/categories", json={"name": "Other books", "slug": "books"})
    assert (r.status_code, fields(r)) == (409, ["slug"])
    other = await new_category(shop_api, "music")
    r = await shop_api.patch(f"{BASE}/categories/{other['id']}", json={"slug": "books"})
    assert (r.status_code, fields(r)) == (409, ["slug"])
    for bad in ("Books", "sci fi", "-books", "books-", "bücher", "a--b", ""):
        r = await shop_api.post(f"{BASE}/categories", json={"name": "X", "slug": bad})
        assert (r.status_code, fields(r)) == (422, ["slug"]), bad
    r = await shop_api.patch(f"{BASE}/categories/{books['id']}", json={"name": None})
    assert (r.status_code, fields(r)) == (422, ["name"])


async def test_a_product_is_created_read_and_changed_with_its_events(
    shop: SystemRuntime, shop_api: httpx.AsyncClient
) -> None:
    category = await new_category(shop_api, "audio")
    r = await shop_api.post(
        f"{BASE}/products",
        json={
            "sku": "EL-AUD-1",
            "name": "  Headphones  ",
            "price": "129.90",
            "stock_quantity": 8,
            "category_id": category["id"],
        },
    )
    product = ok(r, 201)
    pid = product["id"]
    assert r.headers["Location"].endswith(f"{BASE}/products/{pid}")
    assert (product["name"], product["price"], product["stock_quantity"], product["is_active"]) == (
        "Headphones",
        "129.90",
        8,
        True,
    )
    assert product["version"] == 1
    got = await shop_api.get(f"{BASE}/products/{pid}")
    assert ok(got)["price"] == "129.90"
    assert got.headers["ETag"] == '"1"'
    # A stale If-Match is refused; the right one applies.
    r = await shop_api.patch(
        f"{BASE}/products/{pid}", json={"name": "Over-ear Headphones"}, headers={"If-Match": '"0"'}
    )
    assert r.status_code == 412, r.text
    renamed = ok(
        await shop_api.patch(
            f"{BASE}/products/{pid}", json={"name": "Over-ear Headphones"}, headers={"If-Match": '"1"'}
        )
    )
    assert (renamed["name"], renamed["version"]) == ("Over-ear Headphones", 2)
    priced = ok(await shop_api.patch(f"{BASE}/products/{pid}", json={"price": 99.5}))
    assert priced["price"] == "99.50"
    same = ok(await shop_api.patch(f"{BASE}/products/{pid}", json={"price": "99.50", "name": "Over-ear Headphones"}))
    assert same["version"] == priced["version"]  # nothing changed: no event, no new version
    described = ok(await shop_api.patch(f"{BASE}/products/{pid}", json={"description": "Closed-back."}))
    assert described["version"] == priced["version"] + 1
    gone = ok(await shop_api.patch(f"{BASE}/products/{pid}", json={"is_active": False}))
    assert gone["is_active"] is False
    assert await outbox(shop, pid) == [
        (
            "product.ProductCreated",
            1,
            {
                "id": pid,
                "sku": "EL-AUD-1",
                "name": "Headphones",
                "price": "129.90",
                "category_id": category["id"],
                "is_active": True,
            },
        ),
        (
            "product.ProductRenamed",
            2,
            {"id": pid, "sku": "EL-AUD-1", "name": "Over-ear Headphones", "previous_name": "Headphones"},
        ),
        (
            "product.ProductPriceChanged",
            3,
            {"id": pid, "sku": "EL-AUD-1", "price": "99.50", "previous_price": "129.90"},
        ),
        ("product.ProductDiscontinued", 5, {"id": pid, "sku": "EL-AUD-1"}),
    ]
    # Discontinued: out of the default list, still readable, in availability=all.
    assert ok(await shop_api.get(f"{BASE}/products"))["total"] == 0
    assert ok(await shop_api.get(f"{BASE}/products", params={"availability": "discontinued"}))["total"] == 1
    assert ok(await shop_api.get(f"{BASE}/products/{pid}"))["is_active"] is False


async def test_skus_are_unique_and_bad_input_names_its_field(shop_api: httpx.AsyncClient) -> None:
    first = await new_product(shop_api, "SKU-1")
    other = await new_product(shop_api, "SKU-2")
    r = await shop_api.post(f"{BASE}/products", json={"sku": "SKU-1", "name": "Again", "price": "1.00"})
    assert (r.status_code, fields(r)) == (409, ["sku"])
    r = await shop_api.patch(f"{BASE}/products/{other['id']}", json={"sku": "SKU-1"})
    assert (r.status_code, fields(r)) == (409, ["sku"])
    base = {"sku": "SKU-3", "name": "Thing", "price": "1.00"}
    for field, value in [
        ("price", "-1.00"),
        ("price", "0"),
        ("price", 19.999),  # a float with three decimals: never rounded silently
        ("price", "19.999"),
        ("price", "12345678901.00"),
        ("price", "ten"),
        ("stock_quantity", -1),
        ("sku", "has space"),
        ("name", ""),
        ("category_id", "not-a-uuid"),
    ]:
        r = await shop_api.post(f"{BASE}/products", json={**base, field: value})
        assert r.status_code == 422, (field, value, r.text)
        assert fields(r) == [field], (field, value, r.text)
    r = await shop_api.post(f"{BASE}/products", json={**base, "category_id": "7e0f0000-0000-4000-8000-000000000000"})
    assert (r.status_code, fields(r)) == (422, ["category_id"])
    r = await shop_api.patch(f"{BASE}/products/{first['id']}", json={"price": None})
    assert (r.status_code, fields(r)) == (422, ["price"])
    r = await shop_api.patch(f"{BASE}/products/{first['id']}", json={"stock_quantity": 3})
    assert r.status_code == 422  # stock is set with PUT .../stock
    assert (await shop_api.get(f"{BASE}/products/7e0f0000-0000-4000-8000-000000000000")).status_code == 404


async def test_the_product_list_filters_sorts_searches_and_pages(shop_api: httpx.AsyncClient) -> None:
    books = await new_category(shop_api, "books")
    fiction = await new_category(shop_api, "fiction", books["id"])
    audio = await new_category(shop_api, "audio")
    await new_product(shop_api, "BK-1", name="Solaris", price="14.50", category_id=fiction["id"])
    await new_product(shop_api, "BK-2", name="Cosmos", price="21.00", category_id=books["id"], stock_quantity=0)
    await new_product(shop_api, "AU-1", name="Speaker", price="59.90", category_id=audio["id"])
    await new_product(shop_api, "XX-1", name="Gift card", price="5.00")

    async def skus(**params: str) -> list[str]:
        return [p["sku"] for p in ok(await shop_api.get(f"{BASE}/products", params=params))["items"]]

    assert await skus() == ["BK-2", "XX-1", "BK-1", "AU-1"]  # by name
    assert await skus(sort="price") == ["XX-1", "BK-1", "BK-2", "AU-1"]
    assert await skus(sort="-price") == ["AU-1", "BK-2", "BK-1", "XX-1"]
    assert await skus(category_id=books["id"], sort="sku") == ["BK-1", "BK-2"]  # with the subcategory's
    assert await skus(category_id=fiction["id"]) == ["BK-1"]
    assert await skus(q="bk-") == ["BK-2", "BK-1"]  # SKUs too
    assert await skus(q="sola") == ["BK-1"]
    assert await skus(min_price="14.50", max_price="21.00", sort="price") == ["BK-1", "BK-2"]
    assert await skus(in_stock="false") == ["BK-2"]
    first = ok(await shop_api.get(f"{BASE}/products", params={"limit": 3, "sort": "price"}))
    assert first["total"] == 4
    rest = ok(
        await shop_api.get(f"{BASE}/products", params={"limit": 3, "sort": "price", "cursor": first["next_cursor"]})
    )
    assert [p["sku"] for p in rest["items"]] == ["AU-1"]
    r = await shop_api.get(f"{BASE}/products", params={"sort": "colour"})
    assert (r.status_code, fields(r)) == (422, ["sort"])


async def test_stock_is_set_by_stock_writers(shop_api: httpx.AsyncClient) -> None:
    product = await new_product(shop_api, "ST-1", stock_quantity=2)
    set_ = ok(await shop_api.put(f"{BASE}/products/{product['id']}/stock", json={"stock_quantity": 40}))
    assert (set_["stock_quantity"], set_["version"]) == (40, product["version"] + 1)
    r = await shop_api.put(f"{BASE}/products/{product['id']}/stock", json={"stock_quantity": -1})
    assert (r.status_code, fields(r)) == (422, ["stock_quantity"])
    r = await shop_api.put(
        f"{BASE}/products/{product['id']}/stock", json={"stock_quantity": 1}, headers={"If-Match": '"1"'}
    )
    assert r.status_code == 412


async def test_images_are_listed_in_their_order_and_reordered(shop_api: httpx.AsyncClient) -> None:
    product = await new_product(shop_api, "IM-1")
    url = f"{BASE}/products/{product['id']}/images"
    a = ok(await shop_api.post(url, json={"url": "https://img.example.com/a.jpg", "alt_text": "front"}), 201)
    b = ok(await shop_api.post(url, json={"url": "https://img.example.com/b.jpg"}), 201)
    c = ok(await shop_api.post(url, json={"url": "/static/c.jpg", "display_order": 7}), 201)
    assert [i["display_order"] for i in (a, b, c)] == [0, 1, 7]
    assert [i["id"] for i in ok(await shop_api.get(url))] == [a["id"], b["id"], c["id"]]
    r = await shop_api.post(url, json={"url": "javascript:alert(1)"})
    assert (r.status_code, fields(r)) == (422, ["url"])
    reordered = ok(await shop_api.put(f"{url}/order", json={"image_ids": [c["id"], a["id"], b["id"]]}))
    assert [(i["id"], i["display_order"]) for i in reordered] == [(c["id"], 0), (a["id"], 1), (b["id"], 2)]
    assert [i["id"] for i in ok(await shop_api.get(url))] == [c["id"], a["id"], b["id"]]
    r = await shop_api.put(f"{url}/order", json={"image_ids": [c["id"], a["id"]]})  # one missing
    assert (r.status_code, fields(r)) == (422, ["image_ids"])
    changed = ok(await shop_api.patch(f"{url}/{a['id']}", json={"alt_text": "the front"}))
    assert changed["alt_text"] == "the front"
    assert (await shop_api.delete(f"{url}/{b['id']}")).status_code == 204
    assert [i["id"] for i in ok(await shop_api.get(url))] == [c["id"], a["id"]]
    other = await new_product(shop_api, "IM-2")
    r = await shop_api.delete(f"{BASE}/products/{other['id']}/images/{a['id']}")  # not that product's
    assert r.status_code == 404
