"""Request and response bodies of the auth API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints

from hrms.contracts import examples as ex
from hrms.contracts.auth import LinkPurpose, UserView
from hrms.contracts.permissions import RoleName

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, max_length=255, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    Field(examples=[ex.EMAIL]),
]
Password = Annotated[SecretStr, StringConstraints(min_length=12, max_length=128), Field(examples=[ex.PASSWORD])]


class UserCreate(BaseModel):
    """Sign-up by an admin (or by a saga creating an employee's user)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "email": ex.EMAIL,
                    "first_name": ex.FIRST_NAME,
                    "last_name": ex.LAST_NAME,
                    "password": ex.PASSWORD,
                    "roles": ["employee"],
                }
            ]
        },
    )

    # a caller may choose the id (a saga does, to undo by it)
    id: uuid.UUID | None = Field(default=None, examples=[ex.USER_ID])
    email: Email
    first_name: Name = Field(examples=[ex.FIRST_NAME])
    last_name: Name = Field(examples=[ex.LAST_NAME])
    company_id: uuid.UUID | None = Field(
        default=None, description="Default: the caller's company.", examples=[ex.COMPANY_ID]
    )
    password: Password | None = Field(default=None, description="Without one the user cannot log in yet.")
    roles: Annotated[list[RoleName], Field(max_length=3)] = Field(default=["employee"], examples=[["employee"]])
    pending: bool = Field(default=False, description="Created by a saga: inactive until activated.")


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"last_name": "King"}]})

    email: Email | None = None
    first_name: Name | None = Field(default=None, examples=[ex.FIRST_NAME])
    last_name: Name | None = Field(default=None, examples=[ex.LAST_NAME])


class RolesUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: Annotated[list[RoleName], Field(min_length=1, max_length=3)] = Field(examples=[["employee", "manager"]])


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    password: Annotated[SecretStr, StringConstraints(min_length=1, max_length=128)] = Field(examples=[ex.PASSWORD])
    company_id: uuid.UUID | None = Field(
        default=None,
        description="Only when the address and password open accounts in several companies (a 409 lists them).",
        examples=[None],
    )


#: What a refresh token looks like (``secrets.token_urlsafe(32)``).
REFRESH_TOKEN = "q7ZC1vN4m8Xk2pR9sT5wY0bE3hJ6lO1uA8dF2gK4nM0"


class Refresh(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: Annotated[str, StringConstraints(min_length=20, max_length=200)] = Field(examples=[REFRESH_TOKEN])


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: Annotated[SecretStr, StringConstraints(min_length=1, max_length=128)] = Field(
        examples=[ex.PASSWORD]
    )
    new_password: Password = Field(examples=["tranquil-ocean-lantern-42"])


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    new_password: Password = Field(examples=["tranquil-ocean-lantern-42"])


class LinkCreate(BaseModel):
    """Ask for a user's one-time set-password link (the notification service does, for
    the mail it sends)."""

    model_config = ConfigDict(extra="forbid")

    user_id: uuid.UUID = Field(examples=[ex.USER_ID])
    purpose: LinkPurpose = Field(examples=["invitation"])


class Accepted(BaseModel):
    detail: str = Field(examples=["if the address belongs to an active account, a mail with a link is on its way"])


class ForgotPassword(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email


class SetPassword(BaseModel):
    """A password chosen through a one-time link (the ``token`` after ``#token=``)."""

    model_config = ConfigDict(extra="forbid")

    token: Annotated[str, StringConstraints(min_length=1, max_length=200), Field(examples=["k3Jx…(from the mail)"])]
    new_password: Password


class PreferencesUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"theme": "dark"}]})

    email_notifications: bool | None = Field(default=None, examples=[True])
    theme: Literal["light", "dark", "system"] | None = Field(default=None, examples=["dark"])


class TokenPair(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI3YzllNjY3OSJ9.c2lnbmF0dXJl",
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "refresh_token": REFRESH_TOKEN,
                    "refresh_expires_at": "2025-03-31T09:00:00Z",
                    "session_id": ex.SESSION_ID,
                }
            ]
        }
    )

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    refresh_token: str
    refresh_expires_at: datetime
    session_id: uuid.UUID


class SessionView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": ex.SESSION_ID,
                    "user_id": ex.USER_ID,
                    "created_at": ex.CREATED_AT,
                    "expires_at": "2025-03-31T09:00:00Z",
                    "last_used_at": ex.UPDATED_AT,
                    "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_3) Firefox/123.0",
                    "current": True,
                }
            ]
        }
    )

    id: uuid.UUID
    user_id: uuid.UUID
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None = Field(examples=["2025-03-20T08:15:00Z"])
    user_agent: str | None
    current: bool = False


class PreferencesView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"user_id": ex.USER_ID, "email_notifications": True, "theme": "dark", "updated_at": ex.UPDATED_AT}
            ]
        }
    )

    user_id: uuid.UUID
    email_notifications: bool
    theme: str
    updated_at: datetime


class RoleView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "manager",
                    "description": "Leads a team or department: manages its people and projects.",
                    "permissions": ["employees:read", "employees:write", "projects:read", "projects:write"],
                }
            ]
        }
    )

    name: str
    description: str | None
    permissions: list[str]


class MeView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user": dict(ex.USER),
                    "permissions": ["companies:read", "employees:read", "profiles:write", "projects:read"],
                    "session_id": ex.SESSION_ID,
                }
            ]
        }
    )

    user: UserView
    permissions: list[str]
    session_id: uuid.UUID | None
