"""Accounts through the public API: sign-up, login (JSON and OAuth 2's form), the
token it answers, the own account, and the admins' routes."""

from __future__ import annotations

import uuid

import httpx
import pytest

from isles.runtime.system import SystemRuntime
from shop.contracts import STORE
from shop.contracts.permissions import permissions_of
from tests.shop.user.helpers import PASSWORD, admin, customer, email, fields, ok, user_events

pytestmark = pytest.mark.integration


async def test_register_then_log_in_gives_a_shop_user_token(shop: SystemRuntime, shop_api: httpx.AsyncClient) -> None:
    address = email("ada")
    body = {"email": f"  {address.upper()} ", "password": PASSWORD, "first_name": "Ada", "last_name": "Lovelace"}
    r = await shop_api.post("/api/user/register", json=body, headers={"Authorization": ""})
    user = ok(r, 201)
    assert r.headers["Location"] == f"/api/user/users/{user['id']}"
    assert (user["email"], user["roles"], user["is_active"], user["version"]) == (address, ["customer"], True, 1)
    assert not {"password", "password_hash"} & set(user)

    # JSON, with the address written another way
    token = ok(await shop_api.post("/api/user/login", json={"email": address.upper(), "password": PASSWORD}))
    assert (token["token_type"], token["user_id"], token["roles"]) == ("Bearer", user["id"], ["customer"])
    principal = shop["order"].verifier.verify(token["access_token"])
    assert principal.kind == "user"
    assert principal.user_id == uuid.UUID(user["id"])
    assert principal.tenant == STORE
    assert principal.roles == {"customer"}
    assert principal.permissions == set(permissions_of(["customer"]))

    # OAuth 2's password grant, as a form
    form = {"grant_type": "password", "username": address, "password": PASSWORD}
    token2 = ok(await shop_api.post("/api/user/login", data=form))
    assert shop["product"].verifier.verify(token2["access_token"]).user_id == uuid.UUID(user["id"])

    me = await shop_api.get("/api/user/users/me", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert ok(me)["id"] == user["id"]
    assert me.headers["ETag"] == '"1"'

    # Registered in the same transaction as the row
    assert await user_events(shop, user["id"]) == [
        (
            "user.UserRegistered",
            1,
            {"id": user["id"], "email": address, "first_name": "Ada", "last_name": "Lovelace", "roles": ["customer"]},
        )
    ]


async def test_wrong_password_and_unknown_email_are_the_same_401(shop_api: httpx.AsyncClient) -> None:
    jane = await customer(shop_api)
    wrong = await shop_api.post("/api/user/login", json={"email": jane.user["email"], "password": "not-the-one-1"})
    unknown = await shop_api.post("/api/user/login", json={"email": email("nobody"), "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert "WWW-Authenticate" in wrong.headers


async def test_register_refuses_a_taken_email_and_bad_input_naming_the_field(shop_api: httpx.AsyncClient) -> None:
    jane = await customer(shop_api)
    body = {"email": jane.user["email"].upper(), "password": PASSWORD, "first_name": "J", "last_name": "D"}
    taken = await shop_api.post("/api/user/register", json=body)
    assert taken.status_code == 409
    assert fields(taken) == ["email"]

    good = {"email": email(), "password": PASSWORD, "first_name": "Jo", "last_name": "Do"}
    for field, value in [
        ("password", "too-short"),
        ("email", "not-an-email"),
        ("first_name", "   "),
        ("phone", "call me"),
        ("roles", ["admin"]),  # a customer cannot choose roles
    ]:
        r = await shop_api.post("/api/user/register", json={**good, field: value})
        assert r.status_code == 422, (field, r.text)
        assert fields(r) == [field], (field, r.text)
    same = await shop_api.post("/api/user/register", json={**good, "password": good["email"]})
    assert (same.status_code, fields(same)) == (422, ["password"])


async def test_a_user_changes_their_own_account_with_if_match(shop: SystemRuntime, shop_api: httpx.AsyncClient) -> None:
    jane = await customer(shop_api)
    r = await shop_api.patch(
        "/api/user/users/me",
        json={"last_name": "Smith", "phone": "+33 6 12 34 56 78"},
        headers={**jane.headers, "If-Match": '"1"'},
    )
    changed = ok(r)
    assert (changed["last_name"], changed["phone"], changed["version"]) == ("Smith", "+33 6 12 34 56 78", 2)
    assert r.headers["ETag"] == '"2"'
    stale = await shop_api.patch(
        "/api/user/users/me", json={"first_name": "J"}, headers={**jane.headers, "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert (
        await shop_api.patch("/api/user/users/me", json={"first_name": None}, headers=jane.headers)
    ).status_code == 422
    # a customer may not give themself roles
    roles = await shop_api.patch("/api/user/users/me", json={"roles": ["admin"]}, headers=jane.headers)
    assert (roles.status_code, fields(roles)) == (422, ["roles"])
    events = await user_events(shop, jane.id)
    assert [(t, v, d.get("changes")) for t, v, d in events] == [
        ("user.UserRegistered", 1, None),
        ("user.UserUpdated", 2, ["last_name", "phone"]),
    ]
    # the password: the current one is asked again
    change = {"current_password": "wrong-password-1", "new_password": "a-brand-new-secret"}
    wrong = await shop_api.post("/api/user/users/me/password", json=change, headers=jane.headers)
    assert (wrong.status_code, fields(wrong)) == (422, ["current_password"])
    change["current_password"] = PASSWORD
    ok(await shop_api.post("/api/user/users/me/password", json=change, headers=jane.headers), 204)
    r = await shop_api.post("/api/user/login", json={"email": jane.user["email"], "password": "a-brand-new-secret"})
    assert r.status_code == 200


async def test_admin_routes_refuse_customers_with_403(shop_api: httpx.AsyncClient) -> None:
    jane = await customer(shop_api)
    bob = await customer(shop_api, "Bob", "Noyce")
    assert (await shop_api.get("/api/user/users", headers=jane.headers)).status_code == 403
    assert (
        await shop_api.patch(f"/api/user/users/{bob.id}", json={"first_name": "X"}, headers=jane.headers)
    ).status_code == 403
    assert (
        await shop_api.patch(f"/api/user/users/{jane.id}", json={"roles": ["admin"]}, headers=jane.headers)
    ).status_code == 403
    body = {"email": email(), "password": PASSWORD, "first_name": "E", "last_name": "Vil", "roles": ["admin"]}
    assert (await shop_api.post("/api/user/users", json=body, headers=jane.headers)).status_code == 403
    # another customer's account is not there; one's own is
    other = await shop_api.get(f"/api/user/users/{bob.id}", headers=jane.headers)
    assert other.status_code == 404
    assert ok(await shop_api.get(f"/api/user/users/{jane.id}", headers=jane.headers))["id"] == jane.id
    assert (await shop_api.get(f"/api/user/users/{uuid.uuid4()}", headers=jane.headers)).status_code == 404
    assert (await shop_api.get("/api/user/users/me")).status_code == 403  # the operator is no user
    assert (await shop_api.get("/api/user/users", headers={"Authorization": ""})).status_code == 401


async def test_an_admin_lists_changes_and_deactivates_users(shop: SystemRuntime, shop_api: httpx.AsyncClient) -> None:
    boss = await admin(shop_api)
    jane = await customer(shop_api, "Jane", "Zeta")
    bob = await customer(shop_api, "Bob", "Alpha")
    page = ok(await shop_api.get("/api/user/users", params={"sort": "last_name", "limit": 2}, headers=boss.headers))
    assert page["total"] == 3
    assert [u["last_name"] for u in page["items"]] == ["Admin", "Alpha"]
    assert page["next_cursor"]
    rest = ok(
        await shop_api.get(
            "/api/user/users",
            params={"sort": "last_name", "limit": 2, "cursor": page["next_cursor"]},
            headers=boss.headers,
        )
    )
    assert [u["last_name"] for u in rest["items"]] == ["Zeta"]
    found = ok(await shop_api.get("/api/user/users", params={"q": "zeta"}, headers=boss.headers))
    assert [u["id"] for u in found["items"]] == [jane.id]

    url = f"/api/user/users/{bob.id}"
    read = await shop_api.get(url, headers=boss.headers)
    assert read.headers["ETag"] == '"1"'
    promoted = ok(
        await shop_api.patch(url, json={"roles": ["admin", "customer"]}, headers={**boss.headers, "If-Match": '"1"'})
    )
    assert (promoted["roles"], promoted["version"]) == (["admin", "customer"], 2)
    bad = await shop_api.patch(url, json={"roles": ["root"]}, headers=boss.headers)
    assert bad.status_code == 422
    assert [f.split(".")[0] for f in fields(bad)] == ["roles"], bad.text
    off = ok(await shop_api.patch(url, json={"is_active": False}, headers=boss.headers))
    assert (off["is_active"], off["version"]) == (False, 3)
    refused = await shop_api.post("/api/user/login", json={"email": bob.user["email"], "password": PASSWORD})
    assert refused.status_code == 401
    inactive = ok(await shop_api.get("/api/user/users", params={"is_active": "false"}, headers=boss.headers))
    assert [u["id"] for u in inactive["items"]] == [bob.id]
    assert [(t, v) for t, v, _d in await user_events(shop, bob.id)] == [
        ("user.UserRegistered", 1),
        ("user.UserUpdated", 2),
        ("user.UserDeactivated", 3),
    ]
    # an admin cannot lock themself out
    me = f"/api/user/users/{boss.id}"
    for change, field in [({"is_active": False}, "is_active"), ({"roles": ["customer"]}, "roles")]:
        r = await shop_api.patch(me, json=change, headers=boss.headers)
        assert (r.status_code, fields(r)) == (409, [field])
    # an email another user holds
    taken = await shop_api.patch(url, json={"email": jane.user["email"]}, headers=boss.headers)
    assert (taken.status_code, fields(taken)) == (409, ["email"])
