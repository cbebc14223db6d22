"""Request bodies of the auth API."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, SecretStr, StringConstraints

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, max_length=255, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID | None = None  # a caller may choose the id (a saga does, to undo by it)
    email: Email
    first_name: Name
    last_name: Name
    company_id: uuid.UUID
    password: Annotated[SecretStr, StringConstraints(min_length=12, max_length=128)] | None = None
