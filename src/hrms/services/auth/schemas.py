"""Request and response bodies of the auth API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints

from hrms.contracts.auth import LinkPurpose, UserView
from hrms.contracts.permissions import RoleName

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, max_length=255, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    Field(examples=["ada.lovelace@example.com"]),
]
Password = Annotated[SecretStr, StringConstraints(min_length=12, max_length=128)]


class UserCreate(BaseModel):
    """Sign-up by an admin (or by a saga creating an employee's user)."""

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID | None = None  # a caller may choose the id (a saga does, to undo by it)
    email: Email
    first_name: Name
    last_name: Name
    company_id: uuid.UUID | None = Field(default=None, description="Default: the caller's company.")
    password: Password | None = Field(default=None, description="Without one the user cannot log in yet.")
    roles: Annotated[list[RoleName], Field(max_length=3)] = ["employee"]
    pending: bool = Field(default=False, description="Created by a saga: inactive until activated.")


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email | None = None
    first_name: Name | None = None
    last_name: Name | None = None


class RolesUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: Annotated[list[RoleName], Field(min_length=1, max_length=3)]


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    password: Annotated[SecretStr, StringConstraints(min_length=1, max_length=128)]


class Refresh(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: Annotated[str, StringConstraints(min_length=20, max_length=200)]


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: Annotated[SecretStr, StringConstraints(min_length=1, max_length=128)]
    new_password: Password


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    new_password: Password


class LinkCreate(BaseModel):
    """Ask for a user's one-time set-password link (the notification service does, for
    the mail it sends)."""

    model_config = ConfigDict(extra="forbid")

    user_id: uuid.UUID
    purpose: LinkPurpose


class Accepted(BaseModel):
    detail: str


class ForgotPassword(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email


class SetPassword(BaseModel):
    """A password chosen through a one-time link (the ``token`` after ``#token=``)."""

    model_config = ConfigDict(extra="forbid")

    token: Annotated[str, StringConstraints(min_length=1, max_length=200), Field(examples=["k3Jx…(from the mail)"])]
    new_password: Password


class PreferencesUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email_notifications: bool | None = None
    theme: Literal["light", "dark", "system"] | None = None


class TokenPair(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    refresh_token: str
    refresh_expires_at: datetime
    session_id: uuid.UUID


class SessionView(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    user_agent: str | None
    current: bool = False


class PreferencesView(BaseModel):
    user_id: uuid.UUID
    email_notifications: bool
    theme: str
    updated_at: datetime


class RoleView(BaseModel):
    name: str
    description: str | None
    permissions: list[str]


class MeView(BaseModel):
    user: UserView
    permissions: list[str]
    session_id: uuid.UUID | None
