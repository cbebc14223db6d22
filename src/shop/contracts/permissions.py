"""The shop's roles and what they may do. The user service writes the permissions of
a user's roles into the user's token; each service checks the one a route needs."""

from __future__ import annotations

ADMIN, CUSTOMER = "admin", "customer"
ROLES = {
    ADMIN: "Runs the store: the catalogue, stock, every order, shipping.",
    CUSTOMER: "Buys: their own profile, addresses, preferences, orders and reviews.",
}

#: permission -> (description, roles holding it)
MATRIX: dict[str, tuple[str, tuple[str, ...]]] = {
    "profile:read": ("Read one's own user, addresses and preferences (an admin: anyone's)", (ADMIN, CUSTOMER)),
    "profile:write": ("Change one's own user, addresses and preferences (an admin: anyone's)", (ADMIN, CUSTOMER)),
    "users:read": ("Read the store's users", (ADMIN,)),
    "users:write": ("Create, change and deactivate users, give roles", (ADMIN,)),
    "catalog:write": ("Create and change categories, products, images and prices", (ADMIN,)),
    "stock:write": ("Set stock levels; reserve and release stock (the order service's saga)", (ADMIN,)),
    "reviews:write": ("Post and change one's own product reviews", (ADMIN, CUSTOMER)),
    "reviews:moderate": ("Hide or delete any review", (ADMIN,)),
    "orders:read": ("Read orders and the order history (a customer: their own)", (ADMIN, CUSTOMER)),
    "orders:write": ("Place and cancel orders (a customer: their own)", (ADMIN, CUSTOMER)),
    "shipping:write": ("Move orders along the shipping statuses", (ADMIN,)),
    "sagas:read": ("Read the store's sagas", (ADMIN,)),
    "sagas:retry": ("Retry a saga (an operator's go-ahead)", (ADMIN,)),
}


def permissions_of(roles: list[str] | tuple[str, ...] | set[str]) -> list[str]:
    """The permissions the roles give, sorted."""
    return sorted(p for p, (_d, holders) in MATRIX.items() if any(r in holders for r in roles))


__all__ = ["ADMIN", "CUSTOMER", "MATRIX", "ROLES", "permissions_of"]
