"""The user service under races and over time: concurrent sign-ups of one email and
concurrent defaults, locked accounts, rehashed passwords, and its demo data."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import Counter

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select, update

from isles import passwords
from isles.runtime.system import SystemRuntime
from shop.services.user import demo
from shop.services.user.models import Address, User
from tests.shop.user.helpers import PASSWORD, address, customer, email, ok, user_events

pytestmark = pytest.mark.integration


async def test_concurrent_sign_ups_of_one_email_make_one_user(shop: SystemRuntime, shop_api: httpx.AsyncClient) -> None:
    same = email("twin")
    body = {"email": same, "password": PASSWORD, "first_name": "Twin", "last_name": "Peaks"}
    answers = await asyncio.gather(*(shop_api.post("/api/user/register", json=body) for _ in range(4)))
    assert Counter(r.status_code for r in answers) == {201: 1, 409: 3}
    async with shop["user"].db.read_session() as session:
        assert await session.scalar(select(func.count()).where(User.email == same)) == 1


async def test_concurrent_defaults_leave_one(shop: SystemRuntime, shop_api: httpx.AsyncClient) -> None:
    jane = await customer(shop_api)
    answers = await asyncio.gather(
        *(
            shop_api.post(
                "/api/user/users/me/addresses", json=address(recipient=f"R{i}", is_default=True), headers=jane.headers
            )
            for i in range(5)
        )
    )
    assert {r.status_code for r in answers} <= {201, 409}
    made = [r.json() for r in answers if r.status_code == 201]
    assert made
    async with shop["user"].db.read_session() as session:
        defaults = await session.scalar(
            select(func.count()).where(Address.user_id == uuid.UUID(jane.id), Address.is_default.is_(True))
        )
    assert defaults == 1


async def test_repeated_wrong_passwords_lock_the_account_for_a_while(shop_api: httpx.AsyncClient) -> None:
    jane = await customer(shop_api)
    wrong = {"email": jane.user["email"], "password": "not-the-password"}
    for _ in range(5):  # ISLES's default: 5 failures in a row
        assert (await shop_api.post("/api/user/login", json=wrong)).status_code == 401
    locked = await shop_api.post("/api/user/login", json={"email": jane.user["email"], "password": PASSWORD})
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0


async def test_a_hash_of_older_parameters_is_rehashed_at_login(
    shop: SystemRuntime, shop_api: httpx.AsyncClient
) -> None:
    jane = await customer(shop_api)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    async with shop["user"].uow() as uow:
        await uow.session.execute(update(User).where(User.id == uuid.UUID(jane.id)).values(password_hash=weak))
        await uow.commit()
    ok(await shop_api.post("/api/user/login", json={"email": jane.user["email"], "password": PASSWORD}))
    async with shop["user"].db.read_session() as session:
        now = await session.scalar(select(User.password_hash).where(User.id == uuid.UUID(jane.id)))
    assert now != weak
    assert now is not None
    assert not passwords.needs_rehash(now)
    ok(await shop_api.post("/api/user/login", json={"email": jane.user["email"], "password": PASSWORD}))


async def test_the_demo_data_loads_once_and_its_people_log_in(shop: SystemRuntime, shop_api: httpx.AsyncClient) -> None:
    lines = await demo.load(shop_api)
    assert lines[0] == "shop users: 1 admin, 4 customers, 6 addresses, 8 preferences"
    found = re.search(r"with password (\S+) as:", lines[1])
    assert found is not None
    password = found.group(1)
    assert len(password) >= 10
    boss = ok(await shop_api.post("/api/user/login", json={"email": demo.ADMIN_EMAIL, "password": password}))
    assert boss["roles"] == ["admin"]
    headers = {"Authorization": f"Bearer {boss['access_token']}"}
    users = ok(await shop_api.get("/api/user/users", params={"sort": "email"}, headers=headers))
    assert users["total"] == 5
    jane = next(u for u in users["items"] if u["email"] == "jane.doe@shop.example")
    addresses = ok(await shop_api.get(f"/api/user/users/{jane['id']}/addresses", headers=headers))
    assert [(a["city"], a["is_default"]) for a in addresses] == [("Lyon", True), ("Lyon", False)]
    token = ok(await shop_api.post("/api/user/login", json={"email": jane["email"], "password": password}))
    prefs = ok(
        await shop_api.get(
            "/api/user/users/me/preferences", headers={"Authorization": f"Bearer {token['access_token']}"}
        )
    )
    assert {p["key"]: p["value"] for p in prefs} == {"language": "fr", "newsletter": "yes", "ui.theme": "dark"}
    assert [t for t, _v, _d in await user_events(shop, jane["id"])] == ["user.UserRegistered"]
    assert await demo.load(shop_api) == []  # once
