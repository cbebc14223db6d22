"""Request and response bodies of the user API. The views other services read are
the contracts' (``UserView``, ``AddressView``); the API answers them with a few more
fields."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, SecretStr, StringConstraints

from shop.contracts.permissions import ADMIN, CUSTOMER
from shop.contracts.user import AddressView, UserView

# -- examples ---------------------------------------------------------------------------

USER_ID = "0b9a4c2e-61f7-4d3a-9c5e-8f1b2a7d4e60"
ADDRESS_ID = "5c3e8a10-2f4b-4e6d-8a9c-1b7d3f5e2a90"
EMAIL = "jane.doe@shop.example"
PASSWORD = "correct-horse-battery"
CREATED_AT = "2026-03-02T09:30:00Z"
UPDATED_AT = "2026-03-05T14:12:00Z"
USER: dict[str, JsonValue] = {
    "id": USER_ID,
    "email": EMAIL,
    "first_name": "Jane",
    "last_name": "Doe",
    "phone": "+33 6 12 34 56 78",
    "roles": [CUSTOMER],
    "is_active": True,
    "version": 1,
    "created_at": CREATED_AT,
    "updated_at": UPDATED_AT,
}
ADDRESS: dict[str, JsonValue] = {
    "id": ADDRESS_ID,
    "user_id": USER_ID,
    "recipient": "Jane Doe",
    "line1": "12 rue des Lilas",
    "line2": "Bâtiment B",
    "city": "Lyon",
    "state": None,
    "postal_code": "69003",
    "country": "FR",
    "is_default": True,
    "version": 0,
    "created_at": CREATED_AT,
    "updated_at": UPDATED_AT,
}

# -- field types ------------------------------------------------------------------------

#: What a preference key looks like: lower-case words joined by ``.``, ``_`` or ``-``.
KEY_PATTERN = r"^[a-z][a-z0-9]*([._-][a-z0-9]+)*$"
KEY_MAX = 64
MIN_PASSWORD = 10

RoleName = Literal["admin", "customer"]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, max_length=255, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    Field(examples=[EMAIL]),
]
Password = Annotated[
    SecretStr,
    StringConstraints(min_length=MIN_PASSWORD, max_length=128),
    Field(description=f"At least {MIN_PASSWORD} characters.", examples=[PASSWORD]),
]
Phone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=5, max_length=32, pattern=r"^\+?[0-9][0-9 ()./-]*[0-9]$"),
    Field(examples=["+33 6 12 34 56 78"]),
]
Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
City = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
PostalCode = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=2, max_length=20, pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]*$")
]
Country = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{2}$"),
    Field(description="ISO 3166-1 alpha-2 code (FR, DE, US...).", examples=["FR"]),
]
_CUSTOMER_ONLY: list[RoleName] = ["customer"]
Roles = Annotated[list[RoleName], Field(min_length=1, max_length=2, examples=[[CUSTOMER]])]

# -- accounts ---------------------------------------------------------------------------


class Register(BaseModel):
    """A customer signs themself up."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"email": EMAIL, "password": PASSWORD, "first_name": "Jane", "last_name": "Doe"}]
        },
    )

    email: Email
    password: Password
    first_name: Name = Field(examples=["Jane"])
    last_name: Name = Field(examples=["Doe"])
    phone: Phone | None = None


class UserCreate(Register):
    """An admin makes an account (another admin, or a customer), with its roles."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "email": "ops@shop.example",
                    "password": PASSWORD,
                    "first_name": "Olga",
                    "last_name": "Petrova",
                    "roles": [ADMIN],
                }
            ]
        },
    )

    roles: Roles = Field(default_factory=lambda: _CUSTOMER_ONLY.copy())


class MeUpdate(BaseModel):
    """What a user changes of their own account (``phone: null`` removes it)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"phone": "+33 6 98 76 54 32"}]})

    first_name: Name | None = Field(default=None, examples=["Jane"])
    last_name: Name | None = Field(default=None, examples=["Doe"])
    phone: Phone | None = None


class UserUpdate(MeUpdate):
    """What an admin changes of an account. ``is_active: false`` deactivates it (no
    more logins; a UserDeactivated event)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"roles": [ADMIN, CUSTOMER]}, {"is_active": False}]}
    )

    email: Email | None = None
    roles: Roles | None = None
    is_active: bool | None = Field(default=None, examples=[False])


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: Annotated[SecretStr, StringConstraints(min_length=1, max_length=128)] = Field(examples=[PASSWORD])
    new_password: Password = Field(examples=["tranquil-ocean-lantern-42"])


class UserOut(UserView):
    """A user as the API shows them (a ``UserView`` with the contact and dates)."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [USER]})

    phone: str | None = None
    created_at: datetime
    updated_at: datetime


# -- logins -----------------------------------------------------------------------------


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    password: Annotated[SecretStr, StringConstraints(min_length=1, max_length=128)] = Field(examples=[PASSWORD])


class Token(BaseModel):
    """An access token of the shop (signed by the user service), as OAuth 2 answers one."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "eyJhbGciOiJFZERTQSIsImtpZCI6InVzZXIifQ.eyJzdWIiOiIwYjlhNGMyZSJ9.c2ln",
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "user_id": USER_ID,
                    "roles": [CUSTOMER],
                }
            ]
        }
    )

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    user_id: uuid.UUID
    roles: list[str]


# -- addresses --------------------------------------------------------------------------


class AddressCreate(BaseModel):
    """A new address. The user's first one becomes their default whatever
    ``is_default`` says; ``is_default: true`` moves the default to this one."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "recipient": "Jane Doe",
                    "line1": "12 rue des Lilas",
                    "city": "Lyon",
                    "postal_code": "69003",
                    "country": "FR",
                    "is_default": True,
                }
            ]
        },
    )

    recipient: Line = Field(examples=["Jane Doe"])
    line1: Line = Field(examples=["12 rue des Lilas"])
    line2: Line | None = Field(default=None, examples=["Bâtiment B"])
    city: City = Field(examples=["Lyon"])
    state: City | None = Field(default=None, description="State, province or region, where addresses have one.")
    postal_code: PostalCode = Field(examples=["69003"])
    country: Country
    is_default: bool = False


class AddressUpdate(BaseModel):
    """Change an address; ``is_default: true`` makes it the default (the previous
    default stops being one), ``false`` leaves the user without a default."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"is_default": True}]})

    recipient: Line | None = None
    line1: Line | None = None
    line2: Line | None = None
    city: City | None = None
    state: City | None = None
    postal_code: PostalCode | None = None
    country: Country | None = None
    is_default: bool | None = None


class AddressOut(AddressView):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [ADDRESS]})

    version: int
    created_at: datetime
    updated_at: datetime


# -- preferences ------------------------------------------------------------------------


class PreferenceSet(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"value": "dark"}]})

    value: Annotated[str, StringConstraints(max_length=1000)] = Field(examples=["dark"])


class PreferenceOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={"examples": [{"key": "ui.theme", "value": "dark", "updated_at": UPDATED_AT}]},
    )

    key: str
    value: str
    updated_at: datetime
