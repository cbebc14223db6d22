"""The user service's demo data: the store's admin and four customers with addresses
and preferences, made through the API as the operator.

As in the HR demo, the password is made on first start (the same for every demo
account), printed, and kept in ``<data dir>/demo-credentials.txt`` by ``isles up``;
nothing secret lives in the repository.
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx

ADMIN_EMAIL = "admin@shop.example"

# (first, last, email, phone, addresses [(recipient, line1, line2, city, postal code, country)], preferences)
_Address = tuple[str, str, str | None, str, str, str]
CUSTOMERS: list[tuple[str, str, str, str | None, list[_Address], dict[str, str]]] = [
    (
        "Jane",
        "Doe",
        "jane.doe@shop.example",
        "+33 6 12 34 56 78",
        [
            ("Jane Doe", "12 rue des Lilas", "Bâtiment B", "Lyon", "69003", "FR"),
            ("Jane Doe (office)", "4 place Bellecour", None, "Lyon", "69002", "FR"),
        ],
        {"newsletter": "yes", "ui.theme": "dark", "language": "fr"},
    ),
    (
        "Max",
        "Mustermann",
        "max.mustermann@shop.example",
        None,
        [("Max Mustermann", "Hauptstraße 5", None, "Berlin", "10115", "DE")],
        {"newsletter": "no", "language": "de"},
    ),
    (
        "Mario",
        "Rossi",
        "mario.rossi@shop.example",
        "+39 06 1234 5678",
        [
            ("Mario Rossi", "Via Roma 1", None, "Roma", "00184", "IT"),
            ("Lucia Rossi", "Corso Buenos Aires 20", "Scala C", "Milano", "20124", "IT"),
        ],
        {"language": "it", "currency.display": "symbol"},
    ),
    (
        "John",
        "Smith",
        "john.smith@shop.example",
        None,
        [("John Smith", "221 Baker Street", "Flat B", "London", "NW1 6XE", "GB")],
        {"ui.theme": "light"},
    ),
]


def _ok(response: httpx.Response) -> Any:
    response.raise_for_status()
    return response.json()


async def load(client: httpx.AsyncClient) -> list[str]:
    """Load the demo accounts unless the store already has users; what was made."""
    existing = _ok(await client.get("/api/user/users", params={"limit": 1}))
    if existing["total"]:
        return []
    password = "demo-" + secrets.token_urlsafe(12)
    admin = {"email": ADMIN_EMAIL, "password": password, "first_name": "Alex", "last_name": "Admin", "roles": ["admin"]}
    _ok(await client.post("/api/user/users", json=admin))
    addresses = preferences = 0
    for first, last, email, phone, places, prefs in CUSTOMERS:
        body = {"email": email, "password": password, "first_name": first, "last_name": last, "phone": phone}
        user = _ok(await client.post("/api/user/users", json={**body, "roles": ["customer"]}))
        for recipient, line1, line2, city, postal_code, country in places:
            address = {
                "recipient": recipient,
                "line1": line1,
                "line2": line2,
                "city": city,
                "postal_code": postal_code,
                "country": country,
            }
            _ok(await client.post(f"/api/user/users/{user['id']}/addresses", json=address))
            addresses += 1
        for key, value in prefs.items():
            _ok(await client.put(f"/api/user/users/{user['id']}/preferences/{key}", json={"value": value}))
            preferences += 1
    return [
        f"shop users: 1 admin, {len(CUSTOMERS)} customers, {addresses} addresses, {preferences} preferences",
        f"log in (POST /api/user/login) with password {password} as:",
        f"    admin    {ADMIN_EMAIL}",
        *(f"    customer {email}" for _f, _l, email, *_rest in CUSTOMERS),
    ]
