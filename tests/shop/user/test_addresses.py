"""Addresses and preferences through the public API: one default address per user
(the first one; moving it unsets the old one), who sees whose (another customer's is a
404), the order service's reads with its service token."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from isles import NotFound
from isles.runtime.system import SystemRuntime
from shop.contracts import STORE
from shop.contracts.user import AddressView, UserClient, UserView
from shop.services.user.models import Address
from tests.shop.user.helpers import Account, address, admin, customer, fields, ok

pytestmark = pytest.mark.integration


async def _defaults(shop: SystemRuntime, user_id: str) -> int:
    async with shop["user"].db.read_session() as session:
        n = await session.scalar(
            select(func.count()).where(Address.user_id == uuid.UUID(user_id), Address.is_default.is_(True))
        )
    return int(n or 0)


async def _add(api: httpx.AsyncClient, who: Account, **body: Any) -> Any:
    return ok(await api.post("/api/user/users/me/addresses", json=address(**body), headers=who.headers), 201)


async def test_one_default_address_per_user(shop: SystemRuntime, shop_api: httpx.AsyncClient) -> None:
    jane = await customer(shop_api)
    home = await _add(shop_api, jane, recipient="Home")
    assert (home["is_default"], home["country"], home["user_id"]) == (True, "FR", jane.id)  # the first one
    office = await _add(shop_api, jane, recipient="Office", line2="3rd floor")
    assert office["is_default"] is False
    # a new default unsets the old one, in the same transaction
    cabin = await _add(shop_api, jane, recipient="Cabin", is_default=True)
    assert cabin["is_default"] is True
    listed = ok(await shop_api.get(f"/api/user/users/{jane.id}/addresses", headers=jane.headers))
    assert [(a["recipient"], a["is_default"]) for a in listed] == [("Cabin", True), ("Home", False), ("Office", False)]
    assert await _defaults(shop, jane.id) == 1

    # switching by PATCH, with the address's own ETag
    url = f"/api/user/users/me/addresses/{office['id']}"
    read = await shop_api.get(url, headers=jane.headers)
    assert read.headers["ETag"] == '"0"'
    switched = await shop_api.patch(url, json={"is_default": True}, headers={**jane.headers, "If-Match": '"0"'})
    assert ok(switched)["is_default"] is True
    assert switched.headers["ETag"] == '"1"'
    assert (
        await shop_api.patch(url, json={"city": "Paris"}, headers={**jane.headers, "If-Match": '"0"'})
    ).status_code == 412
    # asking again for the default keeps it (and changes nothing else)
    again = ok(await shop_api.patch(url, json={"is_default": True, "city": "Paris"}, headers=jane.headers))
    assert (again["is_default"], again["city"]) == (True, "Paris")
    listed = ok(await shop_api.get("/api/user/users/me/addresses", headers=jane.headers))
    assert (listed[0]["recipient"], listed[0]["is_default"]) == ("Office", True)
    assert sum(a["is_default"] for a in listed) == 1
    assert await _defaults(shop, jane.id) == 1

    # deleting the default makes the oldest remaining the default
    ok(await shop_api.delete(url, headers=jane.headers), 204)
    listed = ok(await shop_api.get("/api/user/users/me/addresses", headers=jane.headers))
    assert [(a["recipient"], a["is_default"]) for a in listed] == [("Home", True), ("Cabin", False)]
    # a user may have no default at all
    unset = ok(
        await shop_api.patch(
            f"/api/user/users/me/addresses/{home['id']}", json={"is_default": False}, headers=jane.headers
        )
    )
    assert unset["is_default"] is False
    assert await _defaults(shop, jane.id) == 0


async def test_address_input_is_checked_naming_the_field(shop_api: httpx.AsyncClient) -> None:
    jane = await customer(shop_api)
    for field, value in [
        ("country", "FRA"),
        ("country", "1A"),
        ("postal_code", "!!"),
        ("recipient", ""),
        ("line1", None),
    ]:
        r = await shop_api.post("/api/user/users/me/addresses", json=address(**{field: value}), headers=jane.headers)
        assert r.status_code == 422, (field, value, r.text)
        assert fields(r) == [field], (field, value, r.text)
    home = await _add(shop_api, jane)
    r = await shop_api.patch(f"/api/user/users/me/addresses/{home['id']}", json={"city": None}, headers=jane.headers)
    assert (r.status_code, fields(r)) == (422, ["city"])
    r = await shop_api.get("/api/user/users/not-a-uuid/addresses", headers=jane.headers)
    assert (r.status_code, fields(r)) == (422, ["user_id"])


async def test_another_customers_addresses_are_not_there(shop_api: httpx.AsyncClient) -> None:
    jane = await customer(shop_api)
    bob = await customer(shop_api, "Bob", "Noyce")
    bobs = await _add(shop_api, bob)
    theirs = f"/api/user/users/{bob.id}/addresses"
    for method, url, body in [
        ("GET", theirs, None),
        ("POST", theirs, address()),
        ("GET", f"{theirs}/{bobs['id']}", None),
        ("PATCH", f"{theirs}/{bobs['id']}", {"city": "Nowhere"}),
        ("DELETE", f"{theirs}/{bobs['id']}", None),
        ("GET", f"/api/user/users/{bob.id}/preferences", None),
        ("PUT", f"/api/user/users/{bob.id}/preferences/ui.theme", {"value": "dark"}),
        # Bob's address under Jane's own id is not hers either
        ("GET", f"/api/user/users/me/addresses/{bobs['id']}", None),
        ("PATCH", f"/api/user/users/{jane.id}/addresses/{bobs['id']}", {"city": "Nowhere"}),
    ]:
        r = await shop_api.request(method, url, json=body, headers=jane.headers)
        assert r.status_code == 404, (method, url, r.text)
    still = ok(await shop_api.get(f"{theirs}/{bobs['id']}", headers=bob.headers))
    assert still == bobs | {"created_at": still["created_at"], "updated_at": still["updated_at"]}
    # an admin sees and changes anyone's
    boss = await admin(shop_api)
    assert ok(await shop_api.get(theirs, headers=boss.headers))[0]["id"] == bobs["id"]
    assert (
        ok(await shop_api.patch(f"{theirs}/{bobs['id']}", json={"city": "Lille"}, headers=boss.headers))["city"]
        == "Lille"
    )
    assert (await shop_api.get(f"/api/user/users/{uuid.uuid4()}/addresses", headers=boss.headers)).status_code == 404


async def test_the_order_services_user_client_reads_users_and_addresses(
    shop: SystemRuntime, shop_api: httpx.AsyncClient
) -> None:
    jane = await customer(shop_api)
    home = await _add(shop_api, jane, line2="Bâtiment B", state="Rhône")
    # the order service's own token, claiming what its declaration will list
    token = shop.keys.signer("order", ttl=600).issue(
        subject="service:order", tenant=STORE, roles=["service"], permissions=["users:read"]
    )
    users = UserClient(shop["order"].client("user", str(STORE), token=token))
    user = await users.get_user(uuid.UUID(jane.id))
    assert isinstance(user, UserView)
    assert (user.email, user.roles, user.is_active) == (jane.user["email"], ["customer"], True)
    got = await users.get_address(uuid.UUID(jane.id), uuid.UUID(home["id"]))
    assert isinstance(got, AddressView)
    assert (got.id, got.user_id, got.line2, got.state, got.country, got.is_default) == (
        uuid.UUID(home["id"]),
        uuid.UUID(jane.id),
        "Bâtiment B",
        "Rhône",
        "FR",
        True,
    )
    bob = await customer(shop_api, "Bob", "Noyce")
    with pytest.raises(NotFound):  # Bob has no such address
        await users.get_address(uuid.UUID(bob.id), uuid.UUID(home["id"]))
    with pytest.raises(NotFound):
        await users.get_user(uuid.uuid4())
    # reading is all its token grants
    write = await shop_api.post(
        f"/api/user/users/{jane.id}/addresses", json=address(), headers={"Authorization": f"Bearer {token}"}
    )
    assert write.status_code == 403
    # a service token without users:read reads nothing
    bare = shop.keys.signer("product", ttl=600).issue(subject="service:product", tenant=STORE, roles=["service"])
    r = await shop_api.get(
        f"/api/user/users/{jane.id}/addresses/{home['id']}", headers={"Authorization": f"Bearer {bare}"}
    )
    assert r.status_code == 403


async def test_preferences(shop_api: httpx.AsyncClient) -> None:
    jane = await customer(shop_api)
    url = "/api/user/users/me/preferences"
    made = await shop_api.put(f"{url}/ui.theme", json={"value": "dark"}, headers=jane.headers)
    assert ok(made, 201)["value"] == "dark"
    replaced = await shop_api.put(f"{url}/ui.theme", json={"value": "light"}, headers=jane.headers)
    assert ok(replaced)["value"] == "light"
    ok(await shop_api.put(f"{url}/newsletter", json={"value": "yes"}, headers=jane.headers), 201)
    listed = ok(await shop_api.get(f"/api/user/users/{jane.id}/preferences", headers=jane.headers))
    assert [(p["key"], p["value"]) for p in listed] == [("newsletter", "yes"), ("ui.theme", "light")]
    for bad in ("UI.Theme", "1st", "a..b", "x" * 65, "trailing-"):
        r = await shop_api.put(f"{url}/{bad}", json={"value": "v"}, headers=jane.headers)
        assert (r.status_code, fields(r)) == (422, ["key"]), (bad, r.text)
    long = await shop_api.put(f"{url}/notes", json={"value": "x" * 1001}, headers=jane.headers)
    assert (long.status_code, fields(long)) == (422, ["value"])
    ok(await shop_api.delete(f"{url}/newsletter", headers=jane.headers), 204)
    assert (await shop_api.delete(f"{url}/newsletter", headers=jane.headers)).status_code == 404
    listed = ok(await shop_api.get(url, headers=jane.headers))
    assert [p["key"] for p in listed] == ["ui.theme"]
